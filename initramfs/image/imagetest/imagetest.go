// Package imagetest builds fake kernel module trees and binaries for tests
// of the packer, and checks archives in the style of mkuimage's validators.
package imagetest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/u-root/mkuimage/cpio"
)

// ELF returns a minimal little-endian x86-64 ELF file of type typ. If interp
// is set, it has a PT_INTERP program header naming it. If modinfo is
// non-nil, it has a .modinfo section holding those key=value strings, NUL
// separated, like a kernel module. extra is appended as a .data section.
func ELF(typ elf.Type, interp string, modinfo []string, extra []byte) []byte {
	var secs []Section
	if modinfo != nil {
		var mi []byte
		for _, kv := range modinfo {
			mi = append(mi, kv...)
			mi = append(mi, 0)
		}
		secs = append(secs, Section{".modinfo", elf.SHT_PROGBITS, mi})
	}
	if extra != nil {
		secs = append(secs, Section{".data", elf.SHT_PROGBITS, extra})
	}
	return ELFWith(typ, interp, secs...)
}

// Section is a section of an ELFWith file.
type Section struct {
	Name string
	Type elf.SectionType
	Data []byte
}

// ELFWith is ELF with the given sections (e.g. a .symtab and .debug_info,
// as an unstripped binary has), then .interp if interp is set.
func ELFWith(typ elf.Type, interp string, sections ...Section) []byte {
	secs := slices.Clone(sections)
	var interpData []byte
	if interp != "" {
		interpData = append([]byte(interp), 0)
		secs = append(secs, Section{".interp", elf.SHT_PROGBITS, interpData})
	}
	shstr := []byte{0}
	nameOff := make([]uint32, len(secs)+1)
	for i, s := range secs {
		nameOff[i] = uint32(len(shstr))
		shstr = append(append(shstr, s.Name...), 0)
	}
	nameOff[len(secs)] = uint32(len(shstr))
	shstr = append(append(shstr, ".shstrtab"...), 0)
	secs = append(secs, Section{".shstrtab", elf.SHT_STRTAB, shstr})

	const ehsize, phsize, shsize = 64, 56, 64
	nph := 0
	if interp != "" {
		nph = 1
	}
	off := uint64(ehsize + nph*phsize)
	offs := make([]uint64, len(secs))
	var body bytes.Buffer
	for i, s := range secs {
		offs[i] = off + uint64(body.Len())
		body.Write(s.Data)
	}
	for (off+uint64(body.Len()))%8 != 0 {
		body.WriteByte(0)
	}
	shoff := off + uint64(body.Len())

	var b bytes.Buffer
	h := elf.Header64{
		Type: uint16(typ), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Phoff: ehsize, Shoff: shoff, Ehsize: ehsize, Phentsize: phsize, Phnum: uint16(nph),
		Shentsize: shsize, Shnum: uint16(len(secs) + 1), Shstrndx: uint16(len(secs)),
	}
	if nph == 0 {
		h.Phoff = 0
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	must(binary.Write(&b, binary.LittleEndian, h))
	if nph == 1 {
		i := len(secs) - 2 // .interp is just before .shstrtab
		must(binary.Write(&b, binary.LittleEndian, elf.Prog64{
			Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: offs[i],
			Filesz: uint64(len(interpData)), Memsz: uint64(len(interpData)), Align: 1,
		}))
	}
	b.Write(body.Bytes())
	must(binary.Write(&b, binary.LittleEndian, elf.Section64{})) // SHN_UNDEF
	for i, s := range secs {
		must(binary.Write(&b, binary.LittleEndian, elf.Section64{
			Name: nameOff[i], Type: uint32(s.Type), Off: offs[i], Size: uint64(len(s.Data)), Addralign: 1,
		}))
	}
	return b.Bytes()
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// Mod describes a fake module in a Kernel.
type Mod struct {
	// Path relative to lib/modules/KVER, e.g. "kernel/net/virtio_net.ko".
	Path string
	// Modinfo are the .modinfo strings ("depends=a,b", "firmware=x.bin").
	Modinfo []string
}

// Kernel writes a fake BASEDIR/lib/modules/kver with the given modules and
// the named index files (modules.dep, modules.builtin, ...: name -> text),
// and firmware files under BASEDIR/lib/firmware (name -> contents). It
// returns BASEDIR.
func Kernel(t testing.TB, kver string, mods []Mod, index map[string]string, firmware map[string]string) string {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "lib", "modules", kver)
	for _, m := range mods {
		info := append([]string{"license=GPL", "vermagic=" + kver + " SMP mod_unload"}, m.Modinfo...)
		write(t, filepath.Join(dir, m.Path), ELF(elf.ET_REL, "", info, nil), 0o644)
	}
	for name, text := range index {
		write(t, filepath.Join(dir, name), []byte(text), 0o644)
	}
	for name, data := range firmware {
		write(t, filepath.Join(base, "lib", "firmware", name), []byte(data), 0o644)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return base
}

// WriteFile writes data to a new file under t.TempDir() and returns its path.
func WriteFile(t testing.TB, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	write(t, p, data, mode)
	return p
}

func write(t testing.TB, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}

// Records decodes a (decompressed) newc archive into its records, in order.
func Records(t testing.TB, r io.ReaderAt) []cpio.Record {
	t.Helper()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(r))
	if err != nil {
		t.Fatalf("reading cpio: %v", err)
	}
	return recs
}

// HasMode checks a record's full mode (type and permissions) and owner 0:0.
type HasMode struct {
	Path string
	Mode uint64
}

// Validate implements mkuimage's ArchiveValidator.
func (h HasMode) Validate(a *cpio.Archive) error {
	r, ok := a.Get(h.Path)
	if !ok {
		return fmt.Errorf("archive does not contain %s, but should", h.Path)
	}
	if r.Mode != h.Mode || r.UID != 0 || r.GID != 0 {
		return fmt.Errorf("%s: mode %#o uid %d gid %d, want mode %#o 0:0", h.Path, r.Mode, r.UID, r.GID, h.Mode)
	}
	return nil
}

// IsCharDev checks a character device record's permissions and numbers.
type IsCharDev struct {
	Path         string
	Perm         uint64
	Major, Minor uint64
}

// Validate implements mkuimage's ArchiveValidator.
func (c IsCharDev) Validate(a *cpio.Archive) error {
	r, ok := a.Get(c.Path)
	if !ok {
		return fmt.Errorf("archive does not contain %s, but should", c.Path)
	}
	if r.Mode != cpio.S_IFCHR|c.Perm || r.Rmajor != c.Major || r.Rminor != c.Minor {
		return fmt.Errorf("%s: mode %#o dev %d:%d, want char device %#o %d:%d", c.Path, r.Mode, r.Rmajor, r.Rminor, c.Perm, c.Major, c.Minor)
	}
	return nil
}

// IsSymlink checks a symlink record's target.
type IsSymlink struct {
	Path, Target string
}

// Validate implements mkuimage's ArchiveValidator.
func (s IsSymlink) Validate(a *cpio.Archive) error {
	r, ok := a.Get(s.Path)
	if !ok {
		return fmt.Errorf("archive does not contain %s, but should", s.Path)
	}
	b, err := io.ReadAll(io.NewSectionReader(r, 0, int64(r.FileSize)))
	if err != nil {
		return err
	}
	if r.Mode&cpio.S_IFMT != cpio.S_IFLNK || string(b) != s.Target {
		return fmt.Errorf("%s: mode %#o -> %q, want symlink -> %q", s.Path, r.Mode, b, s.Target)
	}
	return nil
}

// Lines splits text into its non-empty lines.
func Lines(s string) []string {
	return strings.Fields(s)
}
