package initramfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/netconf"
)

// fakeSys records every side effect of Boot and keeps its files in memory.
// Its clock moves only when Boot sleeps.
type fakeSys struct {
	mu        sync.Mutex // rec, for a background module load
	calls     []string
	files     map[string]string
	links     []Link
	lease     *Lease
	hosts     map[string][]string // LookupHost answers
	dhcpFails int                 // DHCP attempts that fail before one succeeds
	devLease  map[string]*Lease   // DHCP's answer by interface (else lease)
	netFail   map[string]error    // Network calls that fail, by "OP DEV" (up, down, rename, mtu, mac, dhcp, configure)
	mountFail map[string]int
	mountErr  map[string]error // mounts whose source starts with the key ("10.0.0.1:") fail with it, as an *os.PathError; before mountFail
	loadFail  map[string]bool
	switched  string
	initArgs  []string
	agent     *AgentStart
	now       time.Time
}

func newFake() *fakeSys {
	return &fakeSys{
		files: map[string]string{
			"/etc/sidus/modules.load": "lib/modules/k/virtio.ko\nlib/modules/k/virtio_net.ko\nlib/modules/k/nfs.ko\n",
			"/proc/filesystems":       "nodev\ttmpfs\nnodev\tnfs\nnodev\toverlay\n",
		},
		links: []Link{{Name: "eth0", MAC: "52:54:00:12:34:56", Carrier: true, OperUp: true}},
		lease: &Lease{Config: netconf.Config{Device: "eth0", IP: net.IPv4(10, 0, 0, 5).To4(), Netmask: net.CIDRMask(24, 32),
			ServerID: net.IPv4(10, 0, 0, 1).To4()}, Proto: "dhcp", NextServer: net.IPv4(10, 0, 0, 2).To4(), RootPath: "/srv/nfsroot/sidus"},
		mountFail: map[string]int{},
		loadFail:  map[string]bool{},
		now:       time.Date(2013, 11, 1, 0, 0, 0, 0, time.UTC),
	}
}

func (f *fakeSys) rec(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func (f *fakeSys) Mount(src, dst, fs string, flags uintptr, data string) error {
	f.rec("mount %s %s %s %#x %s", src, dst, fs, flags, data)
	for prefix, err := range f.mountErr {
		if strings.HasPrefix(src, prefix) {
			return &os.PathError{Op: "mount " + fs, Path: dst, Err: err}
		}
	}
	if f.mountFail[dst] > 0 {
		f.mountFail[dst]--
		return &os.PathError{Op: "mount", Path: dst, Err: errors.New("connection refused")}
	}
	return nil
}
func (f *fakeSys) MkdirAll(p string) error { return nil }
func (f *fakeSys) Remove(p string) error   { delete(f.files, p); return nil }
func (f *fakeSys) Symlink(target, link string) error {
	f.rec("symlink %s %s", target, link)
	f.files[link] = "-> " + target
	return nil
}
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

// DirFS serves the fake's files under dir.
func (f *fakeSys) DirFS(dir string) fs.FS {
	m := fstest.MapFS{}
	for p, data := range f.files {
		if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(dir, "/")+"/"); ok {
			m[rel] = &fstest.MapFile{Data: []byte(data)}
		}
	}
	return m
}
func (f *fakeSys) Now() time.Time { return f.now }
func (f *fakeSys) Sleep(ctx context.Context, d time.Duration) error {
	f.now = f.now.Add(d)
	return ctx.Err()
}
func (f *fakeSys) Net() Network           { return f }
func (f *fakeSys) Links() ([]Link, error) { return f.links, nil }
func (f *fakeSys) Up(n string) error {
	f.rec("up %s", n)
	return f.setLink(n, "up", func(l *Link) { l.Up = true })
}
func (f *fakeSys) LookupHost(_ context.Context, host string) ([]string, error) {
	f.rec("lookup %s", host)
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}
func (f *fakeSys) DHCP(ctx context.Context, n string, xid uint32, h string) (*Lease, error) {
	f.rec("dhcp %s", n)
	if err := f.netFail["dhcp "+n]; err != nil {
		return nil, err
	}
	if f.dhcpFails > 0 {
		f.dhcpFails--
		return nil, errors.New("no offer")
	}
	if l, ok := f.devLease[n]; ok {
		return l, nil
	}
	return f.lease, nil
}

// Configure records the address, then " gw GW" if it installs the
// default route and " hostname H" if it sets the hostname.
func (f *fakeSys) Configure(n string, l *Lease) error {
	c := fmt.Sprintf("configure %s %s", n, l.IP)
	if !l.NoDefaultRoute && l.Gateway != nil && !l.Gateway.IsUnspecified() {
		c += " gw " + l.Gateway.String()
	}
	if l.Hostname != "" {
		c += " hostname " + l.Hostname
	}
	f.rec("%s", c)
	return f.netFail["configure "+n]
}
func (f *fakeSys) SwitchRoot(root, init string, args []string, agent *AgentStart) error {
	f.switched, f.initArgs, f.agent = root+" "+init, args, agent
	f.rec("switch_root %s %s", root, init)
	return errors.New("exec stopped by test")
}
func (f *fakeSys) Shell(reason string) error { f.rec("shell %s", reason); return ErrNoShell }

func boot(t *testing.T, f *fakeSys, line string) (*Result, error) {
	t.Helper()
	return bootWith(t, f, line, io.Discard, Options{})
}

// bootWith parses line (with no init arguments) and boots it on f.
func bootWith(t *testing.T, f *fakeSys, line string, log io.Writer, opts Options) (*Result, error) {
	t.Helper()
	cfg, err := cmdline.Parse(line, nil, nil)
	if err != nil {
		t.Fatalf("Parse(%q): %v", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang fails
	defer cancel()
	return Boot(ctx, cfg, f, f, NewLogger(log, nil, f.Now), opts)
}

func has(calls []string, prefix string) int {
	for i, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return i
		}
	}
	return -1
}

func TestBootSeedTmpfs(t *testing.T) {
	f := newFake()
	f.dhcpFails = 2
	f.mountFail["/ro"] = 4 // the first attempt fails for all versions, then v4.2 fails once more
	res, err := boot(t, f, cmdline.SeedTmpfs)
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
	if res.NFSVersion != "4.1" || res.Modules != 3 || res.Lower != cmdline.LowerNFS || res.LowerFSType != "nfs" {
		t.Errorf("result: version %q modules %d lower %q (%s)", res.NFSVersion, res.Modules, res.Lower, res.LowerFSType)
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
	res, _ := boot(t, f, cmdline.SeedTmpfs)
	if res.NFSVersion != "3" {
		t.Errorf("NFS version %q, want 3 after v4 failed", res.NFSVersion)
	}
}

func TestBootRootDelayBoundsNFSWait(t *testing.T) {
	f := newFake()
	f.mountFail["/ro"] = 1 << 30
	_, err := boot(t, f, cmdline.SeedTmpfs+" rootdelay=1")
	if err == nil || !strings.Contains(err.Error(), "rootdelay=1") || !strings.Contains(err.Error(), "is the NFS server running") {
		t.Fatalf("err = %v, want a rootdelay diagnosis", err)
	}
}

func TestBootBreakOffersShellThenContinues(t *testing.T) {
	f := newFake()
	_, _ = boot(t, f, cmdline.SeedTmpfs+" break=union")
	i, j := has(f.calls, "shell break=union"), has(f.calls, "mount overlay")
	if i < 0 || j < i {
		t.Errorf("want shell before the union, calls:\n%s", strings.Join(f.calls, "\n"))
	}
}

func TestBootModuleFailureIsNotFatal(t *testing.T) {
	f := newFake()
	f.loadFail["/lib/modules/k/virtio.ko"] = true
	res, _ := boot(t, f, cmdline.SeedTmpfs)
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

// Boot's table is the break= list: the same names in the same order, as
// steps() builds it and as a boot runs it.
func TestBootRunsBreakStages(t *testing.T) {
	var names []string
	for _, s := range (&booter{}).steps() {
		names = append(names, s.stage)
	}
	if !slices.Equal(names, cmdline.BreakStages) {
		t.Errorf("Boot's steps %q, cmdline.BreakStages %q", names, cmdline.BreakStages)
	}
	f := newFake()
	cfg, err := cmdline.Parse(cmdline.SeedTmpfs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := NewLogger(io.Discard, nil, f.Now)
	_, _ = Boot(context.Background(), cfg, f, f, log, Options{})
	var ran []string
	for _, s := range log.Stages() {
		ran = append(ran, s.Name)
	}
	if !slices.Equal(ran, cmdline.BreakStages) {
		t.Errorf("Boot ran %q, cmdline.BreakStages %q", ran, cmdline.BreakStages)
	}
}

// init= gets the kernel's arguments for /init, as Parse recorded them.
func TestBootPassesInitArgs(t *testing.T) {
	f := newFake()
	cfg, err := cmdline.Parse(cmdline.SeedTmpfs+" single -- x=1", []string{"single", "x=1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = Boot(context.Background(), cfg, f, f, NewLogger(io.Discard, nil, f.Now), Options{})
	if f.switched != "/aufs /sbin/init" || !slices.Equal(f.initArgs, []string{"single", "x=1"}) {
		t.Errorf("switch_root %q with %q, want /sbin/init with [single x=1]", f.switched, f.initArgs)
	}
}

// The NIC driver is loaded because its alias matches a modalias read from
// System's /sys, not the host's.
func TestBootLoadsDriverForFakeSysfs(t *testing.T) {
	f := newFake()
	f.files["/etc/sidus/modules.index"] = "module virtio_pci boot lib/modules/k/virtio_pci.ko\n" +
		"module virtio_net hw lib/modules/k/virtio_net.ko\nalias virtio_net virtio:d00000001v*\n" +
		"module e1000 hw lib/modules/k/e1000.ko\nalias e1000 pci:v00008086d0000100E*\n"
	f.files["/sys/bus/virtio/devices/virtio0/modalias"] = "virtio:d00000001v00001AF4\n"
	res, _ := boot(t, f, cmdline.SeedTmpfs)
	if has(f.calls, "load /lib/modules/k/virtio_net.ko") < 0 || has(f.calls, "load /lib/modules/k/e1000.ko") >= 0 || res.Modules != 2 {
		t.Errorf("modules %d, calls:\n%s", res.Modules, strings.Join(f.calls, "\n"))
	}
}

// overlapFake holds the NFS client's load until DHCP has run: Boot only
// gets past it if the root modules load beside the network stage.
type overlapFake struct {
	*fakeSys
	dhcped chan struct{}
	once   sync.Once
}

func (o *overlapFake) Net() Network { return o }
func (o *overlapFake) DHCP(ctx context.Context, n string, xid uint32, h string) (*Lease, error) {
	o.once.Do(func() { close(o.dhcped) })
	return o.fakeSys.DHCP(ctx, n, xid, h)
}
func (o *overlapFake) LoadModule(p string) error {
	if strings.HasSuffix(p, "/nfs.ko") {
		select {
		case <-o.dhcped:
		case <-time.After(10 * time.Second):
			return errors.New("DHCP did not start while the NFS client loaded")
		}
	}
	return o.fakeSys.LoadModule(p)
}

// The NFS client and overlayfs (group root) load in the background while
// DHCP runs, and are in before the NFS mount; NFSv3's modules (nfs3) load
// only before a v3 mount.
func TestBootLoadsRootModulesBesideDHCP(t *testing.T) {
	index := "module virtio_pci boot lib/modules/k/virtio_pci.ko\n" +
		"module virtio_net hw lib/modules/k/virtio_net.ko\nalias virtio_net virtio:d00000001v*\n" +
		"module nfs root lib/modules/k/nfs.ko\nmodule nfsv4 root lib/modules/k/nfsv4.ko nfs\n" +
		"module overlay root lib/modules/k/overlay.ko\nmodule nfsv3 nfs3 lib/modules/k/nfsv3.ko nfs\n"
	for _, tc := range []struct {
		name, line string
		v3         bool
	}{
		{"v4", cmdline.SeedTmpfs, false},
		{"v3", "root=/dev/nfs nfsroot=10.0.0.1:/srv/sidus,vers=3 ip=dhcp aufs=tmpfs", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.files["/etc/sidus/modules.index"] = index
			f.files["/sys/bus/virtio/devices/virtio0/modalias"] = "virtio:d00000001v00001AF4\n"
			o := &overlapFake{fakeSys: f, dhcped: make(chan struct{})}
			cfg, err := cmdline.Parse(tc.line, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var log strings.Builder
			var mu sync.Mutex
			w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return log.Write(p) })
			res, err := Boot(context.Background(), cfg, o, o, NewLogger(w, nil, f.Now), Options{Background: func(fn func()) { go fn() }})
			if !strings.Contains(fmt.Sprint(err), "exec stopped by test") {
				t.Fatalf("Boot: %v\n%s", err, log.String())
			}
			calls := strings.Join(f.calls, "\n")
			nfs, dhcp, mount := has(f.calls, "load /lib/modules/k/nfs.ko"), has(f.calls, "dhcp eth0"), has(f.calls, "mount 10.0.0.")
			if nfs < 0 || dhcp < 0 || mount < 0 || nfs < dhcp || mount < has(f.calls, "load /lib/modules/k/overlay.ko") {
				t.Errorf("want DHCP before the NFS client's load (held until DHCP) and both root modules before the mount; calls:\n%s", calls)
			}
			v3 := has(f.calls, "load /lib/modules/k/nfsv3.ko")
			if tc.v3 != (v3 >= 0) || tc.v3 && v3 > mount {
				t.Errorf("nfsv3 loaded at call %d (mount at %d), want it only before a v3 mount; calls:\n%s", v3, mount, calls)
			}
			if n := map[bool]int{false: 5, true: 6}[tc.v3]; res.Modules != n {
				t.Errorf("loaded %d modules, want %d", res.Modules, n)
			}
			if !strings.Contains(log.String(), "root modules (NFS client, overlayfs) loaded in") {
				t.Errorf("log lacks the background load's line:\n%s", log.String())
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// operFake's eth0 has carrier from the start and operstate up from
// operAt on (never if zero).
type operFake struct {
	*fakeSys
	operAt time.Time
}

func (o *operFake) Net() Network { return o }
func (o *operFake) Links() ([]Link, error) {
	l := o.links[0]
	l.OperUp = !o.operAt.IsZero() && !o.now.Before(o.operAt)
	return []Link{l}, nil
}

// DHCP starts once the boot NIC's operstate is up, not at its carrier
// (a DISCOVER sent in between is dropped); a driver that never reports
// operstate costs operWait.
func TestBootWaitsForOperstate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration // operstate up after the start; 0: never
		want  time.Duration // DHCP at or after
	}{
		{"operstate up after 600ms", 600 * time.Millisecond, 600 * time.Millisecond},
		{"no operstate", 0, operWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.links[0].OperUp = false
			start := f.now
			o := &operFake{fakeSys: f}
			if tc.after > 0 {
				o.operAt = start.Add(tc.after)
			}
			var at time.Time
			d := &dhcpAt{operFake: o, at: &at}
			cfg, err := cmdline.Parse(cmdline.SeedTmpfs, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = Boot(context.Background(), cfg, d, d, NewLogger(io.Discard, nil, f.Now), Options{})
			if got := at.Sub(start); at.IsZero() || got < tc.want || got > tc.want+100*time.Millisecond {
				t.Errorf("DHCP %v after the start, want %v", got, tc.want)
			}
		})
	}
}

type dhcpAt struct {
	*operFake
	at *time.Time
}

func (d *dhcpAt) Net() Network { return d }
func (d *dhcpAt) DHCP(ctx context.Context, n string, xid uint32, h string) (*Lease, error) {
	if d.at.IsZero() {
		*d.at = d.now
	}
	return d.fakeSys.DHCP(ctx, n, xid, h)
}

// An nfsroot= host name is resolved through System.
func TestBootResolvesNFSServer(t *testing.T) {
	f := newFake()
	f.hosts = map[string][]string{"nfs.example.org": {"10.0.0.9"}}
	_, _ = boot(t, f, "nfsroot=nfs.example.org:/srv/sidus,vers=3")
	if has(f.calls, "lookup nfs.example.org") < 0 || has(f.calls, "mount 10.0.0.9:/srv/sidus /ro nfs") < 0 {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
	f = newFake()
	_, err := boot(t, f, "nfsroot=nowhere.example.org:/srv/sidus")
	if err == nil || !strings.Contains(err.Error(), `resolve server "nowhere.example.org": no such host; use an IP address in nfsroot=`) {
		t.Errorf("err = %v", err)
	}
}

// The link wait is bounded on System's clock: without a NIC the boot
// fails after linkWait of fake time, naming what it saw.
func TestBootNoNIC(t *testing.T) {
	f := newFake()
	f.links = []Link{{Name: "ens9", MAC: "52:54:00:00:00:09"}}
	start := f.now
	_, err := boot(t, f, cmdline.SeedTmpfs+" BOOTIF=01-52-54-00-12-34-56")
	if err == nil || !strings.Contains(err.Error(), "no boot NIC after 30s") || !strings.Contains(err.Error(), "ens9=52:54:00:00:00:09") {
		t.Errorf("err = %v", err)
	}
	if d := f.now.Sub(start); d < linkWait || d > linkWait+time.Second {
		t.Errorf("waited %s of fake time, want about %s", d, linkWait)
	}
}

// root= values that are not ours are named in a warning.
func TestBootWarnsAboutOtherRoot(t *testing.T) {
	f := newFake()
	var log strings.Builder
	_, _ = bootWith(t, f, cmdline.SeedTmpfs+" root=/dev/sda1", &log, Options{})
	if !strings.Contains(log.String(), "warning: root=/dev/sda1 ignored") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestBootDialectWiring(t *testing.T) {
	f := newFake()
	f.links = append(f.links, Link{Name: "eth1", MAC: "52:54:00:12:34:57"})
	var log strings.Builder
	_, err := bootWith(t, f, "root=/dev/nfs nfsroot=10.0.0.2:/srv/nfsroot/sidus ip=bootp break=modules,union overlayroot=device:dev=LABEL=scratch bond=bond0:eth0,eth1:mode=active-backup", &log, Options{})
	if strings.Contains(log.String(), "bond= is read but not acted on") || has(f.calls, "bond bond0 slaves=eth0,eth1") < 0 {
		t.Errorf("bond= is not acted on:\n%s", log.String())
	}
	if !strings.Contains(log.String(), "warning: ip=bootp") {
		t.Errorf("the parser's warning is not logged:\n%s", log.String())
	}
	if has(f.calls, "shell break=modules") < 0 { // union is not reached: premount fails
		t.Errorf("break=modules,union: calls\n%s", strings.Join(f.calls, "\n"))
	}
	if err == nil || !strings.Contains(err.Error(), "overlayroot=device:dev=LABEL=scratch") || !strings.Contains(err.Error(), "aufs=tmpfs") {
		t.Errorf("overlayroot=device: %v, want an error that names it and the way out", err)
	}
	if has(f.calls, "mount tmpfs /rw") >= 0 {
		t.Error("a tmpfs stood in for the local disk that was asked for")
	}
}
