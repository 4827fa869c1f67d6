package image

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/sidus-go/sidus/initramfs/image/imagetest"
	"github.com/ulikunitz/xz"
)

const testKver = "6.1.0-test-amd64"

// fakeMods is a small tree shaped like the cloud kernel's virtio/xfs corner.
var fakeMods = []imagetest.Mod{
	{Path: "kernel/drivers/virtio/virtio_ring.ko"},
	{Path: "kernel/drivers/virtio/virtio.ko", Modinfo: []string{"depends=virtio_ring"}},
	{Path: "kernel/drivers/virtio/virtio_pci.ko", Modinfo: []string{"depends=virtio,virtio_ring", "alias=pci:v00001AF4d*"}},
	{Path: "kernel/net/core/failover.ko"},
	{Path: "kernel/drivers/net/net_failover.ko", Modinfo: []string{"depends=failover"}},
	{Path: "kernel/drivers/net/virtio_net.ko", Modinfo: []string{"depends=net_failover,virtio,virtio_ring", "alias=virtio:d00000001v*"}},
	{Path: "kernel/lib/libcrc32c.ko", Modinfo: []string{"softdep=pre: crc32c", "depends="}},
	{Path: "kernel/arch/x86/crypto/crc32c-intel.ko"},
	{Path: "kernel/fs/xfs/xfs.ko", Modinfo: []string{"depends=libcrc32c"}},
	{Path: "kernel/drivers/net/fwnic.ko", Modinfo: []string{"firmware=vendor/fw.bin", "firmware=vendor/missing.bin", "firmware=vendor/fw2.bin"}},
}

const fakeDep = `kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/lib/libcrc32c.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko
kernel/drivers/net/fwnic.ko:
`

func fakeIndex(withDep bool) map[string]string {
	idx := map[string]string{
		"modules.builtin": "kernel/fs/ext4/ext4.ko\nkernel/crypto/crc32c_generic.ko\n",
		"modules.alias":   "# Aliases\nalias crc32c crc32c_intel\nalias crc32c crc32c_generic\nalias pci:v00001AF4d* virtio_pci\n",
		"modules.softdep": "# Soft dependencies\nsoftdep xfs pre: no-such-helper\n",
	}
	if withDep {
		idx["modules.dep"] = fakeDep
	}
	return idx
}

func names(ms []Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// checkTopo checks every module's dependencies come before it.
func checkTopo(t *testing.T, ms []Module) {
	t.Helper()
	pos := map[string]int{}
	for i, m := range ms {
		pos[m.Name] = i
	}
	for i, m := range ms {
		for _, d := range m.Deps {
			if j, ok := pos[d]; !ok || j >= i {
				t.Errorf("%s (at %d) needs %s, which is at %d (ok=%v)", m.Name, i, d, j, ok)
			}
		}
	}
}

func TestClosure(t *testing.T) {
	optional := []string{"virtio_pci", "virtio-net", "e1000", "nfs", "ext4", "xfs", "fwnic"}
	want := []string{"virtio_ring", "virtio", "virtio_pci", "failover", "net_failover", "virtio_net", "crc32c_intel", "libcrc32c", "xfs", "fwnic"}
	for _, withDep := range []bool{true, false} {
		t.Run(map[bool]string{true: "modules.dep", false: "modinfo"}[withDep], func(t *testing.T) {
			base := imagetest.Kernel(t, testKver, fakeMods, fakeIndex(withDep), nil)
			set, err := Closure(base, testKver, []string{"crc32c_generic"}, optional)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(set.Modules); !slices.Equal(got, want) {
				t.Errorf("order:\n got %v\nwant %v", got, want)
			}
			checkTopo(t, set.Modules)
			if !slices.Equal(set.Builtin, []string{"crc32c_generic", "ext4"}) {
				t.Errorf("Builtin = %v", set.Builtin)
			}
			if !slices.Equal(set.Missing, []string{"e1000", "nfs"}) {
				t.Errorf("Missing = %v", set.Missing)
			}
			if set.FromDep != withDep {
				t.Errorf("FromDep = %v, want %v", set.FromDep, withDep)
			}
			m := set.Modules[slices.Index(want, "virtio_net")]
			if m.Path != "kernel/drivers/net/virtio_net.ko" || m.Size == 0 || !slices.Contains(m.Deps, "virtio") {
				t.Errorf("virtio_net = %+v", m)
			}
			fw := set.Modules[len(set.Modules)-1]
			if !slices.Equal(fw.Firmware, []string{"vendor/fw.bin", "vendor/missing.bin", "vendor/fw2.bin"}) {
				t.Errorf("fwnic firmware = %v", fw.Firmware)
			}
			// Deterministic: same answer again.
			again, err := Closure(base, testKver, []string{"crc32c_generic"}, optional)
			if err != nil || !slices.Equal(names(again.Modules), want) {
				t.Errorf("second Closure = %v, %v", names(again.Modules), err)
			}
		})
	}
}

func TestClosureErrors(t *testing.T) {
	mods := append(slices.Clone(fakeMods),
		imagetest.Mod{Path: "kernel/drivers/net/brokennic.ko", Modinfo: []string{"depends=failover,nothere"}},
		imagetest.Mod{Path: "kernel/a.ko", Modinfo: []string{"depends=b"}},
		imagetest.Mod{Path: "kernel/b.ko", Modinfo: []string{"depends=a"}},
	)
	base := imagetest.Kernel(t, testKver, mods, fakeIndex(false), nil)
	for _, tt := range []struct {
		name     string
		base     string
		kver     string
		required []string
		want     []string
	}{
		{"unknown required", base, testKver, []string{"virtio_net", "nosuch"}, []string{`"nosuch"`, "modules.builtin"}},
		{"missing dependency", base, testKver, []string{"brokennic"}, []string{"nothere", "brokennic", "depmod"}},
		{"cycle", base, testKver, []string{"a"}, []string{"cycle", "a -> b -> a"}},
		{"no kernel", base, "5.10.0-nope", []string{"virtio"}, []string{"5.10.0-nope", "KVERSION"}},
		{"empty kver", base, "", nil, []string{"kernel version"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Closure(tt.base, tt.kver, tt.required, nil)
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
	// A missing optional module is not an error.
	if set, err := Closure(base, testKver, nil, []string{"nosuch"}); err != nil || !slices.Equal(set.Missing, []string{"nosuch"}) {
		t.Errorf("optional nosuch: %v, %v", set, err)
	}
}

func TestCompressedModules(t *testing.T) {
	base := imagetest.Kernel(t, testKver, fakeMods[:6], nil, nil)
	dir := filepath.Join(base, "lib", "modules", testKver, "kernel", "extra")
	raw := imagetest.ELF(elf.ET_REL, "", []string{"depends=virtio_net", "firmware=z.bin"}, nil)
	compress := map[string]func(*bytes.Buffer){
		"zx.ko.xz": func(b *bytes.Buffer) {
			w, _ := xz.NewWriter(b)
			w.Write(raw)
			w.Close()
		},
		"zz.ko.zst": func(b *bytes.Buffer) {
			w, _ := zstd.NewWriter(b)
			w.Write(raw)
			w.Close()
		},
		"zg.ko.gz": func(b *bytes.Buffer) {
			w := gzip.NewWriter(b)
			w.Write(raw)
			w.Close()
		},
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, c := range compress {
		var b bytes.Buffer
		c(&b)
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := Closure(base, testKver, []string{"zx", "zz", "zg"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := names(set.Modules)
	want := []string{"failover", "net_failover", "virtio_ring", "virtio", "virtio_net", "zx", "zz", "zg"} // modinfo: deps in sorted order
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	for _, m := range set.Modules[5:] {
		if !m.Compressed() || !slices.Equal(m.Firmware, []string{"z.bin"}) {
			t.Errorf("%s: Compressed()=%v Firmware=%v", m.Path, m.Compressed(), m.Firmware)
		}
	}
}

func TestParseModinfo(t *testing.T) {
	mi := parseModinfo([]byte("license=GPL\x00depends=a,b-c,\x00softdep=pre: x y post: z\x00firmware=v/f.bin\x00firmware=v/g.bin\x00name=m\x00junk\x00"))
	if !slices.Equal(mi.depends, []string{"a", "b-c"}) || !slices.Equal(mi.softPre, []string{"x", "y"}) ||
		!slices.Equal(mi.firmware, []string{"v/f.bin", "v/g.bin"}) {
		t.Errorf("parseModinfo = %+v", mi)
	}
	pre, post := parseSoftdep("pre: a b post: c pre: d")
	if !slices.Equal(pre, []string{"a", "b", "d"}) || !slices.Equal(post, []string{"c"}) {
		t.Errorf("parseSoftdep = %v %v", pre, post)
	}
}
