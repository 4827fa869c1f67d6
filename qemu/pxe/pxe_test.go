package pxe

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/qemu"
)

func TestConfig(t *testing.T) {
	want := "SERIAL 0 115200\nDEFAULT tmpfs\nPROMPT 0\nTIMEOUT 0\n\nLABEL tmpfs\nKERNEL vmlinuz-Sidus\nAPPEND console=ttyS0 a=b\n"
	if got := Config("tmpfs", "console=ttyS0 a=b"); got != want {
		t.Errorf("Config =\n%q\nwant\n%q", got, want)
	}
}

func TestMACFileAndSerialConsole(t *testing.T) {
	if got := MACFile("52:54:00:77:00:1A"); got != "01-52-54-00-77-00-1a" {
		t.Errorf("MACFile = %q", got)
	}
	if got := SerialConsole(cmdline.SeedISCSI); !strings.HasPrefix(got, "console=ttyS0 root=/dev/nfs") || strings.HasSuffix(got, " ") {
		t.Errorf("SerialConsole(cmdline.SeedISCSI) = %q", got)
	}
}

// TestDir writes a folder from stand-in files (pxelinux.0 and ldlinux.c32
// when installed).
func TestDir(t *testing.T) {
	for _, f := range []string{PXELinux, LDLinux} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s: %v", f, err)
		}
	}
	src, dir := t.TempDir(), t.TempDir()
	k, i := filepath.Join(src, "k"), filepath.Join(src, "i")
	os.WriteFile(k, []byte("kernel"), 0o644)
	os.WriteFile(i, []byte("initrd"), 0o644)
	if err := Dir(dir, k, i, Config("a", "x"), map[string]string{"52:54:00:77:00:10": Config("b", "y")}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"pxelinux.0", "ldlinux.c32", KernelFile, InitrdFile, "pxelinux.cfg/default", "pxelinux.cfg/01-52-54-00-77-00-10"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestHostFilesInPackageList: the host files used here are in the
// harness's package list, which `make deps` installs.
func TestHostFilesInPackageList(t *testing.T) {
	var uses []string
	for _, n := range qemu.Needs() {
		uses = append(uses, n.Uses...)
	}
	for _, f := range []string{PXELinux, LDLinux} {
		if !slices.Contains(uses, f) {
			t.Errorf("%s is not in qemu/apt-packages.txt", f)
		}
	}
}

// TestSeedLabels: the lines the harness boots are the seed's.
func TestSeedLabels(t *testing.T) {
	b, err := os.ReadFile("/work/shared/seed/sidus-2013.txt")
	if err != nil {
		t.Skip("seed text not on this machine")
	}
	for _, l := range []string{cmdline.SeedTmpfs, cmdline.SeedISCSI} {
		if !strings.Contains(string(b), "APPEND "+l+"\n") {
			t.Errorf("seed has no line APPEND %q", l)
		}
	}
}
