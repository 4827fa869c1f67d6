package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sidus-go/sidus/qemu"
)

// The baselines print PID 1's peak RSS right before the switch to the
// root, in a line Parse reads (as sidus-init's "sidus: VmHWM=N kB").
const vmhwmShell = `while read -r k v u; do [ "$k" = VmHWM: ] && echo "sidus-bench: init pid 1 VmHWM=$v kB"; done </proc/1/status
`

// RootaufsHook is the initramfs-tools nfs-bottom script of the baseline:
// the seed's rootaufs steps with overlayfs in place of aufs, done when the
// kernel command line has aufs=tmpfs. It runs right after the NFS mount,
// before init-bottom (where udev's script moves /dev into ${rootmnt}: run
// after it, the move of ${rootmnt} would take that /dev along to /ro).
const RootaufsHook = `#!/bin/sh
# rootaufs (overlayfs): a tmpfs over the read-only NFS root.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /scripts/functions
case " $(cat /proc/cmdline) " in
*" aufs=tmpfs "*)
	modprobe -q overlay
	mkdir -p /ro /rw /aufs
	mount -n -o move "${rootmnt}" /ro || panic "rootaufs: cannot move ${rootmnt} to /ro"
	mount -n -t tmpfs -o mode=0755 tmpfs /rw
	mkdir -p /rw/upper /rw/work
	mount -n -t overlay -o lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work overlay /aufs ||
		panic "rootaufs: overlay mount failed"
	mkdir -p /aufs/ro /aufs/rw
	mount -n -o move /ro /aufs/ro
	mount -n -o move /rw /aufs/rw
	mount -n -o move /aufs "${rootmnt}"
	;;
esac
exit 0
`

// VmHWMHook is the baseline's last init-bottom script (after udev's): it
// prints PID 1's peak RSS just before run-init.
const VmHWMHook = `#!/bin/sh
PREREQ="udev"
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
` + vmhwmShell + `exit 0
`

// InitramfsConf is the baseline's initramfs.conf: Debian's defaults for an
// NFS-root node (BOOT=nfs, MODULES=netboot) compressed with zstd.
const InitramfsConf = `MODULES=netboot
BUSYBOX=auto
COMPRESS=zstd
BOOT=nfs
DEVICE=
NFSROOT=auto
RUNSIZE=10%
FSTYPE=auto
`

// withKernelTree runs argv in a private mount namespace (unshare -m) where
// the kernel's module tree is bind-mounted at /lib/modules/VERSION and its
// /boot (config-VERSION, which mkinitramfs reads) at /boot: both tools
// read those fixed paths. Nothing is mounted on the host; an empty
// /lib/modules/VERSION mount point is created if missing and removed after.
func withKernelTree(ctx context.Context, k *qemu.KernelInfo, logf func(string, ...any), argv ...string) ([]byte, error) {
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
		return out.Bytes(), fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, tailString(out.String(), 30))
	}
	return out.Bytes(), nil
}

// BuildInitramfsTools builds Debian's initrd with mkinitramfs and a
// private configuration folder in dir/initramfs-tools (InitramfsConf,
// "overlay" in its modules file, RootaufsHook, VmHWMHook), for kernel k,
// into out.
func BuildInitramfsTools(ctx context.Context, k *qemu.KernelInfo, dir, out string, logf func(string, ...any)) error {
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
func BuildDracut(ctx context.Context, k *qemu.KernelInfo, dir, out string, logf func(string, ...any)) error {
	confDir := filepath.Join(dir, "dracut.conf.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return err
	}
	hook := filepath.Join(dir, "99-sidus-bench-vmhwm.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n"+vmhwmShell), 0o755); err != nil {
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

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
