package roots

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/qemu"
)

// TestBusybox builds the busybox root and checks its files.
func TestBusybox(t *testing.T) {
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skipf("%s: %v (apt package busybox-static)", BusyboxPath, err)
	}
	dir := t.TempDir()
	if err := Busybox(dir); err != nil {
		t.Fatal(err)
	}
	if err := Report(dir, "/etc/hostname", "/x"); err != nil {
		t.Fatal(err)
	}
	read := func(p string) string { b, _ := os.ReadFile(filepath.Join(dir, p)); return string(b) }
	if read("sbin/init") != BusyboxInit || !strings.HasPrefix(BusyboxInit, "#!/bin/sh\n") {
		t.Errorf("sbin/init is not BusyboxInit")
	}
	for p, mode := range map[string]os.FileMode{"sbin/init": 0o755, "bin/busybox": 0o755, "etc/passwd": 0o644, "tmp": 0o777} {
		if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", p, fi, err, mode)
		}
	}
	if read("etc/hostname") != "sidus-test\n" || read("etc/motd") != "SIDUS-Go test root\n" ||
		read("etc/passwd") != "root:x:0:0:root:/root:/bin/sh\n" || read("etc/group") != "root:x:0:\n" {
		t.Errorf("etc files: %q %q %q %q", read("etc/hostname"), read("etc/motd"), read("etc/passwd"), read("etc/group"))
	}
	if read(ReportList) != "/etc/hostname\n/x\n" {
		t.Errorf("report list: %q", read(ReportList))
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}
}

// TestBusyboxInitSyntax checks the busybox root's /sbin/init with sh -n.
func TestBusyboxInitSyntax(t *testing.T) { shSyntax(t, BusyboxInit) }

// shSyntax checks a shell script with sh -n.
func shSyntax(t *testing.T, script string) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command(sh, "-n")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh -n: %v\n%s", err, out)
	}
}

// TestBusyboxInPackageList: BusyboxPath is in the harness's package list,
// which `make deps` installs.
func TestBusyboxInPackageList(t *testing.T) {
	for _, n := range qemu.Needs() {
		if slices.Contains(n.Uses, BusyboxPath) {
			return
		}
	}
	t.Errorf("%s is not in qemu/apt-packages.txt", BusyboxPath)
}

func TestWalkTree(t *testing.T) {
	dir := t.TempDir()
	if err := WalkTree(dir, 3, 4); err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
			if fi, _ := d.Info(); fi.Size() != 64 {
				t.Errorf("%s: %d bytes, want 64", p, fi.Size())
			}
		}
		return err
	})
	if n != 12 {
		t.Errorf("%d files, want 12", n)
	}
}
