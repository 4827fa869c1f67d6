package cmdline

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// The shared root ("lower"): what the boot mounts read-only at /ro under
// the writable layer. The NFS export (nfsroot=, root=/dev/nfs, ...) is the
// default; these choose another:
//
//	root=rbd:POOL/IMAGE@SNAP   an RBD snapshot (read-only by nature),
//	                           mapped with the kernel's rbd client
//	root=cephfs:[/PATH]        a directory of a CephFS ("/" by default),
//	                           mounted with the kernel's ceph client
//	sidus.image=RELPATH        a filesystem image file (squashfs, erofs or
//	                           ext4) on the NFS export, RELPATH from its
//	                           root; the export is mounted as for an NFS
//	                           root (nfsroot=, DHCP's root-path, ...)
//
// with
//
//	sidus.ceph.mon=IP[:PORT][,IP[:PORT]...]
//	                           the Ceph monitors (port 6789 by default);
//	                           required by root=rbd: and root=cephfs:
//	sidus.ceph.user=NAME       the keyring's [client.NAME] section (default:
//	                           the first client one); the key itself is
//	                           only ever read from the initramfs
//	sidus.cephfs.fs=NAME       root=cephfs:'s file system (the cluster's
//	                           default one when not given)
//	sidus.verity=ROOTHASH      check root=rbd:'s or sidus.image='s device
//	                           with dm-verity against this root hash (hex)
//	rootfstype=squashfs|erofs|ext4
//	                           the image's filesystem (detected when not
//	                           given)
//
// root= chooses the kind of root and the last root= that names one wins
// (root=LABEL=, root=iscsi: and the RootOther values name none); nfsroot=
// only says where the NFS export is. These sidus.* options are kept in
// their Config fields, not in Config.Sidus.

// LowerKind selects the shared root mounted read-only at /ro.
type LowerKind string

const (
	LowerNFS    LowerKind = "nfs"    // the NFS export itself (the default)
	LowerImage  LowerKind = "image"  // sidus.image=: an image file on the NFS export, on a loop device
	LowerRBD    LowerKind = "rbd"    // root=rbd:: an RBD snapshot
	LowerCephFS LowerKind = "cephfs" // root=cephfs:: a CephFS directory
)

// RBDImage is root=rbd:POOL/IMAGE@SNAP.
type RBDImage struct {
	Pool, Image, Snap string
}

// String is POOL/IMAGE@SNAP, as root=rbd: writes it ("" for none).
func (r RBDImage) String() string {
	if r == (RBDImage{}) {
		return ""
	}
	return r.Pool + "/" + r.Image + "@" + r.Snap
}

// DefaultCephMonPort is the port of a sidus.ceph.mon= address without one
// (the monitors' v1 protocol, which the kernel client speaks by default).
const DefaultCephMonPort = 6789

// LowerFSTypes are the filesystems of an image or RBD root (rootfstype=).
var LowerFSTypes = []string{"squashfs", "erofs", "ext4"}

// Accepted forms, quoted in error messages.
const (
	rbdForm        = "root=rbd:POOL/IMAGE@SNAP, e.g. root=rbd:sidus/debian@2024-06-01"
	cephfsForm     = "root=cephfs:/PATH (a directory of the CephFS, / by default)"
	cephMonForm    = "sidus.ceph.mon=IP[:PORT][,IP[:PORT]...], IPv4 addresses of the Ceph monitors (port 6789 by default)"
	cephNameForm   = "letters, digits, '.', '_' and '-'"
	imageForm      = "sidus.image=RELPATH, the image file's path from the root of the NFS export, without .. (e.g. images/debian.squashfs)"
	verityForm     = "sidus.verity=ROOTHASH, the hexadecimal root hash veritysetup format printed"
	rootFSTypeForm = "rootfstype=squashfs|erofs|ext4 (the filesystem of root=rbd: or sidus.image=; leave it out to detect it)"
)

// lowerSidus are the sidus.* options of the shared root, keyed without
// the "sidus." prefix, with the form the unknown-option error lists.
var lowerSidus = []struct {
	name, form string
	parse      handler
}{
	{"ceph.mon", "sidus.ceph.mon=IP[:PORT],...", (*parser).parseCephMon},
	{"ceph.user", "sidus.ceph.user=NAME", (*parser).parseCephUser},
	{"cephfs.fs", "sidus.cephfs.fs=NAME", (*parser).parseCephFSName},
	{"image", "sidus.image=RELPATH", (*parser).parseImage},
	{"verity", "sidus.verity=ROOTHASH", (*parser).parseVerity},
}

// parseLowerSidus parses sidus.NAME= if it is a shared-root option.
func (p *parser) parseLowerSidus(key, name, v string) (known bool, err error) {
	for _, o := range lowerSidus {
		if o.name == name {
			return true, o.parse(p, key, v)
		}
	}
	return false, nil
}

// setLower makes kind the shared root, clearing what belongs to root='s
// other kinds (the NFS export's fields stay: sidus.image= uses them).
func (c *Config) setLower(kind LowerKind) {
	c.Lower, c.RBD, c.CephFSPath = kind, RBDImage{}, ""
}

// parseRBDRoot parses root=rbd:POOL/IMAGE@SNAP. The snapshot is required:
// a node must never map the image that is being changed.
func parseRBDRoot(key, v string) (RBDImage, error) {
	spec, _ := strings.CutPrefix(v, "rbd:")
	if v == "rbd" {
		spec = ""
	}
	bad := func(reason string) error { return &ParamError{Param: key, Value: v, Reason: reason, Expected: rbdForm} }
	pool, rest, ok := strings.Cut(spec, "/")
	if !ok {
		return RBDImage{}, &ParamError{Param: key, Value: v, Reason: "want POOL/IMAGE@SNAP: no pool (POOL/) before the image"}
	}
	image, snap, ok := strings.Cut(rest, "@")
	if !ok || snap == "" {
		return RBDImage{}, &ParamError{Param: key, Value: v, Reason: "want POOL/IMAGE@SNAP: the shared root is a read-only snapshot (rbd snap create POOL/IMAGE@SNAP)"}
	}
	for _, f := range []struct{ what, s string }{{"pool", pool}, {"image", image}, {"snapshot", snap}} {
		if f.s == "" {
			return RBDImage{}, bad("empty " + f.what + " name")
		}
		if strings.ContainsAny(f.s, "/@ \t") {
			return RBDImage{}, bad(fmt.Sprintf("%s name %q has a '/', '@' or a blank (RBD namespaces are not supported)", f.what, f.s))
		}
	}
	return RBDImage{Pool: pool, Image: image, Snap: snap}, nil
}

// parseCephFSRoot parses root=cephfs:[/PATH]; the path is cleaned.
func parseCephFSRoot(key, v string) (string, error) {
	p := strings.TrimPrefix(v, "cephfs:")
	if p == "" || v == "cephfs" {
		return "/", nil
	}
	if !strings.HasPrefix(p, "/") {
		return "", &ParamError{Param: key, Value: v, Reason: fmt.Sprintf("path %q is not absolute", p), Expected: cephfsForm}
	}
	if hasDotDot(p) {
		return "", &ParamError{Param: key, Value: v, Reason: fmt.Sprintf("path %q has a .. component", p), Expected: cephfsForm}
	}
	return path.Clean(p), nil
}

// hasDotDot reports whether the slash-separated p has a ".." component.
func hasDotDot(p string) bool { return slices.Contains(strings.Split(p, "/"), "..") }

// parseCephMon parses sidus.ceph.mon=IP[:PORT][,IP[:PORT]...] into
// "ip:port" addresses.
func (p *parser) parseCephMon(key, v string) error {
	var mons []string
	for i, m := range strings.Split(v, ",") {
		bad := func(reason string) error {
			return &ParamError{Param: key, Value: v, Reason: fmt.Sprintf("monitor %d %q: %s", i+1, m, reason), Expected: cephMonForm}
		}
		if m == "" {
			return bad("empty")
		}
		if strings.HasPrefix(m, "[") || strings.Count(m, ":") > 1 {
			return bad("IPv6 monitors are not supported: the init configures IPv4 only")
		}
		host, port, hasPort := strings.Cut(m, ":")
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return bad("not an IPv4 address")
		}
		n := DefaultCephMonPort
		if hasPort {
			u, err := strconv.ParseUint(port, 10, 16)
			if err != nil || u == 0 || !allDigits(port) {
				return bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
			}
			n = int(u)
		}
		addr := a.String() + ":" + strconv.Itoa(n)
		if slices.Contains(mons, addr) {
			return bad("named twice")
		}
		mons = append(mons, addr)
	}
	p.c.CephMons = mons
	return nil
}

// validCephName accepts a Ceph entity or file-system name.
func validCephName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// parseCephUser parses sidus.ceph.user=NAME (a "client." prefix is
// dropped: the keyring's section is client.NAME).
func (p *parser) parseCephUser(key, v string) error {
	name := strings.TrimPrefix(v, "client.")
	if !validCephName(name) {
		return &ParamError{Param: key, Value: v, Reason: "not a Ceph user name (" + cephNameForm + ")",
			Expected: "sidus.ceph.user=NAME, the keyring's [client.NAME] section"}
	}
	p.c.CephUser = name
	return nil
}

// parseCephFSName parses sidus.cephfs.fs=NAME.
func (p *parser) parseCephFSName(key, v string) error {
	if !validCephName(v) {
		return &ParamError{Param: key, Value: v, Reason: "not a file system name (" + cephNameForm + ")",
			Expected: "sidus.cephfs.fs=NAME, as ceph fs ls names it"}
	}
	p.c.CephFS = v
	return nil
}

// parseImage parses sidus.image=RELPATH: a leading '/' is dropped (the
// path is from the export's root either way) and the path is cleaned.
func (p *parser) parseImage(key, v string) error {
	rel := strings.TrimLeft(v, "/")
	bad := func(reason string) error {
		return &ParamError{Param: key, Value: v, Reason: reason, Expected: imageForm}
	}
	switch {
	case rel == "":
		return bad("no file named")
	case hasDotDot(rel):
		return bad("a .. component leaves the export")
	}
	rel = path.Clean(rel)
	if rel == "." {
		return bad("names the export's root, not a file")
	}
	p.c.Image = rel
	return nil
}

// parseVerity checks that sidus.verity= is hexadecimal; the boot checks
// its length against the image's hash tree.
func (p *parser) parseVerity(key, v string) error {
	if v == "" || len(v)%2 != 0 || strings.Trim(v, "0123456789abcdefABCDEF") != "" {
		return &ParamError{Param: key, Value: v, Reason: "not a hexadecimal root hash", Expected: verityForm}
	}
	p.c.VerityRootHash = v
	return nil
}

// parseRootFSType parses rootfstype=.
func (p *parser) parseRootFSType(key, v string) error {
	if !slices.Contains(LowerFSTypes, v) {
		return &ParamError{Param: key, Value: v, Reason: "not a filesystem of a shared-root image", Expected: rootFSTypeForm}
	}
	p.c.LowerFSType = v
	return nil
}

// finishLower checks what the shared root needs from the whole line:
// sidus.image= makes the NFS root an image on it, root=rbd: and
// root=cephfs: need the monitors, sidus.verity= needs a block device.
func (p *parser) finishLower() error {
	c := p.c
	if c.Image != "" {
		if c.Lower != LowerNFS {
			return &ParamError{Param: "sidus.image", Value: c.Image,
				Reason: fmt.Sprintf("an image on the NFS export and root=%s: are two shared roots; give one of them", c.Lower)}
		}
		c.Lower = LowerImage
	}
	switch c.Lower {
	case LowerRBD, LowerCephFS:
		if len(c.CephMons) == 0 {
			return &ParamError{Param: "root", Value: string(c.Lower), Reason: "needs sidus.ceph.mon=IP[:PORT],...: the addresses of the Ceph monitors"}
		}
	}
	if c.VerityRootHash != "" && c.Lower != LowerRBD && c.Lower != LowerImage {
		what := "the NFS export (a tree of files)"
		if c.Lower == LowerCephFS {
			what = "root=cephfs: (a tree of files)"
		}
		return &ParamError{Param: "sidus.verity", Value: c.VerityRootHash,
			Reason: "dm-verity checks a block device: give it with root=rbd: or sidus.image=, not with " + what}
	}
	return nil
}
