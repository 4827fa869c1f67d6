package qemu

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RootInitSource is the source of the test root's /sbin/init, relative to
// the module root.
const RootInitSource = "testdata/root/init.sh"

// ReportList is where, inside the test root, /sbin/init looks for the list
// of files to report as "SIDUS-ROOT: file <path> <content>" lines.
const ReportList = "etc/sidus-test/report"

// TestRoot builds in dir a small root filesystem to export over NFS:
// busybox-static at /bin/busybox with a symlink per applet, the usual empty
// mount points (/proc /sys /dev /run /tmp /ro /rw ...) and /sbin/init =
// testdata/root/init.sh, which prints "SIDUS-ROOT: ..." lines and powers
// off.
func TestRoot(dir string) error {
	for _, d := range []string{"bin", "sbin", "etc/sidus-test", "proc", "sys", "dev", "run", "tmp", "ro", "rw", "root", "var/tmp", "mnt", "usr/bin", "usr/sbin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	bb := filepath.Join(dir, "bin", "busybox")
	if err := copyFile(BusyboxPath, bb, 0o755); err != nil {
		return fmt.Errorf("test root: %w (is busybox-static installed?)", err)
	}
	applets, err := busyboxApplets()
	if err != nil {
		return err
	}
	for _, a := range applets {
		if a == "init" || a == "linuxrc" || a == "busybox" {
			continue
		}
		l := filepath.Join(dir, "bin", a)
		os.Remove(l)
		if err := os.Symlink("busybox", l); err != nil {
			return err
		}
	}
	mod, err := ModuleRoot()
	if err != nil {
		return err
	}
	if err := copyFile(filepath.Join(mod, RootInitSource), filepath.Join(dir, "sbin", "init"), 0o755); err != nil {
		return err
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":    "root:x:0:\n",
		"etc/hostname": "sidus-test\n",
		"etc/motd":     "SIDUS-Go test root\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// TestRootReport makes the test root's /sbin/init report the content of
// each path (as seen by the booted node) in a "SIDUS-ROOT: file" line.
func TestRootReport(dir string, paths ...string) error {
	p := filepath.Join(dir, ReportList)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(strings.Join(paths, "\n")+"\n"), 0o644)
}

func busyboxApplets() ([]string, error) {
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", BusyboxPath, err)
	}
	return strings.Fields(string(out)), nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}
