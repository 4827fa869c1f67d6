package image

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/initramfs/image/imagetest"
)

// TestUnstrippedGoBuild builds a tiny program plain and stripped.
func TestUnstrippedGoBuild(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go in PATH:", err)
	}
	dir := t.TempDir()
	src := "package main\n\nfunc main() { println(\"hi\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	goBuild := func(name string, flags ...string) string {
		t.Helper()
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", out, ".")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %v: %v\n%s", flags, err, b)
		}
		return out
	}
	plain := goBuild("plain")
	stripped := goBuild("stripped", "-trimpath", "-ldflags=-s -w")

	n, err := Unstripped(plain)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(plain)
	if n <= 0 || n >= st.Size() {
		t.Errorf("Unstripped(plain) = %d, want > 0 and < its size %d", n, st.Size())
	}
	if n, err := Unstripped(stripped); err != nil || n != 0 {
		t.Errorf("Unstripped(stripped) = %d, %v; want 0", n, err)
	}
}

func TestUnstrippedSections(t *testing.T) {
	bin := imagetest.WriteFile(t, "bin", imagetest.ELFWith(elf.ET_EXEC, "",
		imagetest.Section{Name: ".text", Type: elf.SHT_PROGBITS, Data: make([]byte, 1000)},
		imagetest.Section{Name: ".symtab", Type: elf.SHT_SYMTAB, Data: make([]byte, 100)},
		imagetest.Section{Name: ".strtab", Type: elf.SHT_STRTAB, Data: make([]byte, 20)},
		imagetest.Section{Name: ".debug_info", Type: elf.SHT_PROGBITS, Data: make([]byte, 3)},
		imagetest.Section{Name: ".zdebug_line", Type: elf.SHT_PROGBITS, Data: make([]byte, 4)},
		imagetest.Section{Name: ".bss", Type: elf.SHT_NOBITS},
	), 0o755)
	if n, err := Unstripped(bin); err != nil || n != 127 {
		t.Errorf("Unstripped = %d, %v; want 127", n, err)
	}
}

func TestUnstrippedErrors(t *testing.T) {
	text := imagetest.WriteFile(t, "script.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)
	_, err := Unstripped(text)
	if err == nil || !strings.Contains(err.Error(), text) || !strings.Contains(err.Error(), "not an ELF") {
		t.Errorf("non-ELF file: err %v, want one naming %s and saying it is not ELF", err, text)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := Unstripped(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err %v, want one naming it", err)
	}
}

func TestSummaryBinaries(t *testing.T) {
	f := newFixture(t)
	o := f.opts(None)
	_, s := build(t, o)
	st, _ := os.Stat(f.init)
	if s.Init != (Binary{Path: f.init, Size: st.Size()}) || s.Agent != (Binary{}) {
		t.Errorf("Init %+v Agent %+v, want the stripped init only", s.Init, s.Agent)
	}
	o.Agent = imagetest.WriteFile(t, "sidus-agent", imagetest.ELFWith(elf.ET_EXEC, "",
		imagetest.Section{Name: ".symtab", Type: elf.SHT_SYMTAB, Data: make([]byte, 10)},
		imagetest.Section{Name: ".debug_abbrev", Type: elf.SHT_PROGBITS, Data: make([]byte, 5)},
	), 0o755)
	_, s = build(t, o)
	if s.Agent.Path != o.Agent || s.Agent.Unstripped != 15 {
		t.Errorf("Agent %+v, want %s with 15 bytes unstripped", s.Agent, o.Agent)
	}
}
