package initramfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sidus-go/sidus/blockdev/rbd"
	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/initramfs/kmod"
	"github.com/sidus-go/sidus/initramfs/layout"
	"github.com/sidus-go/sidus/overlay"
)

// ImageStage holds the seams of the shared roots that are not the NFS
// export itself (root=rbd:, root=cephfs:, sidus.image=): function values
// like ISCSIStage. DefaultImage (lower_linux.go) returns the real ones
// and tests give fakes.
type ImageStage struct {
	// MapRBD maps s's snapshot with the kernel's RBD client and returns
	// its device, /dev/rbdN (rbd.Map). Its errors never hold s.Key.
	MapRBD func(ctx context.Context, s rbd.Spec) (dev string, err error)
	// AttachLoop attaches the image file read-only to a free loop device
	// and returns it, /dev/loopN (loop.Attach).
	AttachLoop func(file string) (dev string, err error)
	// OpenVerity opens dev with dm-verity as the device-mapper device
	// name, checked against rootHash (hex), and returns its node
	// (verity.Open). It checks the hash's form only: a wrong root hash
	// or a tampered image shows as EIO on the first read of the mapped
	// device (the filesystem detection or the mount), which lower reports
	// as dm-verity refusing the image.
	OpenVerity func(dev, name, rootHash string) (mapped string, err error)
	// DetectFS returns the type of the filesystem on dev (squashfs, erofs
	// or ext4). Unset, rootfstype= must say it.
	DetectFS func(dev string) (fstype string, err error)
	// ParseKeyring returns the cephx user (without "client.") and key of
	// a Ceph keyring: its [client.USER] section, or its first client one
	// for user "" (rbd.ParseKeyring). Its errors never quote the file.
	ParseKeyring func(data []byte, user string) (name, key string, err error)
}

// ExportDir is where the NFS export that holds sidus.image= is mounted:
// under /run, which switch_root moves into the new root, so the export
// stays mounted under the image's loop device (as /run/sidus/nfs there).
const ExportDir = StateDir + "/nfs"

// verityName is the device-mapper name of a shared root opened with
// dm-verity (sidus.verity=).
const verityName = "sidus-root"

// lowerKind is c's shared root (LowerNFS for a Config built without one).
func lowerKind(c *cmdline.Config) cmdline.LowerKind {
	if c.Lower == "" {
		return cmdline.LowerNFS
	}
	return c.Lower
}

// immutableLower reports whether c's shared root never changes: an image
// file or an RBD snapshot (not the NFS export, nor a CephFS directory).
func immutableLower(c *cmdline.Config) bool {
	k := lowerKind(c)
	return k == cmdline.LowerImage || k == cmdline.LowerRBD
}

// lowerName says what c's shared root is, for log lines and errors.
func lowerName(c *cmdline.Config) string {
	switch lowerKind(c) {
	case cmdline.LowerImage:
		return "the image sidus.image=" + c.Image + " on the NFS export"
	case cmdline.LowerRBD:
		return "the RBD snapshot root=rbd:" + c.RBD.String()
	case cmdline.LowerCephFS:
		return "the CephFS directory root=cephfs:" + c.CephFSPath
	}
	return "the NFS export"
}

// lowerWarnings lists what the command line asks for that the shared root
// it chose makes pointless, so that the boot says it ignores it.
func lowerWarnings(c *cmdline.Config) []string {
	var w []string
	kind, name := lowerKind(c), lowerName(c)
	ceph := kind == cmdline.LowerRBD || kind == cmdline.LowerCephFS
	if v, ok := c.Sidus["shared"]; ok && v != "none" && immutableLower(c) {
		w = append(w, fmt.Sprintf("sidus.shared=%s ignored: the shared root is %s, which never changes; the whole tree is in the union", v, name))
	}
	if c.LowerFSType != "" && !immutableLower(c) {
		w = append(w, fmt.Sprintf("rootfstype=%s ignored: the shared root is %s, not an image (sidus.image=, root=rbd:)", c.LowerFSType, name))
	}
	if !ceph && (len(c.CephMons) > 0 || c.CephUser != "") {
		w = append(w, fmt.Sprintf("sidus.ceph.mon=/sidus.ceph.user= ignored: the shared root is %s, not on Ceph (root=rbd:, root=cephfs:)", name))
	}
	if c.CephFS != "" && kind != cmdline.LowerCephFS {
		w = append(w, fmt.Sprintf("sidus.cephfs.fs=%s ignored: the shared root is %s, not root=cephfs:", c.CephFS, name))
	}
	if ceph && (len(c.NFSServers) > 0 || c.NFSServer != "" || c.NFSPath != "" || len(c.NFSOptions) > 0 || c.NFSVersion != "") {
		w = append(w, fmt.Sprintf("nfsroot= ignored: the shared root is %s, not the NFS export", name))
	}
	return w
}

// exportDir is where the nfs stage mounts the NFS export: /ro, or
// ExportDir when the shared root is an image file on it.
func (b *booter) exportDir() string {
	if lowerKind(b.cfg) == cmdline.LowerImage {
		return ExportDir
	}
	return overlay.Default.RO
}

// lower is the nfs stage: it mounts the shared root read-only at /ro, as
// Config.Lower says: the NFS export (nfs), an image file on it, an RBD
// snapshot or a CephFS directory. It records what in Result.
func (b *booter) lower() error {
	kind := lowerKind(b.cfg)
	for _, r := range b.cfg.RootOther {
		if kind == cmdline.LowerNFS {
			b.log.Printf("warning: root=%s ignored: the root is the NFS export (nfsroot=, root=/dev/nfs) under the writable layer of aufs=%s", r, b.cfg.Upper)
		} else {
			b.log.Printf("warning: root=%s ignored: the root is %s under the writable layer of aufs=%s", r, lowerName(b.cfg), b.cfg.Upper)
		}
	}
	switch kind {
	case cmdline.LowerImage:
		return b.lowerImage()
	case cmdline.LowerRBD:
		return b.lowerRBD()
	case cmdline.LowerCephFS:
		return b.lowerCephFS()
	}
	if err := b.nfs(); err != nil {
		return err
	}
	b.res.LowerSource, b.res.LowerFSType = b.res.NFSServer+":"+b.res.NFSPath, "nfs"
	return nil
}

// lowerImage mounts the NFS export at ExportDir (as an NFS root: the same
// servers, versions and retries), attaches sidus.image='s file on it
// read-only to a loop device and mounts that at /ro.
func (b *booter) lowerImage() error {
	st, c := b.image, b.cfg
	if st.AttachLoop == nil || st.DetectFS == nil && c.LowerFSType == "" || st.OpenVerity == nil && c.VerityRootHash != "" {
		return errors.New("sidus.image=: this init was built without the image stage (Options.Image); boot the NFS export itself (drop sidus.image=)")
	}
	if err := b.nfs(); err != nil {
		return err
	}
	b.loadModules(nil, kmod.GroupImage)
	file := path.Join(ExportDir, c.Image)
	b.res.LowerSource = file
	dev, err := st.AttachLoop(file)
	if err != nil {
		return fmt.Errorf("sidus.image=%s: attach %s to a loop device: %w; check that the file is on the export %s:%s (and that loop is packed: sidus-mkinitramfs -m loop)",
			c.Image, file, err, b.res.NFSServer, b.res.NFSPath)
	}
	b.res.LowerDev = dev
	b.log.Printf("image %s of %s:%s on %s (read-only)", c.Image, b.res.NFSServer, b.res.NFSPath, dev)
	return b.mountLowerDev(dev, "sidus.image="+c.Image)
}

// lowerRBD maps root=rbd:'s snapshot, with the monitors of
// sidus.ceph.mon= and the initramfs's cephx key, retrying until the
// cluster answers or rootdelay= is over, and mounts it at /ro.
func (b *booter) lowerRBD() error {
	st, c := b.image, b.cfg
	if st.MapRBD == nil || st.ParseKeyring == nil || st.DetectFS == nil && c.LowerFSType == "" || st.OpenVerity == nil && c.VerityRootHash != "" {
		return errors.New("root=rbd:: this init was built without the image stage (Options.Image); boot an NFS root (root=/dev/nfs)")
	}
	b.loadModules(nil, kmod.GroupCeph, kmod.GroupImage)
	if err := b.waitRootModules(); err != nil { // overlayfs, for the union
		return err
	}
	user, key, err := b.cephKey()
	if err != nil {
		return err
	}
	spec := rbd.Spec{Mons: c.CephMons, User: user, Key: key, Pool: c.RBD.Pool, Image: c.RBD.Image, Snap: c.RBD.Snap}
	b.res.LowerSource = spec.String()
	b.log.Printf("RBD: mapping %s", spec)
	var dev string
	err = b.retryCeph("root=rbd:"+c.RBD.String(), key, fmt.Sprintf("are the Ceph monitors (%s) and OSDs up, and is the snapshot there (rbd snap ls %s/%s)?", strings.Join(c.CephMons, ","), c.RBD.Pool, c.RBD.Image),
		func() (err error) {
			dev, err = st.MapRBD(b.ctx, spec)
			return err
		})
	if err != nil {
		return err
	}
	b.res.LowerDev = dev
	b.log.Printf("RBD: %s mapped read-only on %s", c.RBD, dev)
	return b.mountLowerDev(dev, "root=rbd:"+c.RBD.String())
}

// lowerCephFS mounts root=cephfs:'s directory at /ro with the kernel's
// ceph client, retrying until the cluster answers or rootdelay= is over.
func (b *booter) lowerCephFS() error {
	c := b.cfg
	if b.image.ParseKeyring == nil {
		return errors.New("root=cephfs:: this init was built without the image stage (Options.Image); boot an NFS root (root=/dev/nfs)")
	}
	b.loadModules(nil, kmod.GroupCeph)
	if err := b.waitRootModules(); err != nil {
		return err
	}
	user, key, err := b.cephKey()
	if err != nil {
		return err
	}
	// The monitors, then ":/PATH": mount.ceph's old source syntax, which
	// every kernel takes.
	src := strings.Join(c.CephMons, ",") + ":" + c.CephFSPath
	data, shown := "name="+user+",secret="+key, "name="+user+",secret=(from the keyring)"
	if c.CephFS != "" {
		// fs= is 5.17's spelling; mds_namespace= is older and still taken.
		data += ",mds_namespace=" + c.CephFS
		shown += ",mds_namespace=" + c.CephFS
	}
	ro := overlay.Default.RO
	if err := b.sys.MkdirAll(ro); err != nil {
		return err
	}
	b.res.LowerSource, b.res.LowerFSType = src, "ceph"
	err = b.retryCeph("cephfs mount "+src, key, fmt.Sprintf("are the Ceph monitors (%s) and an MDS up, and may client.%s read %s?", strings.Join(c.CephMons, ","), user, c.CephFSPath),
		func() error { return unwrapPath(b.sys.Mount(src, ro, "ceph", msRdonly, data)) })
	if err != nil {
		return err
	}
	b.log.Printf("mounted %s at %s read-only (ceph, %s)", src, ro, shown)
	return nil
}

// cephKey reads the cephx user and key from the initramfs's keyring: the
// section of sidus.ceph.user=, else the first client one. The key is
// never logged.
func (b *booter) cephKey() (user, key string, err error) {
	data, err := b.sys.ReadFile("/" + layout.CephKeyring)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("no cephx keyring in the initramfs (%s): pack one with sidus-mkinitramfs --ceph-keyring FILE", layout.CephKeyring)
	}
	if err != nil {
		return "", "", fmt.Errorf("read the cephx keyring /%s: %w", layout.CephKeyring, err)
	}
	user, key, err = b.image.ParseKeyring(data, b.cfg.CephUser)
	if err != nil {
		return "", "", fmt.Errorf("/%s: %w", layout.CephKeyring, err)
	}
	b.log.Printf("cephx: client.%s from /%s", user, layout.CephKeyring)
	return user, key, nil
}

// mountLowerDev mounts dev, an image's loop device or an RBD device (what
// names it for the operator), read-only at /ro: through dm-verity first
// with sidus.verity=, with the filesystem type of rootfstype= or the one
// detected.
func (b *booter) mountLowerDev(dev, what string) error {
	c, mnt := b.cfg, dev
	// The kernel checks the blocks as they are read: a root hash that
	// does not match fails the first read (EIO), not the open.
	refused := func(err error) error {
		return fmt.Errorf("dm-verity refused %s (%s): %w; the image does not match sidus.verity= (give the root hash veritysetup printed for this image, or rebuild it; dm_verity must be packed: sidus-mkinitramfs -m dm_verity)", what, dev, err)
	}
	verified := func(err error) bool { return b.res.VerityDev != "" && errors.Is(err, syscall.EIO) }
	if h := c.VerityRootHash; h != "" {
		m, err := b.image.OpenVerity(dev, verityName, h)
		if err != nil {
			return refused(err)
		}
		b.res.VerityDev, mnt = m, m
		b.log.Printf("dm-verity: %s opened as %s, checked against sidus.verity=%s", dev, m, h)
	}
	fstype, how := c.LowerFSType, "rootfstype="
	if fstype == "" {
		t, err := b.image.DetectFS(mnt)
		if verified(err) {
			return refused(err)
		}
		if err != nil {
			return fmt.Errorf("%s: no squashfs, erofs or ext4 filesystem found on %s: %w; check the image, or name its filesystem with rootfstype=", what, mnt, err)
		}
		if !slices.Contains(cmdline.LowerFSTypes, t) {
			return fmt.Errorf("%s: %s holds a %s filesystem, not squashfs, erofs or ext4; build the image with one of those", what, mnt, t)
		}
		fstype, how = t, "detected"
	}
	b.res.LowerFSType = fstype
	ro := overlay.Default.RO
	if err := b.sys.MkdirAll(ro); err != nil {
		return err
	}
	if err := b.sys.Mount(mnt, ro, fstype, msRdonly, ""); err != nil {
		if verified(err) {
			return refused(err)
		}
		return fmt.Errorf("mount %s (%s, %s) at %s read-only: %w; %s", mnt, fstype, what, ro, err,
			mountHint(fstype, err, "check the image's filesystem (rootfstype= if it is not "+fstype+")"))
	}
	b.log.Printf("mounted %s (%s, %s) at %s read-only", mnt, fstype, how, ro)
	return nil
}

// retryCeph runs try (an RBD map, a CephFS mount) until it works, backing
// off between attempts (a cluster may be starting) until rootdelay= is
// over; a refused cephx key fails at once. what names the attempt and
// hint says what to check. No error or line holds key.
func (b *booter) retryCeph(what, key, hint string, try func() error) error {
	start := b.sys.Now()
	for attempt := 0; ; attempt++ {
		err := hideSecret(try(), key)
		if err == nil {
			return nil
		}
		if b.ctx.Err() != nil {
			return b.ctx.Err()
		}
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("%s: %w; the cluster refused the cephx key: check the keyring packed with --ceph-keyring (sidus.ceph.user=) and its caps", what, err)
		}
		if waited := b.sys.Now().Sub(start); b.cfg.RootDelay > 0 && waited >= b.cfg.RootDelay {
			return fmt.Errorf("%s failed for %s (rootdelay=%d): %w; %s", what, waited.Round(time.Second), int(b.cfg.RootDelay.Seconds()), err, hint)
		}
		wait := backoff(attempt, 10*time.Second, rand.Float64())
		b.log.Printf("%s: attempt %d: %v; retrying in %.1fs (%s)", what, attempt+1, err, wait.Seconds(), hint)
		if err := b.sys.Sleep(b.ctx, wait); err != nil {
			return err
		}
	}
}

// secretHidden is an error whose text had a secret, shown as "***".
type secretHidden struct {
	err    error
	secret string
}

func (e secretHidden) Error() string { return strings.ReplaceAll(e.err.Error(), e.secret, "***") }
func (e secretHidden) Unwrap() error { return e.err }

// hideSecret makes sure that err's text does not show secret (a seam's
// errors should never hold it; this one does not trust them).
func hideSecret(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return secretHidden{err, secret}
}
