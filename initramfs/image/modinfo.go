package image

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// modinfo is what the packer needs from a module's .modinfo section.
type modinfo struct {
	depends  []string // depends=a,b
	softPre  []string // softdep=pre: a b post: c
	firmware []string // firmware=dir/file.bin (one per entry)
	aliases  []string // alias=pci:v00008086d000010D3sv*sd*bc*sc*i* (one per entry)
}

// readModinfo reads the .modinfo ELF section of a module file, decompressing
// .ko.xz/.ko.zst/.ko.gz in memory first.
func readModinfo(file string) (*modinfo, error) {
	data, err := readModule(file)
	if err != nil {
		return nil, err
	}
	mi, err := parseModinfoELF(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", file, err)
	}
	return mi, nil
}

// readModule returns the uncompressed ELF bytes of a module file.
func readModule(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("module %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(file, ".gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("module %s: gzip: %w", file, err)
		}
		r = zr
	case strings.HasSuffix(file, ".zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("module %s: zstd: %w", file, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(file, ".xz"):
		zr, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("module %s: xz: %w", file, err)
		}
		r = zr
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", file, err)
	}
	return data, nil
}

// parseModinfoELF reads the .modinfo section of an ELF relocatable object.
func parseModinfoELF(r io.ReaderAt) (*modinfo, error) {
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("not an ELF kernel module: %w", err)
	}
	defer ef.Close()
	s := ef.Section(".modinfo")
	if s == nil {
		return nil, fmt.Errorf("no .modinfo section; is it a kernel module?")
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf(".modinfo: %w", err)
	}
	return parseModinfo(data), nil
}

// parseModinfo parses the NUL-separated key=value strings of .modinfo.
func parseModinfo(data []byte) *modinfo {
	mi := &modinfo{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					mi.depends = append(mi.depends, d)
				}
			}
		case "softdep":
			pre, _ := parseSoftdep(v)
			mi.softPre = append(mi.softPre, pre...)
		case "firmware":
			if v = strings.TrimSpace(v); v != "" {
				mi.firmware = append(mi.firmware, v)
			}
		case "alias":
			if v = strings.TrimSpace(v); v != "" && !strings.ContainsAny(v, "\r\n") {
				mi.aliases = append(mi.aliases, v)
			}
		}
	}
	return mi
}

// parseSoftdep parses "pre: a b post: c" (the part after the module name in
// modules.softdep, or a modinfo softdep= value).
func parseSoftdep(s string) (pre, post []string) {
	var cur *[]string
	for _, w := range strings.Fields(s) {
		switch w {
		case "pre:":
			cur = &pre
		case "post:":
			cur = &post
		default:
			if cur != nil {
				*cur = append(*cur, w)
			}
		}
	}
	return pre, post
}
