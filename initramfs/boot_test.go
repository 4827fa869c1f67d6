package initramfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeSys records every side effect of Boot.
type fakeSys struct {
	calls     []string
	files     map[string]string
	links     []Link
	lease     *Lease
	dhcpFails int // DHCP attempts that fail before one succeeds
	mountFail map[string]int
	loadFail  map[string]bool
	switched  string
}

func newFake() *fakeSys {
	return &fakeSys{
		files: map[string]string{
			"/etc/sidus/modules.load": "lib/modules/k/virtio.ko\nlib/modules/k/virtio_net.ko\nlib/modules/k/nfs.ko\n",
			"/proc/filesystems":       "nodev\ttmpfs\nnodev\tnfs\nnodev\toverlay\n",
		},
		links: []Link{{Name: "eth0", MAC: "52:54:00:12:34:56", Carrier: true}},
		lease: &Lease{Device: "eth0", Proto: "dhcp", IP: net.IPv4(10, 0, 0, 5).To4(), Netmask: net.CIDRMask(24, 32),
			ServerID: net.IPv4(10, 0, 0, 1).To4(), NextServer: net.IPv4(10, 0, 0, 2).To4(), RootPath: "/srv/nfsroot/sidus"},
		mountFail: map[string]int{},
		loadFail:  map[string]bool{},
	}
}

func (f *fakeSys) rec(format string, a ...any) { f.calls = append(f.calls, fmt.Sprintf(format, a...)) }

func (f *fakeSys) Mount(src, dst, fs string, flags uintptr, data string) error {
	f.rec("mount %s %s %s %#x %s", src, dst, fs, flags, data)
	if f.mountFail[dst] > 0 {
		f.mountFail[dst]--
		return &os.PathError{Op: "mount", Path: dst, Err: errors.New("connection refused")}
	}
	return nil
}
func (f *fakeSys) MkdirAll(p string) error { return nil }
func (f *fakeSys) Remove(p string) error   { delete(f.files, p); return nil }
func (f *fakeSys) ReadFile(p string) ([]byte, error) {
	if s, ok := f.files[p]; ok {
		return []byte(s), nil
	}
	return nil, os.ErrNotExist
}
func (f *fakeSys) WriteFile(p string, d []byte, _ os.FileMode) error {
	f.files[p] = string(d)
	f.rec("write %s", p)
	return nil
}
func (f *fakeSys) LoadModule(p string) error {
	f.rec("load %s", p)
	if f.loadFail[p] {
		return errors.New("no such device")
	}
	return nil
}
func (f *fakeSys) Net() Network                                     { return f }
func (f *fakeSys) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }
func (f *fakeSys) Links() ([]Link, error)                           { return f.links, nil }
func (f *fakeSys) Up(n string) error                                { return nil }
func (f *fakeSys) DHCP(ctx context.Context, n string, xid uint32, h string) (*Lease, error) {
	f.rec("dhcp %s", n)
	if f.dhcpFails > 0 {
		f.dhcpFails--
		return nil, errors.New("no offer")
	}
	return f.lease, nil
}
func (f *fakeSys) Configure(n string, l *Lease) error {
	f.rec("configure %s %s", n, l.IP)
	return nil
}
func (f *fakeSys) SwitchRoot(root, init string, args []string) error {
	f.switched = root + " " + init
	f.rec("switch_root %s %s", root, init)
	return errors.New("exec stopped by test")
}
func (f *fakeSys) Shell(reason string) error { f.rec("shell %s", reason); return ErrNoShell }

func boot(t *testing.T, f *fakeSys, cmdline string) (*Result, error) {
	t.Helper()
	cfg, err := Parse(cmdline, nil)
	if err != nil {
		t.Fatalf("Parse(%q): %v", cmdline, err)
	}
	return Boot(context.Background(), cfg, f, f, NewLogger(io.Discard, nil))
}

func has(calls []string, prefix string) int {
	for i, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return i
		}
	}
	return -1
}

const seedTmpfs = "console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=,rsize=8192,wsize=8192,tcp ip=dhcp aufs=tmpfs"

func TestBootSeedTmpfs(t *testing.T) {
	f := newFake()
	f.dhcpFails = 2
	f.mountFail["/ro"] = 4 // the first attempt fails for all versions, then v4.2 fails once more
	res, err := boot(t, f, seedTmpfs)
	if err == nil || !strings.Contains(err.Error(), "exec stopped by test") {
		t.Fatalf("Boot: %v, want the fake exec error", err)
	}
	// The rootaufs steps, in order.
	order := []string{
		"load /lib/modules/k/virtio.ko",
		"dhcp eth0",
		"configure eth0 10.0.0.5",
		"mount 10.0.0.2:/srv/nfsroot/sidus /ro nfs 0x1 ",
		"mount tmpfs /rw tmpfs 0x0 mode=0755",
		"mount overlay /aufs overlay 0x0 lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work,redirect_dir=off",
		"mount /ro /aufs/ro  0x2000",
		"mount /rw /aufs/rw  0x2000",
		"switch_root /aufs /sbin/init",
	}
	last := -1
	for _, o := range order {
		i := has(f.calls[last+1:], o)
		if i < 0 {
			t.Fatalf("missing %q after call %d in:\n%s", o, last, strings.Join(f.calls, "\n"))
		}
		last += i + 1
	}
	if res.NFSVersion != "4.1" || res.Modules != 3 {
		t.Errorf("result: version %q modules %d", res.NFSVersion, res.Modules)
	}
	if c := f.files["/run/net-eth0.conf"]; !strings.Contains(c, "IPV4ADDR='10.0.0.5'") || !strings.Contains(c, "ROOTPATH='/srv/nfsroot/sidus'") {
		t.Errorf("net conf:\n%s", c)
	}
	if r := f.files[ReportPath]; !strings.Contains(r, `"name": "nfs"`) {
		t.Errorf("boot report:\n%s", r)
	}
}

func TestBootStaticIPNoDHCP(t *testing.T) {
	f := newFake()
	_, _ = boot(t, f, "root=/dev/nfs nfsroot=192.168.1.1:/srv/nfsroot/sidus,vers=3 ip=192.168.1.10::192.168.1.254:255.255.255.0:node1:eth0:off")
	if has(f.calls, "dhcp") >= 0 {
		t.Errorf("static ip= ran DHCP: %v", f.calls)
	}
	if has(f.calls, "configure eth0 192.168.1.10") < 0 || has(f.calls, "mount 192.168.1.1:/srv/nfsroot/sidus /ro nfs 0x1 ") < 0 {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
	if i := has(f.calls, "mount 192.168.1.1"); i >= 0 && !strings.Contains(f.calls[i], "vers=3") {
		t.Errorf("nfs mount without vers=3: %s", f.calls[i])
	}
}

func TestBootNFSFallsBackToV3(t *testing.T) {
	f := newFake()
	f.mountFail["/ro"] = 2 // v4.2 and v4.1 refused, v3 then works
	res, _ := boot(t, f, seedTmpfs)
	if res.NFSVersion != "3" {
		t.Errorf("NFS version %q, want 3 after v4 failed", res.NFSVersion)
	}
}

func TestBootRootDelayBoundsNFSWait(t *testing.T) {
	f := newFake()
	f.mountFail["/ro"] = 1 << 30
	cfg, err := Parse(seedTmpfs+" rootdelay=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := &slowSleep{f}
	_, err = Boot(ctx, cfg, fs, f, NewLogger(io.Discard, nil))
	if err == nil || !strings.Contains(err.Error(), "rootdelay=1") || !strings.Contains(err.Error(), "is the NFS server running") {
		t.Fatalf("err = %v, want a rootdelay diagnosis", err)
	}
}

// slowSleep really sleeps a little so a rootdelay bound can pass.
type slowSleep struct{ *fakeSys }

func (s *slowSleep) Sleep(ctx context.Context, _ time.Duration) error {
	time.Sleep(100 * time.Millisecond)
	return ctx.Err()
}

func TestBootBreakOffersShellThenContinues(t *testing.T) {
	f := newFake()
	_, _ = boot(t, f, seedTmpfs+" break=union")
	i, j := has(f.calls, "shell break=union"), has(f.calls, "mount overlay")
	if i < 0 || j < i {
		t.Errorf("want shell before the union, calls:\n%s", strings.Join(f.calls, "\n"))
	}
}

func TestBootModuleFailureIsNotFatal(t *testing.T) {
	f := newFake()
	f.loadFail["/lib/modules/k/virtio.ko"] = true
	res, _ := boot(t, f, seedTmpfs)
	if res.Modules != 2 || f.switched == "" {
		t.Errorf("modules %d switched %q", res.Modules, f.switched)
	}
}

func TestPickLink(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:00:00:02")
	links := []Link{{Name: "ens3", MAC: "52:54:00:00:00:01"}, {Name: "ens4", MAC: "52:54:00:00:00:02", Carrier: true}}
	for _, tc := range []struct {
		name   string
		links  []Link
		bootif net.HardwareAddr
		dev    string
		want   string
	}{
		{"bootif", links, mac, "", "ens4"},
		{"bootif absent", links[:1], mac, "", ""},
		{"device", links, nil, "ens3", "ens3"},
		{"eth0", append(links, Link{Name: "eth0"}), nil, "", "eth0"},
		{"carrier", links, nil, "", "ens4"},
		{"none", links[:1], nil, "", ""},
	} {
		if got, _ := PickLink(tc.links, tc.bootif, tc.dev); got != tc.want {
			t.Errorf("%s: got %q want %q", tc.name, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := backoff(n, 10*time.Second, 0.5); got != want {
			t.Errorf("backoff(%d) = %v want %v", n, got, want)
		}
	}
	if lo, hi := backoff(3, time.Minute, 0), backoff(3, time.Minute, 0.999); lo >= hi || lo < 6*time.Second || hi > 10*time.Second {
		t.Errorf("jitter range %v..%v", lo, hi)
	}
}
