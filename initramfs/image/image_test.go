package image

import (
	"bytes"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/initramfs/image/imagetest"
	"github.com/sidus-go/sidus/initramfs/kmod"
	"github.com/sidus-go/sidus/initramfs/layout"
	"github.com/u-root/mkuimage/cpio"
	itest "github.com/u-root/mkuimage/uimage/initramfs/test"
)

type fixture struct {
	base, init, shell, iscsi string
}

func newFixture(t *testing.T) fixture {
	firmware := map[string]string{"vendor/fw.bin": "FIRMWARE", "vendor/fw2.bin.zst": "ZSTFW"}
	return fixture{
		base:  imagetest.Kernel(t, testKver, fakeMods, fakeIndex(true), firmware),
		init:  imagetest.WriteFile(t, "sidus-init", imagetest.ELF(elf.ET_EXEC, "", nil, []byte("sidus init")), 0o755),
		shell: imagetest.WriteFile(t, "busybox", imagetest.ELF(elf.ET_EXEC, "", nil, []byte("BusyBox v1.35.0")), 0o755),
		iscsi: imagetest.WriteFile(t, "iscsi.initramfs", []byte("ISCSI_TARGET_IP=10.0.0.1\n"), 0o644),
	}
}

func (f fixture) opts(compression string) Options {
	return Options{
		BaseDir:       f.base,
		KernelVersion: testKver,
		Defaults:      []string{"virtio_pci", "virtio_net", "e1000", "ext4", "xfs"},
		Modules:       []string{"fwnic"},
		Compression:   compression,
		Init:          f.init,
		Shell:         f.shell,
		ISCSIConf:     f.iscsi,
	}
}

func build(t *testing.T, o Options) ([]byte, *Summary) {
	t.Helper()
	var b bytes.Buffer
	s, err := Build(&b, o)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if s.Compressed != int64(b.Len()) {
		t.Errorf("Summary.Compressed = %d, wrote %d", s.Compressed, b.Len())
	}
	return b.Bytes(), s
}

func decompress(t *testing.T, img []byte, compression string) []byte {
	t.Helper()
	r, err := Decompress(bytes.NewReader(img), compression)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	raw, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompressing %s: %v", compression, err)
	}
	return raw
}

// TestReproducible builds twice, touching every input in between, and wants
// the same bytes (mkuimage's cmd/mkuimage/main_test.go does the same).
func TestReproducible(t *testing.T) {
	for _, c := range []string{Zstd, Gzip, None} {
		t.Run(c, func(t *testing.T) {
			f := newFixture(t)
			a, _ := build(t, f.opts(c))
			later := time.Now().Add(time.Hour)
			filepath.WalkDir(f.base, func(p string, _ os.DirEntry, _ error) error {
				return os.Chtimes(p, later, later)
			})
			for _, p := range []string{f.init, f.shell, f.iscsi} {
				os.Chtimes(p, later, later)
			}
			b, _ := build(t, f.opts(c))
			if !bytes.Equal(a, b) {
				t.Fatalf("two builds differ (%d vs %d bytes)", len(a), len(b))
			}
		})
	}
}

func TestContents(t *testing.T) {
	f := newFixture(t)
	for _, c := range []string{Zstd, Gzip, None} {
		t.Run(c, func(t *testing.T) {
			img, s := build(t, f.opts(c))
			raw := decompress(t, img, c)
			if int64(len(raw)) != s.Uncompressed {
				t.Errorf("Summary.Uncompressed = %d, cpio is %d bytes", s.Uncompressed, len(raw))
			}
			recs := imagetest.Records(t, bytes.NewReader(raw))
			arch, err := cpio.ArchiveFromRecords(recs)
			if err != nil {
				t.Fatal(err)
			}

			md := "lib/modules/" + testKver + "/"
			wantOrder := ""
			for _, p := range []string{
				"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_pci.ko",
				"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
				"kernel/arch/x86/crypto/crc32c-intel.ko", "kernel/lib/libcrc32c.ko", "kernel/fs/xfs/xfs.ko",
				"kernel/drivers/net/fwnic.ko",
			} {
				wantOrder += md + p + "\n"
			}
			wantIndex := "# sidus-go modules index: module NAME GROUP PATH [DEP ...] / alias NAME PATTERN\n" +
				"module virtio_ring boot " + md + "kernel/drivers/virtio/virtio_ring.ko\n" +
				"module virtio boot " + md + "kernel/drivers/virtio/virtio.ko virtio_ring\n" +
				"module virtio_pci boot " + md + "kernel/drivers/virtio/virtio_pci.ko virtio_ring virtio\n" +
				"module failover hw " + md + "kernel/net/core/failover.ko\n" +
				"module net_failover hw " + md + "kernel/drivers/net/net_failover.ko failover\n" +
				"module virtio_net hw " + md + "kernel/drivers/net/virtio_net.ko virtio_ring virtio failover net_failover\n" +
				"alias virtio_net virtio:d00000001v*\n" +
				"module crc32c_intel iscsi " + md + "kernel/arch/x86/crypto/crc32c-intel.ko\n" +
				"module libcrc32c iscsi " + md + "kernel/lib/libcrc32c.ko crc32c_intel\n" +
				"module xfs iscsi " + md + "kernel/fs/xfs/xfs.ko libcrc32c\n" +
				"module fwnic boot " + md + "kernel/drivers/net/fwnic.ko\n"
			initBin, _ := os.ReadFile(f.init)
			iscsi, _ := os.ReadFile(f.iscsi)
			for _, v := range []itest.ArchiveValidator{
				itest.HasContent{Path: layout.Init, Content: string(initBin)},
				imagetest.HasMode{Path: layout.Init, Mode: cpio.S_IFREG | 0o755},
				itest.HasContent{Path: layout.LoadOrder, Content: wantOrder},
				itest.HasContent{Path: layout.ModulesIndex, Content: wantIndex},
				itest.HasDir{Path: "etc/sidus"},
				itest.HasDir{Path: "lib/modules/" + testKver + "/kernel/drivers/virtio"},
				itest.HasFile{Path: md + "kernel/drivers/net/virtio_net.ko"},
				itest.MissingFile{Path: md + "kernel/fs/ext4/ext4.ko"},
				itest.HasContent{Path: layout.FirmwareDir + "/vendor/fw.bin", Content: "FIRMWARE"},
				itest.HasContent{Path: layout.FirmwareDir + "/vendor/fw2.bin.zst", Content: "ZSTFW"},
				imagetest.HasMode{Path: layout.Shell, Mode: cpio.S_IFREG | 0o755},
				imagetest.IsSymlink{Path: "bin/ls", Target: "sh"},
				imagetest.IsSymlink{Path: "bin/mount", Target: "sh"},
				itest.HasContent{Path: layout.ISCSIConf, Content: string(iscsi)},
				imagetest.HasMode{Path: layout.ISCSIConf, Mode: cpio.S_IFREG | 0o600},
				imagetest.IsCharDev{Path: "dev/console", Perm: 0o600, Major: 5, Minor: 1},
				imagetest.IsCharDev{Path: "dev/null", Perm: 0o666, Major: 1, Minor: 3},
				itest.HasDir{Path: "proc"},
			} {
				if err := v.Validate(arch); err != nil {
					t.Error(err)
				}
			}

			// Sorted, each parent before its children, reproducible metadata.
			seen := map[string]bool{".": true}
			var prev string
			for _, r := range recs {
				if r.Name < prev {
					t.Errorf("%s after %s: not sorted", r.Name, prev)
				}
				if !seen[filepath.Dir(r.Name)] {
					t.Errorf("%s comes before (or without) its directory", r.Name)
				}
				if r.UID != 0 || r.GID != 0 || r.MTime != 0 || r.Ino != 0 {
					t.Errorf("%s: uid %d gid %d mtime %d ino %d, want zeros", r.Name, r.UID, r.GID, r.MTime, r.Ino)
				}
				seen[r.Name], prev = true, r.Name
			}

			if !slices.Equal(s.Skipped, []string{"e1000"}) || !slices.Equal(s.Builtin, []string{"crc32c_generic", "ext4"}) {
				t.Errorf("Skipped %v Builtin %v", s.Skipped, s.Builtin)
			}
			if len(s.Modules) != 10 || s.ModulesSize == 0 {
				t.Errorf("%d modules, %d bytes", len(s.Modules), s.ModulesSize)
			}
			if !slices.Equal(s.Firmware, []string{"lib/firmware/vendor/fw.bin", "lib/firmware/vendor/fw2.bin.zst"}) ||
				!slices.Equal(s.MissingFirmware, []string{"fwnic: vendor/missing.bin"}) {
				t.Errorf("Firmware %v, missing %v", s.Firmware, s.MissingFirmware)
			}
		})
	}
}

func TestMTimeAndMinimal(t *testing.T) {
	f := newFixture(t)
	o := Options{BaseDir: f.base, KernelVersion: testKver, Defaults: []string{}, Compression: None, Init: f.init, MTime: 1700000000}
	img, s := build(t, o)
	if len(s.Modules) != 0 {
		t.Errorf("modules %v, want none", names(s.Modules))
	}
	recs := imagetest.Records(t, bytes.NewReader(img))
	arch, _ := cpio.ArchiveFromRecords(recs)
	for _, v := range []itest.ArchiveValidator{
		itest.HasContent{Path: layout.LoadOrder, Content: ""},
		itest.MissingFile{Path: layout.Shell},
		itest.MissingFile{Path: layout.ISCSIConf},
		itest.MissingFile{Path: "bin/ls"},
	} {
		if err := v.Validate(arch); err != nil {
			t.Error(err)
		}
	}
	for _, r := range recs {
		if r.MTime != 1700000000 {
			t.Errorf("%s: mtime %d", r.Name, r.MTime)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	f := newFixture(t)
	dynamic := imagetest.WriteFile(t, "dyn", imagetest.ELF(elf.ET_EXEC, "/lib64/ld-linux-x86-64.so.2", nil, nil), 0o755)
	text := imagetest.WriteFile(t, "script", []byte("#!/bin/sh\n"), 0o755)
	for _, tt := range []struct {
		name string
		mod  func(*Options)
		want []string
	}{
		{"dynamic init", func(o *Options) { o.Init = dynamic }, []string{"init binary", dynamic, "dynamically linked", "ld-linux"}},
		{"script init", func(o *Options) { o.Init = text }, []string{"init binary", "not an ELF"}},
		{"no init", func(o *Options) { o.Init = "" }, []string{"init"}},
		{"missing init", func(o *Options) { o.Init = "/nonexistent/sidus-init" }, []string{"/nonexistent/sidus-init"}},
		{"dynamic shell", func(o *Options) { o.Shell = dynamic }, []string{"shell binary", "dynamically linked"}},
		{"bad compression", func(o *Options) { o.Compression = "lz4" }, []string{`"lz4"`, "zstd, gzip or none"}},
		{"unknown module", func(o *Options) { o.Modules = []string{"nosuch"} }, []string{`"nosuch"`}},
		{"missing iscsi conf", func(o *Options) { o.ISCSIConf = "/nonexistent/iscsi" }, []string{"iscsi", "/nonexistent/iscsi"}},
		{"missing ceph keyring", func(o *Options) { o.CephKeyring = "/nonexistent/keyring" }, []string{"ceph keyring", "/nonexistent/keyring"}},
		{"not a keyring", func(o *Options) { o.CephKeyring = text }, []string{"ceph keyring", "[client.NAME]", "ceph auth get"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := f.opts(Zstd)
			tt.mod(&o)
			_, err := Build(io.Discard, o)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// realKernel finds a real Debian kernel tree (BASEDIR with lib/modules/KVER
// and depmod run): $SIDUS_KERNEL_ROOT, else /var/cache/sidus-go/kernel/root,
// else /tmp/kdl/root. It skips the test if there is none.
func realKernel(t *testing.T) (base, kver string) {
	t.Helper()
	roots := []string{"/var/cache/sidus-go/kernel/root", "/tmp/kdl/root"}
	if env := os.Getenv("SIDUS_KERNEL_ROOT"); env != "" {
		roots = []string{env}
	}
	for _, base := range roots {
		kvers, _ := filepath.Glob(filepath.Join(base, "lib/modules/*/modules.dep"))
		if len(kvers) > 0 {
			return base, filepath.Base(filepath.Dir(kvers[0]))
		}
	}
	t.Skipf("no kernel tree with modules.dep under %v", roots)
	return "", ""
}

// TestRealKernel packs the default set from a real kernel tree, if present.
func TestRealKernel(t *testing.T) {
	base, kver := realKernel(t)
	set, err := Closure(base, kver, nil, DefaultNames())
	if err != nil {
		t.Fatal(err)
	}
	checkTopo(t, set.Modules)
	// The order that booted on the Debian 6.1 cloud kernel, as a subsequence.
	ref := strings.Fields("virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net netfs fscache sunrpc grace lockd nfs dns_resolver nfsv4 nfs_acl nfsv3 overlay scsi_common scsi_mod scsi_transport_iscsi libiscsi libiscsi_tcp iscsi_tcp sd_mod")
	var got []string
	for _, n := range names(set.Modules) {
		if slices.Contains(ref, n) {
			got = append(got, n)
		}
	}
	if strings.HasPrefix(kver, "6.1.") && !slices.Equal(got, ref) {
		t.Errorf("load order of the reference modules:\n got %v\nwant %v", got, ref)
	}
	t.Logf("%s: %d modules: %v; builtin %v; missing %v", kver, len(set.Modules), names(set.Modules), set.Builtin, set.Missing)

	if testing.Short() {
		return
	}
	init := imagetest.WriteFile(t, "sidus-init", imagetest.ELF(elf.ET_EXEC, "", nil, nil), 0o755)
	o := Options{BaseDir: base, KernelVersion: kver, Init: init}
	a, s := build(t, o)
	b, _ := build(t, o)
	if !bytes.Equal(a, b) {
		t.Error("two builds of the real kernel differ")
	}
	recs := imagetest.Records(t, bytes.NewReader(decompress(t, a, Zstd)))
	if len(recs) < len(s.Modules) {
		t.Errorf("%d records for %d modules", len(recs), len(s.Modules))
	}
	t.Logf("zstd image: %d modules (%d bytes), cpio %d bytes, compressed %d bytes", len(s.Modules), s.ModulesSize, s.Uncompressed, s.Compressed)
}

// TestRealKernelIndex builds an image from a real kernel tree and plans a
// QEMU boot (virtio-net-pci NIC) from its modules index, as the init does.
func TestRealKernelIndex(t *testing.T) {
	base, kver := realKernel(t)
	init := imagetest.WriteFile(t, "sidus-init", imagetest.ELF(elf.ET_EXEC, "", nil, nil), 0o755)
	var log bytes.Buffer
	img, s := build(t, Options{BaseDir: base, KernelVersion: kver, Init: init, Compression: None, Log: &log})
	arch, err := cpio.ArchiveFromRecords(imagetest.Records(t, bytes.NewReader(img)))
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := arch.Get(layout.ModulesIndex)
	if !ok {
		t.Fatalf("no %s in the image", layout.ModulesIndex)
	}
	ix, err := kmod.ReadIndex(io.NewSectionReader(rec.ReaderAt, 0, int64(rec.FileSize)))
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Modules) != len(s.Modules) {
		t.Errorf("index has %d modules, image %d", len(ix.Modules), len(s.Modules))
	}
	groups := map[string][]string{}
	for _, m := range ix.Modules {
		groups[m.Group] = append(groups[m.Group], m.Name)
		if _, ok := arch.Get(m.Path); !ok {
			t.Errorf("%s: %s not in the image", m.Name, m.Path)
		}
	}
	t.Logf("%s: index %d bytes; groups %v; notes: %s", kver, rec.FileSize, groups, log.String())

	// The init's two passes: before and after virtio_pci is loaded.
	pci := "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
	virtio := "virtio:d00000001v00001AF4"
	check := func(plan []kmod.Module, want, not []string) {
		t.Helper()
		var got []string
		pos := map[string]int{}
		for i, m := range plan {
			got = append(got, m.Name)
			if _, dup := pos[m.Name]; dup {
				t.Errorf("%s twice", m.Name)
			}
			pos[m.Name] = i
		}
		for i, m := range plan {
			for _, d := range m.Deps {
				if j, ok := pos[d]; !ok || j >= i {
					t.Errorf("%s needs %s, not before it", m.Name, d)
				}
			}
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("plan lacks %s: %v", w, got)
			}
		}
		for _, n := range not {
			if slices.Contains(got, n) {
				t.Errorf("plan has %s: %v", n, got)
			}
		}
		t.Logf("plan: %d modules: %v", len(got), got)
	}
	boot := []string{"virtio_pci", "virtio_net", "nfsv4", "nfsv3", "overlay"}
	iscsi := []string{"iscsi_tcp", "sd_mod", "xfs"}
	check(ix.Plan([]string{kmod.GroupBoot}, []string{pci}), []string{"virtio_pci", "nfsv4", "nfsv3", "overlay"},
		append([]string{"virtio_net", "mlx5_core"}, iscsi...))
	check(ix.Plan([]string{kmod.GroupBoot}, []string{pci, virtio}), boot, append([]string{"mlx5_core"}, iscsi...))
	check(ix.Plan([]string{kmod.GroupBoot, kmod.GroupISCSI}, []string{pci, virtio}), append(boot, iscsi...), []string{"mlx5_core"})
	check(ix.Plan([]string{kmod.GroupBoot}, []string{"pci:v000015B3d00001017sv000015B3sd00000001bc02sc00i00"}),
		[]string{"mlx5_core", "nfsv4"}, []string{"virtio_net", "xfs"})

	// The same through LoadForHardware, with sysfs changing as the
	// fake kernel loads virtio_pci.
	var loaded []string
	l := kmod.Loader{DryRun: func(p string) { loaded = append(loaded, kmod.ModName(p)) }, Done: map[string]error{}}
	n, failed := ix.LoadForHardware(l, func() ([]string, error) {
		if slices.Contains(loaded, "virtio_pci") {
			return []string{pci, virtio}, nil
		}
		return []string{pci}, nil
	}, kmod.GroupBoot)
	if len(failed) > 0 || n != len(loaded) || !slices.Contains(loaded, "virtio_net") || slices.Contains(loaded, "xfs") {
		t.Errorf("LoadForHardware: %d %v, failed %v", n, loaded, failed)
	}
	before := len(loaded)
	if n, failed := ix.LoadForHardware(l, nil, kmod.GroupISCSI); len(failed) > 0 || n == 0 || !slices.Contains(loaded[before:], "iscsi_tcp") {
		t.Errorf("iscsi stage: %d %v, failed %v", n, loaded[before:], failed)
	}
}

// An agent that is the init itself (one multi-call binary) is packed once:
// layout.Agent links to the init; another agent is a file of its own.
func TestAgentSameAsInitIsALink(t *testing.T) {
	f := newFixture(t)
	o := f.opts(None)
	o.Agent = f.init
	img, _ := build(t, o)
	arch, err := cpio.ArchiveFromRecords(imagetest.Records(t, bytes.NewReader(img)))
	if err != nil {
		t.Fatal(err)
	}
	if err := (imagetest.IsSymlink{Path: layout.Agent, Target: "../" + layout.Init}).Validate(arch); err != nil {
		t.Error(err)
	}
	o.Agent = imagetest.WriteFile(t, "sidus-agent", imagetest.ELFWith(elf.ET_EXEC, "",
		imagetest.Section{Name: ".text", Type: elf.SHT_PROGBITS, Data: []byte("another agent")}), 0o755)
	img, _ = build(t, o)
	if arch, err = cpio.ArchiveFromRecords(imagetest.Records(t, bytes.NewReader(img))); err != nil {
		t.Fatal(err)
	}
	if err := (imagetest.HasMode{Path: layout.Agent, Mode: cpio.S_IFREG | 0o755}).Validate(arch); err != nil {
		t.Error(err)
	}
}

// TestCephKeyring: --ceph-keyring is packed root-only at layout.CephKeyring.
func TestCephKeyring(t *testing.T) {
	f := newFixture(t)
	o := f.opts(None)
	ring := "[client.node]\n\tkey = AQBzKk1nAAAAABAAm3XxYJ3kQ0l0mQ6m1w4mNg==\n"
	o.CephKeyring = imagetest.WriteFile(t, "keyring", []byte(ring), 0o644)
	data, _ := build(t, o)
	arch, err := cpio.ArchiveFromRecords(imagetest.Records(t, bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []itest.ArchiveValidator{
		itest.HasContent{Path: layout.CephKeyring, Content: ring},
		imagetest.HasMode{Path: layout.CephKeyring, Mode: cpio.S_IFREG | 0o600},
	} {
		if err := v.Validate(arch); err != nil {
			t.Error(err)
		}
	}
}
