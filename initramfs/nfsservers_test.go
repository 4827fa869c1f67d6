package initramfs

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sidus-go/sidus/netconf"
)

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	mac, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// The order starts at fnv32a(MAC) % n and wraps around (the expected
// starts were computed apart, with Python).
func TestServerOrder(t *testing.T) {
	abc := []string{"a", "b", "c"}
	for _, tc := range []struct {
		servers []string
		mac     string
		want    []string
	}{
		{abc, "52:54:00:00:00:21", []string{"a", "b", "c"}},                               // hash % 3 = 0
		{abc, "52:54:00:00:00:23", []string{"b", "c", "a"}},                               // 1
		{abc, "52:54:00:00:00:20", []string{"c", "a", "b"}},                               // 2
		{abc, "52:54:00:12:34:56", []string{"b", "c", "a"}},                               // 1
		{abc, "aa:bb:cc:dd:ee:ff", []string{"b", "c", "a"}},                               // 1
		{[]string{"a", "b", "c", "d"}, "52:54:00:00:00:20", []string{"d", "a", "b", "c"}}, // hash % 4 = 3
		{[]string{"a", "b", "c", "d"}, "52:54:00:00:00:23", []string{"c", "d", "a", "b"}}, // 2
		{[]string{"a", "b"}, "52:54:00:00:00:22", []string{"b", "a"}},                     // hash % 2 = 1
		{[]string{"a"}, "52:54:00:00:00:20", []string{"a"}},
		{abc, "", []string{"b", "c", "a"}}, // no MAC: the hash of no bytes, % 3 = 1
		{nil, "52:54:00:00:00:20", nil},
	} {
		var mac net.HardwareAddr
		if tc.mac != "" {
			mac = mustMAC(t, tc.mac)
		}
		in := slices.Clone(tc.servers)
		got := ServerOrder(in, mac)
		if !slices.Equal(got, tc.want) {
			t.Errorf("ServerOrder(%q, %s) = %q, want %q", tc.servers, tc.mac, got, tc.want)
		}
		if !slices.Equal(in, tc.servers) {
			t.Errorf("ServerOrder changed its argument to %q", in)
		}
		if again := ServerOrder(tc.servers, mac); !slices.Equal(again, got) {
			t.Errorf("ServerOrder(%q, %s) not stable: %q then %q", tc.servers, tc.mac, got, again)
		}
	}
}

// Random MACs, and the consecutive ones sidus node add hands out, spread
// evenly over the servers.
func TestServerOrderEven(t *testing.T) {
	servers := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}
	count := func(macs []net.HardwareAddr) map[string]int {
		n := map[string]int{}
		for _, mac := range macs {
			n[ServerOrder(servers, mac)[0]]++
		}
		return n
	}
	r := rand.New(rand.NewPCG(1, 2))
	var random, seq []net.HardwareAddr
	for i := 0; i < 1000; i++ {
		mac := make(net.HardwareAddr, 6)
		for j := range mac {
			mac[j] = byte(r.UintN(256))
		}
		mac[0] = mac[0]&^1 | 2 // unicast, locally administered
		random = append(random, mac)
		seq = append(seq, net.HardwareAddr{0x52, 0x54, 0, 0, byte(i >> 8), byte(i)})
	}
	for what, n := range map[string]map[string]int{"random": count(random), "consecutive": count(seq)} {
		for _, s := range servers {
			if n[s] < 250 || n[s] > 420 {
				t.Errorf("%s MACs: %d of 1000 start with %s, want 250-420 (%v)", what, n[s], s, n)
			}
		}
	}
}

// mountsOf lists the NFS mounts the fake saw, "SERVER vers=V".
func mountsOf(f *fakeSys) []string {
	var m []string
	for _, c := range f.calls {
		w := strings.Fields(c)
		if len(w) < 6 || w[0] != "mount" || w[2] != "/ro" {
			continue
		}
		server, _, _ := strings.Cut(w[1], ":")
		v := "?"
		for _, o := range strings.Split(w[5], ",") {
			if x, ok := strings.CutPrefix(o, "vers="); ok {
				v = x
			}
		}
		m = append(m, server+" vers="+v)
	}
	return m
}

const threeServers = "root=/dev/nfs nfsroot=10.0.0.1,10.0.0.2,10.0.0.3:/srv/sidus ip=dhcp aufs=tmpfs"

// The fake's eth0 (52:54:00:12:34:56) hashes to 1: it tries 10.0.0.2,
// then 10.0.0.3, then 10.0.0.1. A refused first server costs one mount
// (its other versions are not tried) and no backoff: the second mounts
// in the same round.
func TestBootNFSFailsOverToNextServer(t *testing.T) {
	f := newFake()
	f.mountErr = map[string]error{"10.0.0.2:": syscall.ECONNREFUSED}
	var log strings.Builder
	start := f.now
	res, err := bootWith(t, f, threeServers, &log, Options{})
	if !strings.Contains(err.Error(), "exec stopped by test") {
		t.Fatalf("Boot: %v\n%s", err, log.String())
	}
	if got, want := mountsOf(f), []string{"10.0.0.2 vers=4.2", "10.0.0.3 vers=4.2"}; !slices.Equal(got, want) {
		t.Errorf("mounts %q, want %q", got, want)
	}
	for _, line := range []string{
		"NFS servers [10.0.0.1 10.0.0.2 10.0.0.3]: this node (MAC 52:54:00:12:34:56) tries 10.0.0.2 first (MAC hash)\n",
		"nfs server 10.0.0.2: unreachable (connection refused); moving on to 10.0.0.3\n",
		"mounted 10.0.0.3:/srv/sidus at /ro read-only (vers=4.2, ",
	} {
		if !strings.Contains(log.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, log.String())
		}
	}
	if strings.Contains(log.String(), "retrying") || f.now.Sub(start) > 2*time.Second {
		t.Errorf("a backoff before the second server:\n%s", log.String())
	}
	if res.NFSServer != "10.0.0.3" || res.NFSVersion != "4.2" || !slices.Equal(res.NFSServers, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}) {
		t.Errorf("result: server %q version %q servers %q", res.NFSServer, res.NFSVersion, res.NFSServers)
	}
	var rep struct {
		NFS struct {
			Server  string   `json:"server"`
			Servers []string `json:"servers"`
		} `json:"nfs"`
	}
	if err := json.Unmarshal([]byte(f.files[ReportPath]), &rep); err != nil || rep.NFS.Server != "10.0.0.3" || len(rep.NFS.Servers) != 3 {
		t.Errorf("boot.json nfs %+v (%v):\n%s", rep.NFS, err, f.files[ReportPath])
	}
}

// Each unreachable errno moves on; the node's order decides which server
// is tried first.
func TestBootNFSUnreachableErrnos(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT, syscall.EHOSTDOWN} {
		f := newFake()
		f.links[0].MAC = "52:54:00:00:00:20" // hash % 3 = 2: 10.0.0.3, 10.0.0.1, 10.0.0.2
		f.mountErr = map[string]error{"10.0.0.3:": errno, "10.0.0.1:": errno}
		var log strings.Builder
		res, _ := bootWith(t, f, threeServers, &log, Options{})
		want := []string{"10.0.0.3 vers=4.2", "10.0.0.1 vers=4.2", "10.0.0.2 vers=4.2"}
		if got := mountsOf(f); !slices.Equal(got, want) || res.NFSServer != "10.0.0.2" {
			t.Errorf("%v: mounts %q (server %q), want %q", errno, got, res.NFSServer, want)
		}
		if l := "nfs server 10.0.0.1: unreachable (" + errno.Error() + "); moving on to 10.0.0.2\n"; !strings.Contains(log.String(), l) {
			t.Errorf("%v: log lacks %q:\n%s", errno, l, log.String())
		}
	}
}

// A version the server refuses is not a down server: the next version is
// tried on the same server; a server that refuses every version is left
// for the next one.
func TestBootNFSServersVersionFallback(t *testing.T) {
	f := newFake()
	f.mountFail["/ro"] = 2 // v4.2 and v4.1 refused (not an unreachable errno)
	res, _ := boot(t, f, threeServers)
	if got, want := mountsOf(f), []string{"10.0.0.2 vers=4.2", "10.0.0.2 vers=4.1", "10.0.0.2 vers=3"}; !slices.Equal(got, want) || res.NFSServer != "10.0.0.2" || res.NFSVersion != "3" {
		t.Errorf("mounts %q, server %q version %q; want %q", got, res.NFSServer, res.NFSVersion, want)
	}

	f = newFake()
	f.mountErr = map[string]error{"10.0.0.2:": syscall.EPROTONOSUPPORT}
	var log strings.Builder
	res, _ = bootWith(t, f, threeServers, &log, Options{})
	want := []string{"10.0.0.2 vers=4.2", "10.0.0.2 vers=4.1", "10.0.0.2 vers=3", "10.0.0.3 vers=4.2"}
	if got := mountsOf(f); !slices.Equal(got, want) || res.NFSServer != "10.0.0.3" {
		t.Errorf("mounts %q, server %q; want %q", got, res.NFSServer, want)
	}
	l := "nfs server 10.0.0.2: vers=4.2: protocol not supported, vers=4.1: protocol not supported, vers=3: protocol not supported; moving on to 10.0.0.3\n"
	if !strings.Contains(log.String(), l) {
		t.Errorf("log lacks %q:\n%s", l, log.String())
	}

	// vers= given: only that version, on each server.
	f = newFake()
	f.mountErr = map[string]error{"10.0.0.2:": syscall.EHOSTUNREACH}
	res, _ = boot(t, f, "root=/dev/nfs nfsroot=10.0.0.1,10.0.0.2,10.0.0.3:/srv/sidus,vers=4.1 ip=dhcp aufs=tmpfs")
	if got, want := mountsOf(f), []string{"10.0.0.2 vers=4.1", "10.0.0.3 vers=4.1"}; !slices.Equal(got, want) || res.NFSVersion != "4.1" {
		t.Errorf("vers=4.1: mounts %q, want %q", got, want)
	}
}

// sleepHook runs after on the first Sleep of the nfs stage's backoff.
type sleepHook struct {
	*fakeSys
	after func()
}

func (s *sleepHook) Sleep(ctx context.Context, d time.Duration) error {
	if s.after != nil && s.mountErr != nil {
		s.after()
		s.after = nil
	}
	return s.fakeSys.Sleep(ctx, d)
}

// Every server down: the round ends in the backoff, the next round starts
// again with the node's first server.
func TestBootNFSAllServersDownRetries(t *testing.T) {
	f := newFake()
	f.mountErr = map[string]error{"10.0.0.1:": syscall.ECONNREFUSED, "10.0.0.2:": syscall.EHOSTUNREACH, "10.0.0.3:": syscall.ETIMEDOUT}
	s := &sleepHook{fakeSys: f, after: func() { f.mountErr = map[string]error{} }}
	var log strings.Builder
	res, err := bootWithSys(t, s, threeServers, &log)
	if !strings.Contains(err.Error(), "exec stopped by test") {
		t.Fatalf("Boot: %v\n%s", err, log.String())
	}
	want := []string{"10.0.0.2 vers=4.2", "10.0.0.3 vers=4.2", "10.0.0.1 vers=4.2", "10.0.0.2 vers=4.2"}
	if got := mountsOf(f); !slices.Equal(got, want) || res.NFSServer != "10.0.0.2" {
		t.Errorf("mounts %q, server %q; want %q", got, res.NFSServer, want)
	}
	l := "nfs mount /srv/sidus from [10.0.0.1 10.0.0.2 10.0.0.3]: attempt 1: every server failed: 10.0.0.2: vers=4.2: no route to host; " +
		"10.0.0.3: vers=4.2: connection timed out; 10.0.0.1: vers=4.2: connection refused; retrying in "
	if !strings.Contains(log.String(), l) {
		t.Errorf("log lacks %q:\n%s", l, log.String())
	}
	if strings.Contains(log.String(), "moving on to 10.0.0.2") {
		t.Errorf("the last server of the round says it moves on:\n%s", log.String())
	}
}

func bootWithSys(t *testing.T, s *sleepHook, line string, log *strings.Builder) (*Result, error) {
	t.Helper()
	cfg := parse(t, line)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return Boot(ctx, cfg, s, s, NewLogger(log, nil, s.Now), Options{})
}

// rootdelay= bounds the wait; the error names every server's failure.
func TestBootNFSAllServersDownRootDelay(t *testing.T) {
	f := newFake()
	f.mountErr = map[string]error{"10.0.0.1:": syscall.ECONNREFUSED, "10.0.0.2:": syscall.EHOSTUNREACH, "10.0.0.3:": syscall.EPROTONOSUPPORT}
	_, err := boot(t, f, threeServers+" rootdelay=5")
	if err == nil {
		t.Fatal("Boot mounted a root with every server down")
	}
	for _, want := range []string{
		"nfs mount /srv/sidus from [10.0.0.1 10.0.0.2 10.0.0.3] failed on every server for ",
		"(rootdelay=5): ",
		"10.0.0.2: vers=4.2: no route to host",
		"10.0.0.3: vers=4.2: protocol not supported, vers=4.1: protocol not supported, vers=3: protocol not supported",
		"10.0.0.1: vers=4.2: connection refused",
		"are the NFS servers running and exporting /srv/sidus to this client (10.0.0.5)?",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if n := len(mountsOf(f)); n < 10 || n%5 != 0 {
		t.Errorf("%d mounts, want several rounds of 5 (1 + 1 + 3 versions)", n)
	}
}

// With one server nothing changes: an unreachable server still gets every
// version each round, and the messages are the single server's.
func TestBootNFSOneServerUnchanged(t *testing.T) {
	f := newFake()
	f.mountErr = map[string]error{"10.0.0.1:": syscall.ECONNREFUSED}
	var log strings.Builder
	_, err := bootWith(t, f, "root=/dev/nfs nfsroot=10.0.0.1:/srv/sidus ip=dhcp aufs=tmpfs rootdelay=1", &log, Options{})
	if got := mountsOf(f); len(got) < 6 || !slices.Equal(got[:3], []string{"10.0.0.1 vers=4.2", "10.0.0.1 vers=4.1", "10.0.0.1 vers=3"}) {
		t.Errorf("mounts %q, want every version each round", got)
	}
	want := regexp.MustCompile(`nfs mount 10\.0\.0\.1:/srv/sidus failed for \d+s \(rootdelay=1\): vers=4\.2: connection refused; vers=4\.1: connection refused; vers=3: connection refused; is the NFS server running`)
	if err == nil || !want.MatchString(err.Error()) {
		t.Errorf("err = %v, want %q", err, want)
	}
	if strings.Contains(log.String(), "NFS servers [") || strings.Contains(log.String(), "moving on") {
		t.Errorf("the several-servers lines with one server:\n%s", log.String())
	}
	if f.files[ReportPath] != "" && strings.Contains(f.files[ReportPath], `"servers"`) {
		t.Errorf("boot.json lists servers with one:\n%s", f.files[ReportPath])
	}
}

// Host names in the list are resolved when tried; one that does not
// resolve is left for the next server (with one server it stops the boot,
// TestBootResolvesNFSServer).
func TestBootNFSServersHostNames(t *testing.T) {
	f := newFake()
	f.links[0].MAC = "52:54:00:00:00:21" // hash % 2 = 0: nfs-a first
	f.hosts = map[string][]string{"nfs-b.example.org": {"10.0.0.12"}}
	var log strings.Builder
	res, _ := bootWith(t, f, "root=/dev/nfs nfsroot=nfs-a.example.org,nfs-b.example.org:/srv/sidus ip=dhcp aufs=tmpfs", &log, Options{})
	if res.NFSServer != "10.0.0.12" || has(f.calls, "lookup nfs-a.example.org") < 0 || has(f.calls, "mount 10.0.0.12:/srv/sidus /ro nfs") < 0 {
		t.Errorf("server %q, calls:\n%s", res.NFSServer, strings.Join(f.calls, "\n"))
	}
	if l := "nfs server nfs-a.example.org: cannot resolve (no such host); moving on to nfs-b.example.org\n"; !strings.Contains(log.String(), l) {
		t.Errorf("log lacks %q:\n%s", l, log.String())
	}
}

// The MAC hashed is the boot NIC's: the lease's interface, here eth1
// picked by BOOTIF=, not eth0.
func TestBootNFSServersHashBootNIC(t *testing.T) {
	f := newFake()
	f.links = append(f.links, Link{Name: "eth1", MAC: "52:54:00:00:00:20", Carrier: true, OperUp: true})
	l1 := *f.lease
	l1.Config = netconf.Config{Device: "eth1", IP: f.lease.IP, Netmask: f.lease.Netmask, ServerID: f.lease.ServerID}
	f.devLease = map[string]*Lease{"eth1": &l1}
	var log strings.Builder
	res, _ := bootWith(t, f, threeServers+" BOOTIF=01-52-54-00-00-00-20", &log, Options{})
	if l := "this node (MAC 52:54:00:00:00:20) tries 10.0.0.3 first (MAC hash)"; !strings.Contains(log.String(), l) || res.NFSServer != "10.0.0.3" {
		t.Errorf("server %q; log lacks %q:\n%s", res.NFSServer, l, log.String())
	}
}

// The root-path may name the servers too.
func TestBootNFSServersFromRootPath(t *testing.T) {
	f := newFake()
	f.lease.RootPath = "10.0.0.7,10.0.0.8:/srv/nfsroot/sidus"
	f.links[0].MAC = "52:54:00:00:00:22" // hash % 2 = 1: 10.0.0.8 first
	var log strings.Builder
	res, _ := bootWith(t, f, "root=/dev/nfs nfsroot=,vers=4.2 ip=dhcp aufs=tmpfs", &log, Options{})
	if res.NFSServer != "10.0.0.8" || !strings.Contains(log.String(), "NFS servers [10.0.0.7 10.0.0.8]: this node (MAC 52:54:00:00:00:22) tries 10.0.0.8 first (MAC hash)") {
		t.Errorf("server %q, log:\n%s", res.NFSServer, log.String())
	}
}
