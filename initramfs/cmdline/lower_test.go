package cmdline

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLower(t *testing.T) {
	const mon = " sidus.ceph.mon=10.0.0.1"
	for _, tt := range []struct {
		name    string
		cmdline string
		want    func(c *Config)
	}{
		{"default nfs", "root=/dev/nfs", func(c *Config) {}},
		{"rbd", "root=rbd:sidus/debian@2024-06-01" + mon, func(c *Config) {
			c.Lower, c.RBD, c.CephMons = LowerRBD, RBDImage{"sidus", "debian", "2024-06-01"}, []string{"10.0.0.1:6789"}
		}},
		{"rbd with user, verity, rootfstype, several monitors",
			"root=rbd:p/i@s sidus.ceph.mon=10.0.0.1:3300,10.0.0.2,10.0.0.3:6790 sidus.ceph.user=sidus sidus.verity=00FFab12 rootfstype=erofs",
			func(c *Config) {
				c.Lower, c.RBD = LowerRBD, RBDImage{"p", "i", "s"}
				c.CephMons = []string{"10.0.0.1:3300", "10.0.0.2:6789", "10.0.0.3:6790"}
				c.CephUser, c.VerityRootHash, c.LowerFSType = "sidus", "00FFab12", "erofs"
			}},
		{"ceph user client. prefix dropped", "root=rbd:p/i@s sidus.ceph.user=client.node" + mon, func(c *Config) {
			c.Lower, c.RBD, c.CephMons, c.CephUser = LowerRBD, RBDImage{"p", "i", "s"}, []string{"10.0.0.1:6789"}, "node"
		}},
		{"cephfs default path", "root=cephfs:" + mon, func(c *Config) {
			c.Lower, c.CephFSPath, c.CephMons = LowerCephFS, "/", []string{"10.0.0.1:6789"}
		}},
		{"bare cephfs", "root=cephfs" + mon, func(c *Config) {
			c.Lower, c.CephFSPath, c.CephMons = LowerCephFS, "/", []string{"10.0.0.1:6789"}
		}},
		{"cephfs path cleaned, fs name", "root=cephfs:/roots//debian/ sidus.cephfs.fs=hpc" + mon, func(c *Config) {
			c.Lower, c.CephFSPath, c.CephFS, c.CephMons = LowerCephFS, "/roots/debian", "hpc", []string{"10.0.0.1:6789"}
		}},
		{"image on the nfs export", "nfsroot=10.0.0.2:/srv/images sidus.image=debian/root.squashfs", func(c *Config) {
			c.NFSServers, c.NFSServer, c.NFSPath = []string{"10.0.0.2"}, "10.0.0.2", "/srv/images"
			c.Lower, c.Image = LowerImage, "debian/root.squashfs"
		}},
		{"image leading slash and dot dropped, verity", "sidus.image=/./a/b.erofs sidus.verity=abcd", func(c *Config) {
			c.Lower, c.Image, c.VerityRootHash = LowerImage, "a/b.erofs", "abcd"
		}},
		{"last root= wins: nfs after rbd", "root=rbd:p/i@s root=/dev/nfs" + mon, func(c *Config) {
			c.CephMons = []string{"10.0.0.1:6789"}
		}},
		{"last root= wins: rbd after nfs:", "root=nfs:10.0.0.2:/srv/x root=rbd:p/i@s" + mon, func(c *Config) {
			c.NFSServers, c.NFSServer, c.NFSPath = []string{"10.0.0.2"}, "10.0.0.2", "/srv/x"
			c.Lower, c.RBD, c.CephMons = LowerRBD, RBDImage{"p", "i", "s"}, []string{"10.0.0.1:6789"}
		}},
		{"last root= wins: cephfs after rbd", "root=rbd:p/i@s root=cephfs:/x" + mon, func(c *Config) {
			c.Lower, c.CephFSPath, c.CephMons = LowerCephFS, "/x", []string{"10.0.0.1:6789"}
		}},
		{"root=LABEL= and other root= keep the kind", "root=rbd:p/i@s root=LABEL=ISCSI root=/dev/sda1" + mon, func(c *Config) {
			c.Lower, c.RBD, c.CephMons = LowerRBD, RBDImage{"p", "i", "s"}, []string{"10.0.0.1:6789"}
			c.RWLabel, c.RootOther = "ISCSI", []string{"/dev/sda1"}
		}},
		{"nfsroot= does not choose the kind", "root=rbd:p/i@s nfsroot=10.0.0.2:/srv/x" + mon, func(c *Config) {
			c.NFSServers, c.NFSServer, c.NFSPath = []string{"10.0.0.2"}, "10.0.0.2", "/srv/x"
			c.Lower, c.RBD, c.CephMons = LowerRBD, RBDImage{"p", "i", "s"}, []string{"10.0.0.1:6789"}
		}},
		{"ceph options kept with an nfs root", "root=/dev/nfs sidus.ceph.mon=10.0.0.9 sidus.cephfs.fs=x rootfstype=ext4", func(c *Config) {
			c.CephMons, c.CephFS, c.LowerFSType = []string{"10.0.0.9:6789"}, "x", "ext4"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.cmdline, nil, nil)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.cmdline, err)
			}
			want := clDefaults()
			tt.want(want)
			if got.Lower != want.Lower || got.RBD != want.RBD || got.CephFSPath != want.CephFSPath || got.CephFS != want.CephFS ||
				strings.Join(got.CephMons, ",") != strings.Join(want.CephMons, ",") || got.CephUser != want.CephUser ||
				got.Image != want.Image || got.VerityRootHash != want.VerityRootHash || got.LowerFSType != want.LowerFSType ||
				got.NFSPath != want.NFSPath || got.RWLabel != want.RWLabel || strings.Join(got.RootOther, " ") != strings.Join(want.RootOther, " ") {
				t.Errorf("Parse(%q) =\n %+v\nwant\n %+v", tt.cmdline, *got, *want)
			}
			if len(got.Sidus) != 0 {
				t.Errorf("Sidus = %v: the shared root's options have their own fields", got.Sidus)
			}
			if len(got.Warnings) != 0 {
				t.Errorf("warnings %q", got.Warnings)
			}
			checkRoundTrip(t, tt.cmdline, got)
		})
	}
}

func TestParseLowerErrors(t *testing.T) {
	const mon = " sidus.ceph.mon=10.0.0.1"
	for _, tt := range []struct {
		cmdline string
		param   string // ParamError.Param
		want    string // substring of the message
	}{
		{"root=rbd:sidus/debian" + mon, "root", "root=rbd:sidus/debian: want POOL/IMAGE@SNAP: the shared root is a read-only snapshot"},
		{"root=rbd:sidus/debian@" + mon, "root", "want POOL/IMAGE@SNAP: the shared root is a read-only snapshot"},
		{"root=rbd:debian@v1" + mon, "root", "root=rbd:debian@v1: want POOL/IMAGE@SNAP"},
		{"root=rbd" + mon, "root", "root=rbd: want POOL/IMAGE@SNAP"},
		{"root=rbd:/debian@v1" + mon, "root", "empty pool name; expected root=rbd:POOL/IMAGE@SNAP"},
		{"root=rbd:p/@v1" + mon, "root", "empty image name"},
		{"root=rbd:p/ns/i@v1" + mon, "root", `image name "ns/i" has a '/'`},
		{"root=rbd:p/i@v1@v2" + mon, "root", `snapshot name "v1@v2"`},
		{"root=rbd:p/i@s", "root", "root=rbd: needs sidus.ceph.mon=IP[:PORT],..."},
		{"root=cephfs:/x", "root", "root=cephfs: needs sidus.ceph.mon=IP[:PORT],..."},
		{"root=cephfs:x" + mon, "root", `path "x" is not absolute; expected root=cephfs:/PATH`},
		{"root=cephfs:/a/../b" + mon, "root", `path "/a/../b" has a .. component`},
		{"root=rbd:p/i@s sidus.ceph.mon=", "sidus.ceph.mon", `monitor 1 "": empty`},
		{"root=rbd:p/i@s sidus.ceph.mon=10.0.0.1,", "sidus.ceph.mon", `monitor 2 "": empty`},
		{"root=rbd:p/i@s sidus.ceph.mon=10.0.0.300", "sidus.ceph.mon", `monitor 1 "10.0.0.300": not an IPv4 address; expected sidus.ceph.mon=IP[:PORT]`},
		{"root=rbd:p/i@s sidus.ceph.mon=mon1.example.org", "sidus.ceph.mon", "not an IPv4 address"},
		{"root=rbd:p/i@s sidus.ceph.mon=10.0.0.1:0", "sidus.ceph.mon", `port "0" is not a number from 1 to 65535`},
		{"root=rbd:p/i@s sidus.ceph.mon=10.0.0.1:", "sidus.ceph.mon", `port ""`},
		{"root=rbd:p/i@s sidus.ceph.mon=10.0.0.1:70000", "sidus.ceph.mon", `port "70000"`},
		{"root=rbd:p/i@s sidus.ceph.mon=[fe80::1]:6789", "sidus.ceph.mon", "IPv6 monitors are not supported"},
		{"root=rbd:p/i@s sidus.ceph.mon=10.0.0.1,10.0.0.1:6789", "sidus.ceph.mon", `monitor 2 "10.0.0.1:6789": named twice`},
		{"root=rbd:p/i@s sidus.ceph.user=a/b" + mon, "sidus.ceph.user", "not a Ceph user name"},
		{"root=rbd:p/i@s sidus.ceph.user=" + mon, "sidus.ceph.user", "not a Ceph user name"},
		{"root=cephfs: sidus.cephfs.fs=a,b" + mon, "sidus.cephfs.fs", "not a file system name"},
		{"sidus.image=", "sidus.image", "no file named"},
		{"sidus.image=/", "sidus.image", "no file named"},
		{"sidus.image=a/../../etc/shadow", "sidus.image", "a .. component leaves the export"},
		{"sidus.image=.", "sidus.image", "names the export's root"},
		{"sidus.image=a.squashfs root=rbd:p/i@s" + mon, "sidus.image", "an image on the NFS export and root=rbd: are two shared roots"},
		{"sidus.image=a.squashfs root=cephfs:/" + mon, "sidus.image", "root=cephfs: are two shared roots"},
		{"sidus.image=a sidus.verity=xyz", "sidus.verity", "sidus.verity=xyz: not a hexadecimal root hash"},
		{"sidus.image=a sidus.verity=abc", "sidus.verity", "not a hexadecimal root hash"},
		{"sidus.image=a sidus.verity=", "sidus.verity", "not a hexadecimal root hash"},
		{"root=/dev/nfs sidus.verity=abcd", "sidus.verity", "dm-verity checks a block device: give it with root=rbd: or sidus.image=, not with the NFS export"},
		{"root=cephfs:/ sidus.verity=abcd" + mon, "sidus.verity", "not with root=cephfs:"},
		{"root=rbd:p/i@s rootfstype=xfs" + mon, "rootfstype", "rootfstype=xfs: not a filesystem of a shared-root image; expected rootfstype=squashfs|erofs|ext4"},
		{"rootfstype=", "rootfstype", "rootfstype=squashfs|erofs|ext4"},
		{"sidus.ceph.key=AQB", "sidus.ceph.key", "unknown sidus option"},
	} {
		t.Run(tt.cmdline, func(t *testing.T) {
			c, err := Parse(tt.cmdline, nil, nil)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error", tt.cmdline, *c)
			}
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T %v, want *ParamError", tt.cmdline, err, err)
			}
			if pe.Param != tt.param || !strings.HasPrefix(err.Error(), tt.param) {
				t.Errorf("Parse(%q) error %q: Param %q, want %q and the message to start with it", tt.cmdline, err, pe.Param, tt.param)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error %q, want it to contain %q", tt.cmdline, err, tt.want)
			}
		})
	}
}

// The unknown-option error lists the shared root's sidus.* options.
func TestParseLowerUnknownSidusLists(t *testing.T) {
	_, err := Parse("sidus.rbd=x", nil, nil)
	for _, o := range lowerSidus {
		if err == nil || !strings.Contains(err.Error(), o.form) {
			t.Errorf("error %v does not list %s", err, o.form)
		}
	}
}
