package renew

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidus-go/sidus/netconf"
	"golang.org/x/sys/unix"
)

// syncBuffer collects dnsmasq's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// inNetns runs f on a thread of its own in network namespace ns; the
// thread is never unlocked, so it ends with f instead of going back to
// the runtime in ns.
func inNetns(ns string, f func()) <-chan error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	return done
}

// leaseExpiry reads mac's expiry (Unix seconds) from a dnsmasq lease file.
func leaseExpiry(t *testing.T, path string, mac string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == mac {
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no lease for %s in %q", mac, b)
	return 0
}

// The real exchanger against dnsmasq, across a veth pair between two
// network namespaces (the host's network is not touched): the address is
// got back from an expired lease, then renewed (unicast) and rebound
// (broadcast), and dnsmasq's lease file shows each extension.
func TestUDPExchangerWithDnsmasq(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	dnsmasq, err1 := exec.LookPath("dnsmasq")
	ipCmd, err2 := exec.LookPath("ip")
	if err1 != nil || err2 != nil {
		t.Skip("needs dnsmasq and ip")
	}
	id := os.Getpid() % 100000
	nsS, nsC := fmt.Sprintf("sidus-renew-s%d", id), fmt.Sprintf("sidus-renew-c%d", id)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipCmd, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		// The veth pair goes with the namespaces.
		_ = exec.Command(ipCmd, "netns", "del", nsS).Run()
		_ = exec.Command(ipCmd, "netns", "del", nsC).Run()
	})
	const mac = "52:54:00:5a:1d:05"
	ip("netns", "add", nsS)
	ip("netns", "add", nsC)
	ip("link", "add", "rnc0", "netns", nsC, "type", "veth", "peer", "name", "rns0", "netns", nsS)
	ip("-n", nsC, "link", "set", "rnc0", "address", mac)
	ip("-n", nsS, "addr", "add", "10.213.0.1/24", "dev", "rns0")
	ip("-n", nsC, "addr", "add", "10.213.0.50/24", "dev", "rnc0")
	for _, ns := range []string{nsS, nsC} {
		ip("-n", ns, "link", "set", "lo", "up")
	}
	ip("-n", nsS, "link", "set", "rns0", "up")
	ip("-n", nsC, "link", "set", "rnc0", "up")

	leases := filepath.Join(t.TempDir(), "leases")
	var log syncBuffer
	cmd := exec.Command(ipCmd, "netns", "exec", nsS, dnsmasq, "--no-daemon", "--port=0", "--conf-file=/dev/null",
		"--no-hosts", "--no-resolv", "--interface=rns0", "--bind-interfaces", "--user=root", "--group=root",
		"--dhcp-range=10.213.0.10,10.213.0.100,2m", "--dhcp-host="+mac+",10.213.0.50,node50",
		"--dhcp-option=option:domain-name,renew.test", "--dhcp-option=option:dns-server,10.213.0.1",
		"--dhcp-authoritative", "--dhcp-leasefile="+leases, "--log-dhcp", "--log-facility=-")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs dnsmasq: the PID is dnsmasq's.
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dnsmasq:\n%s", log.String())
		}
	})
	for i := 0; !strings.Contains(log.String(), "DHCP, IP range"); i++ {
		if i > 100 {
			t.Fatalf("dnsmasq did not start:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	var exchangeWant func(Kind, ReplyType) *Reply
	hw, _ := net.ParseMAC(mac)
	var ex *UDPExchanger
	lease := Lease{Config: netconf.Config{Device: "rnc0", IP: net.IPv4(10, 213, 0, 50).To4(), Netmask: net.CIDRMask(24, 32),
		ServerID: net.IPv4(10, 213, 0, 1).To4(), LeaseTime: 2 * time.Minute}, MAC: hw, Acquired: time.Now().Add(-time.Hour)}
	r := &Renewer{Lease: lease, MinRetry: time.Second, ReplyTimeout: 2 * time.Second, Logf: t.Logf}
	changes := 0
	r.OnChange = func(old, new Lease) { changes++ }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var runErr error
	done := inNetns(nsC, func() {
		var err error
		if ex, err = NewUDPExchanger("rnc0", nil); err != nil {
			runErr = err
			return
		}
		r.Ex = ex
		runErr = r.Run(ctx)
	})
	deadline := time.Now().Add(15 * time.Second)
	for r.Status().State != StateBound && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := r.Status()
	if st.State != StateBound || st.Server != "10.213.0.1" || st.LeaseSeconds != 120 || runErr != context.Canceled {
		t.Fatalf("after recovery: status %+v, Run %v", st, runErr)
	}
	if cur := r.Current(); cur.Hostname != "node50" || cur.Domain != "renew.test" || changes != 1 {
		t.Errorf("lease %+v, %d changes", cur, changes)
	}
	e0 := leaseExpiry(t, leases, mac)

	exchange := func(kind Kind) *Reply {
		return exchangeWant(kind, ReplyACK)
	}
	exchangeWant = func(kind Kind, want ReplyType) *Reply {
		t.Helper()
		var rep *Reply
		var err error
		time.Sleep(1100 * time.Millisecond) // dnsmasq's expiry has a 1-second grain
		req := Request{Kind: kind, XID: uint32(time.Now().UnixNano()), ClientIP: lease.IP, ServerID: lease.ServerID, RequestedIP: lease.IP}
		if e := <-inNetns(nsC, func() { rep, err = ex.Exchange(context.Background(), req, 3*time.Second) }); e != nil {
			t.Fatal(e)
		}
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if rep.Type != want || !rep.YourIP.Equal(lease.IP) || !rep.ServerID.Equal(lease.ServerID) || rep.LeaseTime != 2*time.Minute {
			t.Fatalf("%s: reply %+v", kind, rep)
		}
		return rep
	}
	rep := exchange(KindRenew)
	if rep.T1 == 0 || rep.T2 == 0 || rep.Hostname != "node50" || rep.Domain != "renew.test" || len(rep.DNS) != 1 {
		t.Errorf("renew reply %+v", rep)
	}
	e1 := leaseExpiry(t, leases, mac)
	exchange(KindRebind)
	e2 := leaseExpiry(t, leases, mac)
	exchange(KindReboot)
	e3 := leaseExpiry(t, leases, mac)
	exchangeWant(KindDiscover, ReplyOffer)
	if !(e0 < e1 && e1 < e2 && e2 < e3) {
		t.Errorf("lease file expiries %d, %d, %d, %d: not extended by each exchange", e0, e1, e2, e3)
	}
	if !strings.Contains(log.String(), "DHCPACK(rns0) 10.213.0.50 "+mac) {
		t.Errorf("no DHCPACK in dnsmasq's log")
	}
}
