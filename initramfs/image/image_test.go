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
			initBin, _ := os.ReadFile(f.init)
			iscsi, _ := os.ReadFile(f.iscsi)
			for _, v := range []itest.ArchiveValidator{
				itest.HasContent{Path: layout.Init, Content: string(initBin)},
				imagetest.HasMode{Path: layout.Init, Mode: cpio.S_IFREG | 0o755},
				itest.HasContent{Path: layout.LoadOrder, Content: wantOrder},
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

// TestRealKernel packs the default set from a real Debian kernel tree
// (BASEDIR with lib/modules/KVER and depmod run) if one is present:
// $SIDUS_KERNEL_ROOT, else /var/cache/sidus-go/kernel/root.
func TestRealKernel(t *testing.T) {
	base := os.Getenv("SIDUS_KERNEL_ROOT")
	if base == "" {
		base = "/var/cache/sidus-go/kernel/root"
	}
	kvers, _ := filepath.Glob(filepath.Join(base, "lib/modules/*/modules.dep"))
	if len(kvers) == 0 {
		t.Skipf("no kernel tree with modules.dep under %s", base)
	}
	kver := filepath.Base(filepath.Dir(kvers[0]))
	set, err := Closure(base, kver, nil, DefaultModules)
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
