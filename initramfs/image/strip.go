package image

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"
)

// Unstripped returns the total file size of the sections of the ELF file
// path that a stripped Go binary (go build -ldflags='-s -w') does not
// have: .symtab, .strtab and every .debug_* or .zdebug_* section. It is 0
// for a stripped binary, and an error naming path if it is not ELF.
func Unstripped(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := unstripped(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// unstripped is Unstripped on an ELF file read from r.
func unstripped(r io.ReaderAt) (int64, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return 0, fmt.Errorf("not an ELF file: %w", err)
	}
	defer f.Close()
	var n int64
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOBITS || !strippable(s.Name) {
			continue
		}
		n += int64(s.FileSize) // on disk: compressed debug sections count as written
	}
	return n, nil
}

// strippable reports whether a section named name is one that -s -w (or
// strip) removes.
func strippable(name string) bool {
	return name == ".symtab" || name == ".strtab" ||
		strings.HasPrefix(name, ".debug_") || strings.HasPrefix(name, ".zdebug_")
}
