// Package overlay stacks the read-only NFS root and the writable layer into
// one tree, and moves the layers under it, as the seed's rootaufs hook did:
//
//	/ro   the shared tree (NFS, read-only)
//	/rw   the node's writable layer (tmpfs or an iSCSI LUN)
//	/aufs the union, which becomes /
//
// After Stack, /ro and /rw are moved to /aufs/ro and /aufs/rw so the booted
// system still sees both layers.
package overlay

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Kind is the union filesystem used.
type Kind string

const (
	Overlay Kind = "overlay"
	Aufs    Kind = "aufs"
)

// Mounter is the syscall seam: mount(2) and mkdir -p.
type Mounter interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
	MkdirAll(path string) error
}

// msMove is MS_MOVE; kept here so the package builds everywhere.
const msMove = 0x2000

// Layers names the three mount points.
type Layers struct {
	RO, RW, Union string
}

// Default is the seed's layout.
var Default = Layers{RO: "/ro", RW: "/rw", Union: "/aufs"}

// Choose picks the union filesystem from the contents of /proc/filesystems:
// overlay when the kernel has it, aufs when it has aufs but no overlay.
func Choose(procFilesystems string) (Kind, error) {
	has := map[string]bool{}
	for _, line := range strings.Split(procFilesystems, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			has[f[len(f)-1]] = true
		}
	}
	switch {
	case has["overlay"]:
		return Overlay, nil
	case has["aufs"]:
		return Aufs, nil
	}
	return "", errors.New("the kernel has neither overlay nor aufs in /proc/filesystems: pack the overlay module (sidus-mkinitramfs -m overlay)")
}

// SafeOverlayOptions are added to every overlayfs mount.
//
// The lower layer is an NFS export that the admin upgrades (apt-get in the
// chroot) while nodes run. overlayfs tolerates lower changes only as long as
// it keeps no persistent references into the lower layer, so we turn off
// every feature that stores lower file handles or redirects:
//   - index=off, nfs_export=off: no lower file handles in the upper index;
//   - redirect_dir=off: a renamed lower directory is copied up, not
//     recorded as a redirect to a lower path that may change;
//   - metacopy=off: a chmod copies the whole file up, so the node never
//     reads data from a lower file that was replaced after the copy-up;
//   - xino=off: no inode number composition across the NFS boundary.
//
// The cost is more copy-up on a tmpfs upper, which is RAM the node has.
var SafeOverlayOptions = []string{"redirect_dir=off", "index=off", "metacopy=off", "xino=off", "nfs_export=off"}

// Options returns the fstype and mount data that stack l.
// safe selects SafeOverlayOptions (see its comment).
func Options(kind Kind, l Layers, safe bool) (fstype, data string) {
	upper, work := filepath.Join(l.RW, "upper"), filepath.Join(l.RW, "work")
	switch kind {
	case Aufs:
		return "aufs", fmt.Sprintf("br:%s=rw:%s=rr", upper, l.RO)
	default:
		opts := []string{"lowerdir=" + l.RO, "upperdir=" + upper, "workdir=" + work}
		if safe {
			opts = append(opts, SafeOverlayOptions...)
		}
		return "overlay", strings.Join(opts, ",")
	}
}

// Stack creates upper and work directories on the writable layer (already
// mounted at l.RW), mounts the union at l.Union, and moves l.RO and l.RW to
// l.Union/ro and l.Union/rw. It returns the mount data used.
func Stack(m Mounter, kind Kind, l Layers) (string, error) {
	for _, d := range []string{filepath.Join(l.RW, "upper"), filepath.Join(l.RW, "work"), l.Union} {
		if err := m.MkdirAll(d); err != nil {
			return "", fmt.Errorf("mkdir %s: %w", d, err)
		}
	}
	fstype, data := Options(kind, l, true)
	if err := m.Mount(fstype, l.Union, fstype, 0, data); err != nil {
		if kind != Overlay {
			return data, fmt.Errorf("mount %s at %s (%s): %w; check the kernel's aufs support", fstype, l.Union, data, err)
		}
		// An older kernel may not know one of the safety options: retry
		// with the plain three, and say so.
		_, plain := Options(kind, l, false)
		if err2 := m.Mount(fstype, l.Union, fstype, 0, plain); err2 != nil {
			return data, fmt.Errorf("mount overlay at %s (%s): %w; is the overlay module loaded and is %s a directory on a filesystem with xattr support?", l.Union, data, err, l.RW)
		}
		data = plain
	}
	if err := MoveLayers(m, l); err != nil {
		return data, err
	}
	return data, nil
}

// MoveLayers moves the ro and rw mounts under the union, as rootaufs does,
// so the booted system sees them at /ro and /rw.
func MoveLayers(m Mounter, l Layers) error {
	for _, src := range []string{l.RO, l.RW} {
		dst := filepath.Join(l.Union, filepath.Base(src))
		if err := m.MkdirAll(dst); err != nil {
			return fmt.Errorf("mkdir %s: %w", dst, err)
		}
		if err := m.Mount(src, dst, "", msMove, ""); err != nil {
			return fmt.Errorf("move %s to %s: %w", src, dst, err)
		}
	}
	return nil
}

// msBind is MS_BIND.
const msBind = 0x1000

// Share mounts each of dirs (top-level names) straight from the tree over
// the union, after Stack: a bind of l.Union/ro/DIR (the NFS root, moved
// there) on l.Union/DIR. The union keeps no dentry of its own below
// them, so what the admin replaces in the tree there (dpkg renames a new
// file over the old one) is looked up afresh by NFS, also while a process
// still runs the old file; they are read-only for the node. isDir reports
// whether a name is a directory in the tree, not a symlink (a merged /usr
// makes bin a symlink to usr/bin): the others are skipped. It returns the
// directories shared.
func Share(m Mounter, l Layers, dirs []string, isDir func(name string) bool) ([]string, error) {
	ro := filepath.Join(l.Union, filepath.Base(l.RO))
	var shared []string
	for _, d := range dirs {
		if !isDir(d) {
			continue
		}
		src, dst := filepath.Join(ro, d), filepath.Join(l.Union, d)
		if err := m.Mount(src, dst, "", msBind, ""); err != nil {
			return shared, fmt.Errorf("bind %s on %s (sidus.shared=%s): %w; check that %s is a directory of the tree, or boot with sidus.shared=none",
				src, dst, strings.Join(dirs, ","), err, d)
		}
		shared = append(shared, d)
	}
	return shared, nil
}
