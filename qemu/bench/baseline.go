package bench

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/sidus-go/sidus/qemu/internal/osutil"
	"github.com/sidus-go/sidus/qemu/kernel"
)

// The baselines' files, in files/: the rootaufs hook and initramfs.conf
// of initramfs-tools, and two hooks (templates that include vmhwm.sh)
// that print PID 1's peak RSS right before the switch to the root, in a
// line Parse reads (as sidus-init's "sidus: VmHWM=N kB").
//
//go:embed files
var files embed.FS

var hooks = template.Must(template.ParseFS(files, "files/vmhwm.sh", "files/*.tmpl"))

func mustFile(name string) string {
	b, err := files.ReadFile("files/" + name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func mustHook(name string) string {
	var b strings.Builder
	if err := hooks.ExecuteTemplate(&b, name, nil); err != nil {
		panic(err)
	}
	return b.String()
}

// RootaufsHook is the initramfs-tools nfs-bottom script of the baseline
// (files/rootaufs): the seed's rootaufs steps with overlayfs in place of
// aufs, done when the kernel command line has aufs=tmpfs. It runs right
// after the NFS mount, before init-bottom (where udev's script moves /dev
// into ${rootmnt}: run after it, the move of ${rootmnt} would take that
// /dev along to /ro).
var RootaufsHook = mustFile("rootaufs")

// VmHWMHook is the baseline's last init-bottom script, after udev's
// (files/init-bottom-vmhwm.tmpl): it prints PID 1's peak RSS just before
// run-init.
var VmHWMHook = mustHook("init-bottom-vmhwm.tmpl")

// dracutVmHWMHook is dracut's pre-pivot hook doing the same
// (files/pre-pivot-vmhwm.tmpl).
var dracutVmHWMHook = mustHook("pre-pivot-vmhwm.tmpl")

// InitramfsConf is the baseline's initramfs.conf (files/initramfs.conf):
// Debian's defaults for an NFS-root node (BOOT=nfs, MODULES=netboot)
// compressed with zstd.
var InitramfsConf = mustFile("initramfs.conf")

// withKernelTree runs argv in a private mount namespace (unshare -m) where
// the kernel's module tree is bind-mounted at /lib/modules/VERSION and its
// /boot (config-VERSION, which mkinitramfs reads) at /boot: both tools
// read those fixed paths. Nothing is mounted on the host; an empty
// /lib/modules/VERSION mount point is created if missing and removed after.
func withKernelTree(ctx context.Context, k *kernel.Info, logf func(string, ...any), argv ...string) ([]byte, error) {
	var made []string
	for _, d := range []string{"/lib/modules", "/lib/modules/" + k.Version, "/boot"} {
		if _, err := os.Lstat(d); errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(d, 0o755); err != nil {
				return nil, err
			}
			made = append(made, d)
		}
	}
	defer func() {
		for i := len(made) - 1; i >= 0; i-- {
			if err := os.Remove(made[i]); err != nil {
				logf("bench: cleanup: %v", err)
			}
		}
	}()
	script := `set -e; mount --bind "$1" "/lib/modules/$3"; mount --bind "$2" /boot; shift 3; exec "$@"`
	full := append([]string{"-m", "--propagation", "private", "sh", "-c", script, "-",
		k.ModulesDir, filepath.Join(k.BaseDir, "boot"), k.Version}, argv...)
	cmd := exec.CommandContext(ctx, "unshare", full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, osutil.TailString(out.String(), 30))
	}
	return out.Bytes(), nil
}

// BuildInitramfsTools builds Debian's initrd with mkinitramfs and a
// private configuration folder in dir/initramfs-tools (InitramfsConf,
// "overlay" in its modules file, RootaufsHook, VmHWMHook), for kernel k,
// into out.
func BuildInitramfsTools(ctx context.Context, k *kernel.Info, dir, out string, logf func(string, ...any)) error {
	conf := filepath.Join(dir, "initramfs-tools")
	for _, d := range []string{"scripts/nfs-bottom", "scripts/init-bottom", "hooks", "conf.d"} {
		if err := os.MkdirAll(filepath.Join(conf, d), 0o755); err != nil {
			return err
		}
	}
	files := []struct {
		name, content string
		mode          os.FileMode
	}{
		{"initramfs.conf", InitramfsConf, 0o644},
		// rootaufs's classic install step: add the union fs to modules.
		{"modules", "overlay\n", 0o644},
		{"scripts/nfs-bottom/rootaufs", RootaufsHook, 0o755},
		{"scripts/init-bottom/zz-vmhwm", VmHWMHook, 0o755},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(conf, f.name), []byte(f.content), f.mode); err != nil {
			return err
		}
	}
	_, err := withKernelTree(ctx, k, logf, "mkinitramfs", "-d", conf, "-o", out, k.Version)
	return err
}

// DracutModules are the dracut modules of the baseline (with their
// dependencies): what an NFS root with a tmpfs overlay needs.
// overlay-root is Debian's module for exactly that (rootovl on the
// command line: tmpfs upper, NFS lower, in a pre-pivot hook).
var DracutModules = []string{"base", "network-legacy", "nfs", "overlay-root"}

// DracutDrivers are added to what DracutModules bring: the virtio PCI bus
// driver, without which virtio_net (from kernel-network-modules) finds no
// device. initramfs-tools' MODULES=netboot and our image have it; dracut
// leaves it to its qemu module, which also packs disk drivers.
var DracutDrivers = []string{"virtio_pci"}

// BuildDracut builds a generic (--no-hostonly) dracut initrd of
// DracutModules with zstd, ignoring the host's dracut.conf, for kernel k,
// into out. A pre-pivot hook prints PID 1's VmHWM.
func BuildDracut(ctx context.Context, k *kernel.Info, dir, out string, logf func(string, ...any)) error {
	confDir := filepath.Join(dir, "dracut.conf.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return err
	}
	hook := filepath.Join(dir, "99-sidus-bench-vmhwm.sh")
	if err := os.WriteFile(hook, []byte(dracutVmHWMHook), 0o755); err != nil {
		return err
	}
	_, err := withKernelTree(ctx, k, logf, "dracut", "--force", "--no-hostonly",
		"--conf", os.DevNull, "--confdir", confDir,
		"--kver", k.Version, "-m", strings.Join(DracutModules, " "), "--zstd",
		"--add-drivers", strings.Join(DracutDrivers, " "),
		"--include", hook, "/lib/dracut/hooks/pre-pivot/99-sidus-bench-vmhwm.sh",
		out)
	return err
}

// countModules lists the image with lsinitrd (dracut-core) and counts the
// .ko files; -1 if it cannot.
func countModules(ctx context.Context, img string) int {
	if _, err := exec.LookPath("lsinitrd"); err != nil {
		return -1
	}
	out, err := exec.CommandContext(ctx, "lsinitrd", img).Output()
	if err != nil {
		return -1
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(l, ".ko") || strings.HasSuffix(l, ".ko.xz") || strings.HasSuffix(l, ".ko.zst") {
			n++
		}
	}
	return n
}
