package initramfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/sidus-go/sidus/blockdev/rbd"
	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/initramfs/layout"
)

// testCephKey is the cephx key of testKeyring's client.sidus: no log
// line, error or boot report may show it.
const testCephKey = "AQBzaWR1cy10ZXN0LWNlcGh4LWtleSEh"

const testKeyring = "[client.admin]\n\tkey = AQBhZG1pbi1rZXktbm90LXVzZWQ=\n[client.sidus]\n\tkey = " + testCephKey + "\n\tcaps mon = \"profile rbd\"\n"

// lowerModules is a modules.index with the root, image and ceph groups.
const lowerModules = "module nfs root lib/modules/k/nfs.ko\nmodule overlay root lib/modules/k/overlay.ko\n" +
	"module loop image lib/modules/k/loop.ko\nmodule squashfs image lib/modules/k/squashfs.ko\nmodule dm_verity image lib/modules/k/dm_verity.ko\n" +
	"module libceph ceph lib/modules/k/libceph.ko\nmodule rbd ceph lib/modules/k/rbd.ko libceph\nmodule ceph ceph lib/modules/k/ceph.ko libceph\n"

// fakeImage is the ImageStage of the tests: it records its calls in f's
// call list, between the mounts.
type fakeImage struct {
	f         *fakeSys
	mapFails  int   // MapRBD attempts that fail (with mapErr, else a timeout) before one works
	mapErr    error // with mapFails < 0: every attempt fails with it
	attachErr error
	verityErr error
	detect    string // DetectFS's answer (default squashfs)
	detectErr error
}

func (fi *fakeImage) stage() ImageStage {
	return ImageStage{
		MapRBD: func(ctx context.Context, s rbd.Spec) (string, error) {
			key := "wrong key"
			if s.Key == testCephKey {
				key = "key from the keyring"
			}
			fi.f.rec("rbd map %s (%s)", s, key)
			if fi.mapFails != 0 {
				fi.mapFails--
				if fi.mapErr != nil {
					return "", fi.mapErr
				}
				return "", fmt.Errorf("%s: no monitor answered: %w", s, syscall.ETIMEDOUT)
			}
			return "/dev/rbd0", nil
		},
		AttachLoop: func(file string) (string, error) {
			fi.f.rec("loop attach %s", file)
			if fi.attachErr != nil {
				return "", fi.attachErr
			}
			return "/dev/loop0", nil
		},
		OpenVerity: func(dev, name, rootHash string) (string, error) {
			fi.f.rec("verity open %s %s %s", dev, name, rootHash)
			if fi.verityErr != nil {
				return "", fi.verityErr
			}
			return "/dev/mapper/" + name, nil
		},
		DetectFS: func(dev string) (string, error) {
			fi.f.rec("detect %s", dev)
			if fi.detectErr != nil {
				return "", fi.detectErr
			}
			if fi.detect == "" {
				return "squashfs", nil
			}
			return fi.detect, nil
		},
		ParseKeyring: rbd.ParseKeyring,
	}
}

func newLowerFake() *fakeSys {
	f := newFake()
	f.files["/etc/sidus/modules.index"] = lowerModules
	f.files["/"+layout.CephKeyring] = testKeyring
	f.files["/proc/filesystems"] += "\tsquashfs\nnodev\tceph\n"
	return f
}

const (
	rbdLine    = "root=rbd:sidus/debian@v1 sidus.ceph.mon=10.0.0.1,10.0.0.2:3300 sidus.ceph.user=sidus ip=dhcp aufs=tmpfs"
	cephfsLine = "root=cephfs:/roots/debian sidus.ceph.mon=10.0.0.1,10.0.0.2 sidus.cephfs.fs=hpc ip=dhcp aufs=tmpfs"
	imageLine  = "root=/dev/nfs nfsroot=10.0.0.2:/srv/images sidus.image=debian/root.squashfs ip=dhcp aufs=tmpfs"
	rootHash   = "4392712ba01368efdf14b05c76f9e4df0d53664630b5d48632ed17a137f39076"
	rbdSpec    = "rbd sidus/debian@v1 via 10.0.0.1:6789,10.0.0.2:3300 as client.sidus"
)

// The calls of each kind of shared root, in order, and what Result
// records of it.
func TestBootLower(t *testing.T) {
	for _, tc := range []struct {
		name   string
		line   string
		img    fakeImage
		calls  []string // in this order, among the others
		absent []string // call prefixes that must not be there
		res    Result   // its Lower* fields
	}{
		{"nfs", cmdline.SeedTmpfs, fakeImage{},
			[]string{"mount 10.0.0.2:/srv/nfsroot/sidus /ro nfs 0x1 ", "mount overlay /aufs"},
			[]string{"load /lib/modules/k/loop.ko", "load /lib/modules/k/libceph.ko", "loop attach", "rbd map"},
			Result{Lower: cmdline.LowerNFS, LowerSource: "10.0.0.2:/srv/nfsroot/sidus", LowerFSType: "nfs"}},
		{"image", imageLine, fakeImage{},
			[]string{"load /lib/modules/k/nfs.ko", "mount 10.0.0.2:/srv/images /run/sidus/nfs nfs 0x1 ", "load /lib/modules/k/loop.ko", "load /lib/modules/k/squashfs.ko",
				"loop attach /run/sidus/nfs/debian/root.squashfs", "detect /dev/loop0", "mount /dev/loop0 /ro squashfs 0x1 ", "mount overlay /aufs"},
			[]string{"mount 10.0.0.2:/srv/images /ro", "verity open", "load /lib/modules/k/libceph.ko"},
			Result{Lower: cmdline.LowerImage, LowerSource: "/run/sidus/nfs/debian/root.squashfs", LowerDev: "/dev/loop0", LowerFSType: "squashfs"}},
		{"image verity rootfstype", imageLine + " sidus.verity=" + rootHash + " rootfstype=erofs", fakeImage{},
			[]string{"mount 10.0.0.2:/srv/images /run/sidus/nfs nfs 0x1 ", "loop attach /run/sidus/nfs/debian/root.squashfs",
				"verity open /dev/loop0 sidus-root " + rootHash, "mount /dev/mapper/sidus-root /ro erofs 0x1 "},
			[]string{"detect"},
			Result{Lower: cmdline.LowerImage, LowerSource: "/run/sidus/nfs/debian/root.squashfs", LowerDev: "/dev/loop0", VerityDev: "/dev/mapper/sidus-root", LowerFSType: "erofs"}},
		{"rbd", rbdLine, fakeImage{detect: "ext4", mapFails: 2},
			[]string{"load /lib/modules/k/overlay.ko", "load /lib/modules/k/loop.ko", "load /lib/modules/k/libceph.ko", "load /lib/modules/k/rbd.ko",
				"rbd map " + rbdSpec + " (key from the keyring)", "rbd map", "rbd map", "detect /dev/rbd0", "mount /dev/rbd0 /ro ext4 0x1 ", "mount overlay /aufs"},
			[]string{"mount 10.0.0.2", "mount 10.0.0.1", "loop attach", "verity open"},
			Result{Lower: cmdline.LowerRBD, LowerSource: rbdSpec, LowerDev: "/dev/rbd0", LowerFSType: "ext4"}},
		{"rbd verity, first client section", "root=rbd:sidus/debian@v1 sidus.ceph.mon=10.0.0.1 sidus.verity=" + rootHash, fakeImage{},
			[]string{"rbd map rbd sidus/debian@v1 via 10.0.0.1:6789 as client.admin (wrong key)", "verity open /dev/rbd0 sidus-root " + rootHash,
				"detect /dev/mapper/sidus-root", "mount /dev/mapper/sidus-root /ro squashfs 0x1 "},
			nil,
			Result{Lower: cmdline.LowerRBD, LowerSource: "rbd sidus/debian@v1 via 10.0.0.1:6789 as client.admin", LowerDev: "/dev/rbd0", VerityDev: "/dev/mapper/sidus-root", LowerFSType: "squashfs"}},
		{"cephfs", cephfsLine + " sidus.ceph.user=client.sidus", fakeImage{},
			[]string{"load /lib/modules/k/libceph.ko", "load /lib/modules/k/ceph.ko",
				"mount 10.0.0.1:6789,10.0.0.2:6789:/roots/debian /ro ceph 0x1 name=sidus,secret=" + testCephKey + ",mds_namespace=hpc", "mount overlay /aufs"},
			[]string{"load /lib/modules/k/loop.ko", "rbd map", "loop attach", "detect"},
			Result{Lower: cmdline.LowerCephFS, LowerSource: "10.0.0.1:6789,10.0.0.2:6789:/roots/debian", LowerFSType: "ceph"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newLowerFake()
			fi := tc.img
			fi.f = f
			var log strings.Builder
			res, err := bootWith(t, f, tc.line, &log, Options{Image: fi.stage()})
			if err == nil || !strings.Contains(err.Error(), "exec stopped by test") {
				t.Fatalf("Boot: %v, want the fake exec error\n%s", err, log.String())
			}
			calls := strings.Join(f.calls, "\n")
			last := -1
			for _, o := range tc.calls {
				i := has(f.calls[last+1:], o)
				if i < 0 {
					t.Fatalf("missing %q after call %d in:\n%s", o, last, calls)
				}
				last += i + 1
			}
			for _, a := range tc.absent {
				if has(f.calls, a) >= 0 {
					t.Errorf("unwanted call %q in:\n%s", a, calls)
				}
			}
			got := Result{Lower: res.Lower, LowerSource: res.LowerSource, LowerDev: res.LowerDev, VerityDev: res.VerityDev, LowerFSType: res.LowerFSType}
			if fmt.Sprint(got) != fmt.Sprint(tc.res) {
				t.Errorf("Result lower %+v, want %+v", got, tc.res)
			}
			var rep struct {
				Lower struct {
					Kind, Source, Device, Fstype string
					Verity                       bool
				}
			}
			if err := json.Unmarshal([]byte(f.files[ReportPath]), &rep); err != nil {
				t.Fatalf("boot report: %v", err)
			}
			if l := rep.Lower; l.Kind != string(tc.res.Lower) || l.Source != tc.res.LowerSource || l.Device != tc.res.LowerDev || l.Fstype != tc.res.LowerFSType || l.Verity != (tc.res.VerityDev != "") {
				t.Errorf("boot report's lower %+v, want %+v", l, tc.res)
			}
			if tc.res.Lower != cmdline.LowerNFS && !strings.Contains(log.String(), "mounted "+tc.res.LowerSource) && !strings.Contains(log.String(), " at /ro read-only") {
				t.Errorf("no line for the mount at /ro:\n%s", log.String())
			}
			checkNoKey(t, log.String(), err, f)
		})
	}
}

// checkNoKey fails if the cephx key is in the log, the error or the boot
// report.
func checkNoKey(t *testing.T, log string, err error, f *fakeSys) {
	t.Helper()
	if strings.Contains(log, testCephKey) {
		t.Errorf("the log shows the cephx key:\n%s", log)
	}
	if err != nil && strings.Contains(err.Error(), testCephKey) {
		t.Errorf("the error shows the cephx key: %v", err)
	}
	if strings.Contains(f.files[ReportPath], testCephKey) {
		t.Errorf("the boot report shows the cephx key:\n%s", f.files[ReportPath])
	}
}

// What fails a shared root, and what the error says to check.
func TestBootLowerErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		line    string
		setup   func(f *fakeSys, fi *fakeImage)
		noImage bool     // boot without Options.Image
		want    []string // substrings of the error
		noRetry bool     // the failure is not retried
	}{
		{"no keyring", rbdLine, func(f *fakeSys, fi *fakeImage) { delete(f.files, "/"+layout.CephKeyring) }, false,
			[]string{"stage nfs: no cephx keyring in the initramfs (etc/sidus/ceph.keyring): pack one with sidus-mkinitramfs --ceph-keyring FILE"}, true},
		{"no keyring, cephfs", cephfsLine, func(f *fakeSys, fi *fakeImage) { delete(f.files, "/"+layout.CephKeyring) }, false,
			[]string{"no cephx keyring in the initramfs (etc/sidus/ceph.keyring)"}, true},
		{"no such user in the keyring", rbdLine + " sidus.ceph.user=other", nil, false,
			[]string{"/etc/sidus/ceph.keyring: ", "client.other"}, true},
		{"map fails until rootdelay", rbdLine + " rootdelay=5", func(f *fakeSys, fi *fakeImage) { fi.mapFails = -1 }, false,
			[]string{"root=rbd:sidus/debian@v1 failed for ", "(rootdelay=5): " + rbdSpec + ": no monitor answered: ", "are the Ceph monitors (10.0.0.1:6789,10.0.0.2:3300) and OSDs up"}, false},
		{"map refused", rbdLine, func(f *fakeSys, fi *fakeImage) {
			fi.mapFails, fi.mapErr = -1, fmt.Errorf("cephx refused: %w", syscall.EACCES)
		}, false,
			[]string{"root=rbd:sidus/debian@v1: cephx refused: permission denied; the cluster refused the cephx key: check the keyring packed with --ceph-keyring"}, true},
		{"map error with the key", rbdLine + " rootdelay=1", func(f *fakeSys, fi *fakeImage) {
			fi.mapFails, fi.mapErr = -1, errors.New("write name=sidus,secret="+testCephKey+": invalid argument")
		}, false, []string{"name=sidus,secret=***: invalid argument"}, false},
		{"verity refused at open", rbdLine + " sidus.verity=" + rootHash, func(f *fakeSys, fi *fakeImage) {
			fi.verityErr = errors.New("verity: root hash of 32 bytes, the superblock says sha1 (20)")
		}, false, []string{"dm-verity refused root=rbd:sidus/debian@v1 (/dev/rbd0): verity: root hash", "the image does not match sidus.verity="}, true},
		{"verity refused at the first read", imageLine + " sidus.verity=" + rootHash, func(f *fakeSys, fi *fakeImage) {
			fi.detectErr = fmt.Errorf("read /dev/mapper/sidus-root: %w", syscall.EIO)
		}, false, []string{"dm-verity refused sidus.image=debian/root.squashfs (/dev/loop0): read /dev/mapper/sidus-root: input/output error; the image does not match sidus.verity="}, true},
		{"verity refused at the mount", imageLine + " sidus.verity=" + rootHash + " rootfstype=squashfs", func(f *fakeSys, fi *fakeImage) {
			f.mountErr = map[string]error{"/dev/mapper/": syscall.EIO}
		}, false, []string{"dm-verity refused sidus.image=debian/root.squashfs", "the image does not match sidus.verity="}, true},
		{"unknown filesystem", imageLine, func(f *fakeSys, fi *fakeImage) { fi.detectErr = errors.New("no squashfs, erofs or ext4 superblock") }, false,
			[]string{"sidus.image=debian/root.squashfs: no squashfs, erofs or ext4 filesystem found on /dev/loop0: no squashfs, erofs or ext4 superblock; check the image, or name its filesystem with rootfstype="}, true},
		{"other filesystem", rbdLine, func(f *fakeSys, fi *fakeImage) { fi.detect = "xfs" }, false,
			[]string{"root=rbd:sidus/debian@v1: /dev/rbd0 holds a xfs filesystem, not squashfs, erofs or ext4"}, true},
		{"image not on the export", imageLine, func(f *fakeSys, fi *fakeImage) { fi.attachErr = fmt.Errorf("open: %w", syscall.ENOENT) }, false,
			[]string{"sidus.image=debian/root.squashfs: attach /run/sidus/nfs/debian/root.squashfs to a loop device: open: no such file or directory; check that the file is on the export 10.0.0.2:/srv/images"}, true},
		{"no kernel driver", imageLine, func(f *fakeSys, fi *fakeImage) { f.mountErr = map[string]error{"/dev/loop0": syscall.ENODEV} }, false,
			[]string{"mount /dev/loop0 (squashfs, sidus.image=debian/root.squashfs) at /ro read-only: ", "sidus-mkinitramfs -m squashfs"}, true},
		{"cephfs refused", cephfsLine, func(f *fakeSys, fi *fakeImage) { f.mountErr = map[string]error{"10.0.0.1:6789": syscall.EACCES} }, false,
			[]string{"cephfs mount 10.0.0.1:6789,10.0.0.2:6789:/roots/debian: permission denied; the cluster refused the cephx key"}, true},
		{"cephfs down until rootdelay", cephfsLine + " rootdelay=3", func(f *fakeSys, fi *fakeImage) { f.mountFail["/ro"] = 1 << 30 }, false,
			[]string{"cephfs mount 10.0.0.1:6789,10.0.0.2:6789:/roots/debian failed for ", "(rootdelay=3): connection refused; are the Ceph monitors (10.0.0.1:6789,10.0.0.2:6789) and an MDS up, and may client.admin read /roots/debian?"}, false},
		{"no image stage, rbd", rbdLine, nil, true, []string{"root=rbd:: this init was built without the image stage (Options.Image)"}, true},
		{"no image stage, cephfs", cephfsLine, nil, true, []string{"root=cephfs:: this init was built without the image stage"}, true},
		{"no image stage, image", imageLine, nil, true, []string{"sidus.image=: this init was built without the image stage"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newLowerFake()
			fi := &fakeImage{f: f}
			if tc.setup != nil {
				tc.setup(f, fi)
			}
			opts := Options{Image: fi.stage()}
			if tc.noImage {
				opts = Options{}
			}
			start := f.now
			var log strings.Builder
			_, err := bootWith(t, f, tc.line, &log, opts)
			if err == nil {
				t.Fatal("Boot: no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			if retried := f.now.After(start.Add(linkWait)); tc.noRetry && strings.Contains(log.String(), "attempt ") || !tc.noRetry && !strings.Contains(log.String(), "attempt 1: ") {
				t.Errorf("retried %v (clock moved: %v), want %v; log:\n%s", !tc.noRetry, retried, !tc.noRetry, log.String())
			}
			if has(f.calls, "mount overlay") >= 0 {
				t.Errorf("the boot went on after the failure:\n%s", strings.Join(f.calls, "\n"))
			}
			checkNoKey(t, log.String(), err, f)
		})
	}
}

// The log says each step of an RBD root, without the key.
func TestBootLowerLog(t *testing.T) {
	f := newLowerFake()
	fi := &fakeImage{f: f, mapFails: 1}
	var log strings.Builder
	_, _ = bootWith(t, f, rbdLine+" sidus.verity="+rootHash, &log, Options{Image: fi.stage()})
	for _, want := range []string{
		"loaded 6 modules (ceph,image), 0 failed",
		"cephx: client.sidus from /etc/sidus/ceph.keyring",
		"RBD: mapping " + rbdSpec,
		"root=rbd:sidus/debian@v1: attempt 1: " + rbdSpec + ": no monitor answered: connection timed out; retrying in ",
		"RBD: sidus/debian@v1 mapped read-only on /dev/rbd0",
		"dm-verity: /dev/rbd0 opened as /dev/mapper/sidus-root, checked against sidus.verity=" + rootHash,
		"mounted /dev/mapper/sidus-root (squashfs, detected) at /ro read-only",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	checkNoKey(t, log.String(), nil, f)
}

// What a shared root makes pointless is warned about and ignored: an
// image or a snapshot never changes, so nothing is shared from it.
func TestBootLowerWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		warns      []string
		binds      bool // directories shared from the tree
	}{
		{"rbd shared", rbdLine + " sidus.shared=usr,opt", []string{
			"warning: sidus.shared=usr,opt ignored: the shared root is the RBD snapshot root=rbd:sidus/debian@v1, which never changes"}, false},
		{"image default shared", imageLine, nil, false},
		{"cephfs shares", cephfsLine, nil, true},
		{"rbd with nfsroot= and another root=", rbdLine + " nfsroot=10.0.0.2:/srv/x root=/dev/sda1", []string{
			"warning: nfsroot= ignored: the shared root is the RBD snapshot root=rbd:sidus/debian@v1, not the NFS export",
			"warning: root=/dev/sda1 ignored: the root is the RBD snapshot root=rbd:sidus/debian@v1 under the writable layer of aufs=tmpfs"}, false},
		{"nfs with image options", cmdline.SeedTmpfs + " rootfstype=ext4 sidus.ceph.mon=10.0.0.1 sidus.cephfs.fs=hpc", []string{
			"warning: rootfstype=ext4 ignored: the shared root is the NFS export, not an image",
			"warning: sidus.ceph.mon=/sidus.ceph.user= ignored: the shared root is the NFS export, not on Ceph",
			"warning: sidus.cephfs.fs=hpc ignored: the shared root is the NFS export, not root=cephfs:"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newLowerFake()
			f.files["/aufs/ro/usr/bin/sh"] = "#!"
			fi := &fakeImage{f: f}
			var log strings.Builder
			_, err := bootWith(t, f, tc.line, &log, Options{Image: fi.stage()})
			if err == nil || !strings.Contains(err.Error(), "exec stopped by test") {
				t.Fatalf("Boot: %v\n%s", err, log.String())
			}
			for _, w := range tc.warns {
				if !strings.Contains(log.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, log.String())
				}
			}
			if n := strings.Count(log.String(), "warning: "); n != len(tc.warns) {
				t.Errorf("%d warnings, want %d:\n%s", n, len(tc.warns), log.String())
			}
			if bound := has(f.calls, "mount /aufs/ro/usr /aufs/usr") >= 0; bound != tc.binds {
				t.Errorf("usr shared from the tree: %v, want %v:\n%s", bound, tc.binds, strings.Join(f.calls, "\n"))
			}
		})
	}
}
