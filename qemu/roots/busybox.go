// Package roots builds the shared root filesystems the lab exports over
// NFS: Busybox, a tiny busybox root whose /sbin/init reports what the node
// sees as "SIDUS-ROOT: ..." console lines, and Debian, a debootstrapped
// Debian root with systemd whose sidus-report.service prints
// "SIDUS-DEB: ..." lines. The files they add are embedded from the folders
// busybox/ and debian/, laid out as in the root.
package roots

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/sidus-go/sidus/qemu/internal/osutil"
)

// BusyboxPath is the static busybox (Debian package busybox-static) that
// Busybox and the smoke initramfs of the tests use.
const BusyboxPath = "/bin/busybox"

// ReportList is where, inside the busybox root, /sbin/init looks for the
// list of files to report as "SIDUS-ROOT: file <path> <content>" lines.
const ReportList = "etc/sidus-test/report"

// The files the roots add, by root-relative path.
//
//go:embed busybox debian
var files embed.FS

// BusyboxInit is the busybox root's /sbin/init (busybox/sbin/init): its
// comment lists the "SIDUS-ROOT: ..." lines it prints.
var BusyboxInit = mustRead("busybox/sbin/init")

// Busybox builds in dir a small root filesystem to export over NFS:
// busybox-static at /bin/busybox with a symlink per applet, the usual empty
// mount points (/proc /sys /dev /run /tmp /ro /rw ...), and the files of
// busybox/: /sbin/init (BusyboxInit), which prints "SIDUS-ROOT: ..." lines
// and powers off, passwd, group, hostname and motd.
func Busybox(dir string) error {
	for _, d := range []string{"bin", "sbin", "etc/sidus-test", "proc", "sys", "dev", "run", "tmp", "ro", "rw", "root", "var/tmp", "mnt", "usr/bin", "usr/sbin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	bb := filepath.Join(dir, "bin", "busybox")
	if err := osutil.CopyFile(BusyboxPath, bb, 0o755); err != nil {
		return fmt.Errorf("busybox root: %w (is busybox-static installed?)", err)
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
	return install(dir, "busybox", map[string]os.FileMode{"sbin/init": 0o755})
}

// Report makes the busybox root's /sbin/init report the content of each
// path (as seen by the booted node) in a "SIDUS-ROOT: file" line.
func Report(dir string, paths ...string) error {
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

// install writes every embedded file under tree into dir at the same
// relative path, replacing what is there, with its mode from modes
// (0644 if absent).
func install(dir, tree string, modes map[string]os.FileMode) error {
	return fs.WalkDir(files, tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, tree+"/")
		mode, ok := modes[rel]
		if !ok {
			mode = 0o644
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		os.Remove(dst)
		if err := os.WriteFile(dst, data, mode); err != nil {
			return err
		}
		return os.Chmod(dst, mode)
	})
}

func mustRead(p string) string {
	b, err := files.ReadFile(path.Clean(p))
	if err != nil {
		panic(err)
	}
	return string(b)
}

// WalkTree writes in dir a tree for a metadata walk (sidus.test.walk=):
// dirs directories d000, d001, ... of files small files each (64 bytes),
// the shape of /usr/share/doc, the same on every call.
func WalkTree(dir string, dirs, files int) error {
	line := []byte(strings.Repeat("sidus", 12) + "\n\n\n\n")
	for d := range dirs {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for f := range files {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%02d", f)), line, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
