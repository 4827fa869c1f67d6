package kmod

import (
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const md = "lib/modules/6.1.0-test/kernel/"

const fakeIndex = `# test index
module virtio_ring boot ` + md + `drivers/virtio/virtio_ring.ko
module virtio boot ` + md + `drivers/virtio/virtio.ko virtio_ring
module virtio_pci boot ` + md + `drivers/virtio/virtio_pci.ko virtio virtio_ring
module failover hw ` + md + `net/core/failover.ko
module net_failover hw ` + md + `drivers/net/net_failover.ko failover
module virtio_net hw ` + md + `drivers/net/virtio_net.ko net_failover virtio virtio_ring
alias virtio_net virtio:d00000001v*
module e1000e hw ` + md + `drivers/net/ethernet/intel/e1000e/e1000e.ko
alias e1000e pci:v00008086d000010D3sv*sd*bc*sc*i*
alias e1000e pci:v00008086d000010D5sv*sd*bc*sc*i*
module mlxfw hw ` + md + `drivers/net/ethernet/mellanox/mlxfw/mlxfw.ko
module mlx5_core hw ` + md + `drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko mlxfw
alias mlx5_core pci:v000015B3d00001017sv*sd*bc*sc*i*
module sunrpc boot ` + md + `net/sunrpc/sunrpc.ko
module nfs boot ` + md + `fs/nfs/nfs.ko sunrpc
module nfsv4 boot ` + md + `fs/nfs/nfsv4.ko nfs sunrpc
module overlay boot ` + md + `fs/overlayfs/overlay.ko

module scsi_mod iscsi ` + md + `drivers/scsi/scsi_mod.ko
module iscsi_tcp iscsi ` + md + `drivers/scsi/iscsi_tcp.ko scsi_mod
module sd_mod iscsi ` + md + `drivers/scsi/sd_mod.ko scsi_mod
module xfs iscsi ` + md + `fs/xfs/xfs.ko
`

const (
	virtioNetPCI = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
	virtioNet    = "virtio:d00000001v00001AF4"
	e1000ePCI    = "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"
)

func readFake(t *testing.T) *Index {
	t.Helper()
	ix, err := ReadIndex(strings.NewReader(fakeIndex))
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func names(ms []Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestPlan(t *testing.T) {
	ix := readFake(t)
	boot := []string{"virtio_ring", "virtio", "virtio_pci", "sunrpc", "nfs", "nfsv4", "overlay"}
	for _, tt := range []struct {
		name    string
		groups  []string
		aliases []string
		want    []string
	}{
		{"boot only", []string{"boot"}, nil, boot},
		{"boot, virtio PCI device before virtio_pci", []string{"boot"}, []string{virtioNetPCI}, boot},
		{"virtio net device", []string{"boot"}, []string{virtioNetPCI, virtioNet},
			[]string{"virtio_ring", "virtio", "virtio_pci", "failover", "net_failover", "virtio_net", "sunrpc", "nfs", "nfsv4", "overlay"}},
		{"e1000e", []string{"boot"}, []string{e1000ePCI, "cpu:type:x86,ven0000fam0006mod003F:feature:,0000"},
			[]string{"virtio_ring", "virtio", "virtio_pci", "e1000e", "sunrpc", "nfs", "nfsv4", "overlay"}},
		{"mlx5 device", nil, []string{"pci:v000015B3d00001017sv000015B3sd00000001bc02sc00i00"}, []string{"mlxfw", "mlx5_core"}},
		{"mlx5 id prefix only", nil, []string{"pci:v000015B3d00001018sv000015B3sd00000001bc02sc00i00"}, nil},
		{"iscsi", []string{"iscsi"}, nil, []string{"scsi_mod", "iscsi_tcp", "sd_mod", "xfs"}},
		{"boot+iscsi", []string{"boot", "iscsi"}, []string{virtioNet}, []string{
			"virtio_ring", "virtio", "virtio_pci", "failover", "net_failover", "virtio_net", "sunrpc", "nfs", "nfsv4", "overlay",
			"scsi_mod", "iscsi_tcp", "sd_mod", "xfs"}},
		{"dedup repeated aliases", []string{"boot"}, []string{virtioNet, virtioNet, " " + virtioNet + "\n"},
			[]string{"virtio_ring", "virtio", "virtio_pci", "failover", "net_failover", "virtio_net", "sunrpc", "nfs", "nfsv4", "overlay"}},
		{"nothing", nil, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Plan(tt.groups, tt.aliases)
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("Plan(%v, %v)\n got %v\nwant %v", tt.groups, tt.aliases, names(got), tt.want)
			}
			pos := map[string]int{}
			for i, m := range got {
				if _, dup := pos[m.Name]; dup {
					t.Errorf("%s twice", m.Name)
				}
				pos[m.Name] = i
			}
			for i, m := range got {
				for _, d := range m.Deps {
					if j, ok := pos[d]; !ok || j >= i {
						t.Errorf("%s at %d needs %s (at %d, %v)", m.Name, i, d, j, ok)
					}
				}
			}
		})
	}
	if m, ok := ix.Lookup("e1000e"); !ok || len(m.Aliases) != 2 || m.Path != md+"drivers/net/ethernet/intel/e1000e/e1000e.ko" {
		t.Errorf("Lookup(e1000e) = %+v, %v", m, ok)
	}
}

func TestReadIndexErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"module a boot a.ko\nmodule b boot b.ko c\n", "line 2"},
		{"module a boot\n", "line 1"},
		{"# x\n\nalias a pci:*\n", "line 3"},
		{"module a boot a.ko\nmodule a boot a.ko\n", "twice"},
		{"module a boot a.ko\nfirmware a x\n", `unknown record "firmware"`},
	} {
		_, err := ReadIndex(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadIndex(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestWriteRoundTrip(t *testing.T) {
	ix := readFake(t)
	var b strings.Builder
	if _, err := ix.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	again, err := ReadIndex(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Modules) != len(ix.Modules) {
		t.Fatalf("%d modules, want %d", len(again.Modules), len(ix.Modules))
	}
	for i := range ix.Modules {
		a, b := ix.Modules[i], again.Modules[i]
		if a.Name != b.Name || a.Group != b.Group || a.Path != b.Path || !slices.Equal(a.Deps, b.Deps) || !slices.Equal(a.Aliases, b.Aliases) {
			t.Errorf("%+v became %+v", a, b)
		}
	}
	bad := &Index{Modules: []Module{{Name: "b", Group: "boot", Path: "b.ko", Deps: []string{"a"}}}}
	if _, err := bad.WriteTo(&b); err == nil {
		t.Error("WriteTo with a dep listed after: no error")
	}
	bad = &Index{Modules: []Module{{Name: "a b", Group: "boot", Path: "b.ko"}}}
	if _, err := bad.WriteTo(&b); err == nil {
		t.Error("WriteTo with a blank in a name: no error")
	}
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		pat, name string
		want      bool
	}{
		{"pci:v00008086d000010D3sv*sd*bc*sc*i*", e1000ePCI, true},
		{"pci:v00008086d000010D5sv*sd*bc*sc*i*", e1000ePCI, false},
		{"virtio:d00000001v*", virtioNet, true},
		{"virtio:d00000001v*", "virtio:d00000002v00001AF4", false},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", virtioNetPCI, true},
		{"pci:v*d*sv*sd*bc02sc00i*", virtioNetPCI, true},
		{"pci:v*d*sv*sd*bc01sc*i*", virtioNetPCI, false},
		{"usb:v0B95p1790d*dc*dsc*dp*ic*isc*ip*in*", "usb:v0B95p1790d0100dcFFdscFFdp00icFFiscFFip00in00", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"x[0-9]y", "x5y", true},
		{"x[!0-9]y", "x5y", false},
		{"x[^0-9]y", "xay", true},
		{"x[]]y", "x]y", true},
		{"x[ab", "x[ab", true},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"of:N*T*Cfoo/bar", "of:NxTyCfoo/bar", true},
		{"a*b*c", "aXbYbZc", true},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
	} {
		if got := Match(tt.pat, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pat, tt.name, got, tt.want)
		}
		if !strings.Contains(tt.name, "/") && !strings.ContainsAny(tt.pat, `^!\`) && tt.pat != "x[ab" {
			if pm, err := path.Match(tt.pat, tt.name); err == nil && pm != tt.want {
				t.Errorf("path.Match(%q, %q) = %v, Match says %v", tt.pat, tt.name, pm, tt.want)
			}
		}
	}
	if got := normalizeAlias("of:N*T*Cfoo-bar[a-z]"); got != "of:N*T*Cfoo_bar[a-z]" {
		t.Errorf("normalizeAlias = %q", got)
	}
}

func TestModaliases(t *testing.T) {
	sysfs := fstest.MapFS{
		"bus/pci/devices/0000:00:03.0/modalias": {Data: []byte(virtioNetPCI + "\n")},
		"bus/pci/devices/0000:00:04.0/modalias": {Data: []byte(virtioNetPCI + "\n")},
		"bus/pci/devices/0000:00:00.0/vendor":   {Data: []byte("0x8086\n")},
		"bus/virtio/devices/virtio0/modalias":   {Data: []byte(virtioNet + "\n")},
		"bus/virtio/drivers_probe":              {Data: nil},
		"bus/empty/uevent":                      {Data: nil},
	}
	got, err := Modaliases(sysfs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{virtioNetPCI, virtioNet}; !slices.Equal(got, want) {
		t.Errorf("Modaliases = %q, want %q", got, want)
	}
	if got, err := Modaliases(fstest.MapFS{}); err != nil || got != nil {
		t.Errorf("empty sysfs: %v, %v", got, err)
	}
}

// fakeKernel records loads; it fails the paths in fail.
type fakeKernel struct {
	loaded []string
	fail   map[string]bool
}

func (k *fakeKernel) load(p string) error {
	name := ModName(p)
	if k.fail[name] {
		return errors.New("Unknown symbol in module")
	}
	if slices.Contains(k.loaded, name) {
		return nil // EEXIST
	}
	k.loaded = append(k.loaded, name)
	return nil
}

func TestLoadForHardware(t *testing.T) {
	ix := readFake(t)
	k := &fakeKernel{}
	// Devices on the virtio bus appear only once virtio_pci is loaded.
	reads := 0
	readAliases := func() ([]string, error) {
		reads++
		if slices.Contains(k.loaded, "virtio_pci") {
			return []string{virtioNetPCI, virtioNet}, nil
		}
		return []string{virtioNetPCI}, nil
	}
	l := Loader{Load: k.load, Done: map[string]error{}}
	n, failed := ix.LoadForHardware(l, readAliases, GroupBoot)
	want := []string{"virtio_ring", "virtio", "virtio_pci", "sunrpc", "nfs", "nfsv4", "overlay", "failover", "net_failover", "virtio_net"}
	if !slices.Equal(k.loaded, want) || n != len(want) || len(failed) != 0 {
		t.Errorf("loaded %d %v, failed %v\nwant %v", n, k.loaded, failed, want)
	}
	if reads != 2 {
		t.Errorf("read modaliases %d times, want 2 (a pass loading virtio_net, a pass finding nothing new)", reads)
	}
	// The iSCSI stage: only the new modules.
	n, failed = ix.LoadForHardware(l, nil, GroupISCSI)
	if n != 4 || len(failed) != 0 || !slices.Equal(k.loaded[len(want):], []string{"scsi_mod", "iscsi_tcp", "sd_mod", "xfs"}) {
		t.Errorf("iscsi: loaded %d %v, failed %v", n, k.loaded, failed)
	}
}

func TestLoadAllFailures(t *testing.T) {
	ix := readFake(t)
	k := &fakeKernel{fail: map[string]bool{"sunrpc": true}}
	var dry []string
	n, failed := Loader{Load: k.load}.LoadAll(ix.Plan([]string{"boot"}, nil))
	// A failed dependency does not stop its dependents from being tried:
	// it may have been a soft one that something built in satisfies.
	if n != 6 || len(failed) != 1 || !strings.Contains(failed[0].Error(), "sunrpc") {
		t.Errorf("loaded %d, failed %v", n, failed)
	}
	if !slices.Equal(k.loaded, []string{"virtio_ring", "virtio", "virtio_pci", "nfs", "nfsv4", "overlay"}) {
		t.Errorf("loaded %v", k.loaded)
	}
	n, failed = Loader{DryRun: func(p string) { dry = append(dry, p) }}.LoadAll(ix.Plan([]string{"iscsi"}, nil))
	if n != 4 || failed != nil || dry[0] != "/"+md+"drivers/scsi/scsi_mod.ko" {
		t.Errorf("dry run: %d %v %v", n, failed, dry)
	}
	// Already loaded is success.
	k2 := &fakeKernel{loaded: []string{"virtio_ring"}}
	if n, failed := (Loader{Load: k2.load}).LoadAll(ix.Plan([]string{"boot"}, nil)); n != 7 || failed != nil {
		t.Errorf("with virtio_ring loaded: %d, %v", n, failed)
	}
}

func TestOpen(t *testing.T) {
	order := "lib/modules/k/kernel/a.ko\nlib/modules/k/kernel/b-c.ko.xz\n"
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if s, ok := m[name]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	ix, err := Open(files(map[string]string{"/etc/sidus/modules.index": fakeIndex, "/etc/sidus/modules.load": order}))
	if err != nil || ix.Fallback || len(ix.Modules) != 17 {
		t.Fatalf("Open with index: %v fallback=%v, %v", ix, ix != nil && ix.Fallback, err)
	}
	for name, m := range map[string]map[string]string{
		"absent":  {"/etc/sidus/modules.load": order},
		"corrupt": {"/etc/sidus/modules.index": "module\n", "/etc/sidus/modules.load": order},
	} {
		ix, err := Open(files(m))
		if err != nil || !ix.Fallback || ix.Note == "" {
			t.Fatalf("%s: %+v, %v", name, ix, err)
		}
		if got := names(ix.Plan([]string{GroupBoot}, nil)); !slices.Equal(got, []string{"a", "b_c"}) {
			t.Errorf("%s: fallback plan %v", name, got)
		}
		if got := ix.Plan([]string{GroupISCSI}, []string{virtioNet}); got != nil {
			t.Errorf("%s: fallback iscsi plan %v", name, names(got))
		}
	}
	if _, err := Open(files(nil)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no files: %v", err)
	}
}

func TestModName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/arch/x86/crypto/crc32c-intel.ko": "crc32c_intel",
		"virtio_net.ko.xz":                       "virtio_net",
		"a/b/c.ko.zst":                           "c",
		"x.ko.gz":                                "x",
		"nfsv4":                                  "nfsv4",
		"scsi-transport-iscsi":                   "scsi_transport_iscsi",
	} {
		if got := ModName(in); got != want {
			t.Errorf("ModName(%q) = %q, want %q", in, got, want)
		}
	}
}
