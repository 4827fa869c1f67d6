package renew

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidus-go/sidus/netconf"
)

var (
	t0      = time.Date(2025, 1, 6, 8, 0, 0, 0, time.UTC)
	nodeIP  = net.IPv4(10, 0, 0, 21).To4()
	server1 = net.IPv4(10, 0, 0, 1).To4()
	server2 = net.IPv4(10, 0, 0, 2).To4()
	nodeMAC = net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
)

// fakeClock advances by itself: After moves time on at once, so Run never
// blocks and a lease's life runs in microseconds. When the time reaches
// end, it cancels the run.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	end    time.Time
	cancel context.CancelFunc
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d < 0 {
		panic(fmt.Sprintf("clock moved back by %v", d))
	}
	c.now = c.now.Add(d)
	if !c.now.Before(c.end) {
		c.cancel()
	}
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

type sent struct {
	at    time.Time
	req   Request
	state State // the Renewer's state when it sent
}

// fakeNet is the network: answer says what the servers reply to req at
// now (nil: silence, which costs the whole timeout).
type fakeNet struct {
	t      *testing.T
	clock  *fakeClock
	r      *Renewer
	answer func(now time.Time, req Request) *Reply
	err    error // returned at once, without advancing the clock, when answer is nil
	sends  []sent
}

func (f *fakeNet) Exchange(ctx context.Context, req Request, timeout time.Duration) (*Reply, error) {
	if timeout <= 0 {
		f.t.Errorf("Exchange with timeout %v", timeout)
	}
	if !req.ClientIP.Equal(nodeIP) {
		f.t.Errorf("%s from %v, not the lease's address", req.Kind, req.ClientIP)
	}
	if req.Kind >= KindReboot && !req.RequestedIP.Equal(nodeIP) {
		f.t.Errorf("%s requests %v, not the lease's address", req.Kind, req.RequestedIP)
	}
	now := f.clock.Now()
	f.sends = append(f.sends, sent{now, req, f.r.Status().State})
	var rep *Reply
	if f.answer != nil {
		rep = f.answer(now, req)
	}
	if rep == nil {
		if f.err != nil {
			return nil, f.err
		}
		f.clock.advance(timeout)
		return nil, ErrNoReply
	}
	f.clock.advance(3 * time.Millisecond)
	return rep, nil
}

func ack(server net.IP, lease time.Duration) *Reply {
	return &Reply{Type: ReplyACK, YourIP: nodeIP, ServerID: server, LeaseTime: lease,
		Netmask: net.CIDRMask(24, 32), Gateway: server1, DNS: []net.IP{server1}, Hostname: "node21", Domain: "cluster"}
}

func testLease(lease time.Duration) Lease {
	return Lease{Config: netconf.Config{Device: "eth0", IP: nodeIP, Netmask: net.CIDRMask(24, 32), Gateway: server1,
		DNS: []net.IP{server1}, Hostname: "node21", Domain: "cluster", ServerID: server1,
		LeaseTime: lease}, MAC: nodeMAC, Acquired: t0}
}

type harness struct {
	r     *Renewer
	clock *fakeClock
	net   *fakeNet
	logs  []string
	err   error
}

// run runs r over [t0, t0+d) with the servers' answer.
func run(t *testing.T, l Lease, d time.Duration, answer func(now time.Time, req Request) *Reply, tune ...func(*Renewer)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &harness{clock: &fakeClock{now: t0, end: t0.Add(d), cancel: cancel}}
	h.net = &fakeNet{t: t, clock: h.clock, answer: answer}
	h.r = &Renewer{Lease: l, Ex: h.net, Clock: h.clock,
		Logf: func(f string, a ...any) {
			h.logs = append(h.logs, h.clock.Now().Sub(t0).String()+" "+fmt.Sprintf(f, a...))
		}}
	h.r.rnd = rand.New(rand.NewPCG(1, 2))
	h.net.r = h.r
	for _, f := range tune {
		f(h.r)
	}
	h.err = h.r.Run(ctx)
	if !errors.Is(h.err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", h.err)
	}
	if !h.r.Current().IP.Equal(nodeIP) {
		t.Fatalf("the lease's address changed to %v", h.r.Current().IP)
	}
	return h
}

func (h *harness) dump(t *testing.T) {
	t.Helper()
	for _, s := range h.net.sends {
		t.Logf("send %8v %-11s %-9s server=%v", s.at.Sub(t0), s.req.Kind, s.state, s.req.ServerID)
	}
	for _, l := range h.logs {
		t.Logf("log %s", l)
	}
}

func within(d, want time.Duration, frac float64) bool {
	return float64(d) >= float64(want)*(1-frac) && float64(d) <= float64(want)*(1+frac)
}

func TestRenewAtT1(t *testing.T) {
	const lease = 2 * time.Minute
	var renewals int
	h := run(t, testLease(lease), 30*time.Minute, func(now time.Time, req Request) *Reply {
		if req.Kind != KindRenew {
			t.Errorf("%s at %v: want only renewals", req.Kind, now.Sub(t0))
		}
		if !req.ServerID.Equal(server1) {
			t.Errorf("renewal to %v, want %v", req.ServerID, server1)
		}
		renewals++
		return ack(server1, lease)
	})
	s := h.net.sends
	if len(s) < 25 || len(s) > 35 {
		h.dump(t)
		t.Fatalf("%d renewals in 30 min of a 2-minute lease, want about 30", len(s))
	}
	if d := s[0].at.Sub(t0); !within(d, lease/2, 0.041) {
		t.Errorf("first renewal after %v, want T1 = %v ±4%%", d, lease/2)
	}
	for i := 1; i < len(s); i++ {
		if d := s[i].at.Sub(s[i-1].at); !within(d, lease/2, 0.05) {
			t.Errorf("renewal %d %v after the previous, want about %v", i, d, lease/2)
		}
		if s[i].state != StateRenewing {
			t.Errorf("renewal %d sent in state %s", i, s[i].state)
		}
	}
	st := h.r.Status()
	if st.State != StateBound || st.Renewals != renewals || st.Failures != 0 || st.Server != "10.0.0.1" {
		t.Errorf("status %+v", st)
	}
	if !st.LeaseExpiry.Equal(st.LastRenewal.Add(lease - 3*time.Millisecond)) {
		t.Errorf("expiry %v, last renewal %v: want the lease counted from the request", st.LeaseExpiry, st.LastRenewal)
	}
}

func TestRebindAtT2(t *testing.T) {
	const lease = 2 * time.Minute
	// server1 is gone; server2 answers broadcasts.
	h := run(t, testLease(lease), 3*time.Minute, func(now time.Time, req Request) *Reply {
		if req.Kind == KindRebind {
			return ack(server2, lease)
		}
		return nil
	})
	s := h.net.sends
	var renews, rebinds []time.Duration
	for _, x := range s {
		switch x.req.Kind {
		case KindRenew:
			if rebinds == nil {
				renews = append(renews, x.at.Sub(t0))
			}
		case KindRebind:
			rebinds = append(rebinds, x.at.Sub(t0))
		}
	}
	if len(renews) < 3 || len(rebinds) < 1 {
		h.dump(t)
		t.Fatalf("renewals at %v, rebinds at %v", renews, rebinds)
	}
	// T1 = 60 s, T2 = 105 s, MinRetry = 4 s: 60, ~82, ~93, ~99, ~103 s.
	if !within(renews[0], 60*time.Second, 0.041) {
		t.Errorf("first renewal at %v", renews[0])
	}
	for i := 1; i < len(renews); i++ {
		gap := renews[i] - renews[i-1]
		if gap < 4*time.Second*96/100 {
			t.Errorf("renewals %v apart (%v), under MinRetry", gap, renews)
		}
	}
	t2 := 105 * time.Second
	if !within(rebinds[0], t2, 0.041) || rebinds[0] < renews[len(renews)-1] {
		t.Errorf("first rebind at %v, want T2 %v ±4%%", rebinds[0], t2)
	}
	st := h.r.Status()
	// Renewals go to server2 from then on (which ignores them here).
	if (st.State != StateBound && st.State != StateRenewing) || st.Server != "10.0.0.2" || st.Renewals < 1 {
		t.Errorf("status %+v", st)
	}
	last := s[len(s)-1]
	if last.req.Kind == KindRenew && !last.req.ServerID.Equal(server2) {
		t.Errorf("renewal after rebinding went to %v", last.req.ServerID)
	}
}

func TestExpiredKeepsAddressAndRecovers(t *testing.T) {
	const lease = 2 * time.Minute
	back := t0.Add(10 * time.Minute)
	var firstACK time.Time
	h := run(t, testLease(lease), 15*time.Minute, func(now time.Time, req Request) *Reply {
		if now.Before(back) {
			return nil
		}
		if req.Kind == KindDiscover {
			return &Reply{Type: ReplyOffer, YourIP: nodeIP, ServerID: server1}
		}
		if firstACK.IsZero() {
			firstACK = now
		}
		return ack(server1, lease)
	})
	var expired, afterBack []sent
	for _, s := range h.net.sends {
		if s.state == StateExpired {
			expired = append(expired, s)
		}
		if !s.at.Before(back) {
			afterBack = append(afterBack, s)
		}
	}
	if len(expired) == 0 || expired[0].at.Before(t0.Add(lease)) {
		h.dump(t)
		t.Fatalf("no attempt in the expired state after the lease's end")
	}
	for _, s := range expired {
		if s.req.Kind != KindReboot && s.req.Kind != KindDiscover {
			t.Errorf("%s while expired", s.req.Kind)
		}
	}
	// Backoff 4, 8, 16, 32, 60, 60 s: over 8 minutes, under 20 attempts of 2.
	if len(expired) > 40 {
		t.Errorf("%d sends in 8 minutes expired", len(expired))
	}
	if len(afterBack) == 0 || firstACK.IsZero() || firstACK.Sub(back) > 61*time.Second {
		h.dump(t)
		t.Fatalf("no ACK within a minute of the server's return")
	}
	st := h.r.Status()
	if st.State != StateBound || st.Renewals < 1 || st.Failures != 0 || st.LastError == "" {
		t.Errorf("status %+v", st)
	}
	if !st.LeaseExpiry.After(back) {
		t.Errorf("expiry %v: the lease did not restart", st.LeaseExpiry)
	}
	var expiredLines, warnings int
	for _, l := range h.logs {
		if strings.Contains(l, "EXPIRED") {
			expiredLines++
		}
		if strings.Contains(l, "WARNING") {
			warnings++
		}
	}
	if expiredLines != 1 {
		t.Errorf("%d EXPIRED lines", expiredLines)
	}
	// 8 minutes expired: at most one rate-limited line a minute, plus the
	// EXPIRED line.
	if warnings < 3 || warnings > 10 {
		h.dump(t)
		t.Errorf("%d warnings in 8 minutes expired", warnings)
	}
}

func TestWarningsAtMostOncePerMinute(t *testing.T) {
	h := run(t, testLease(2*time.Minute), 2*time.Hour, nil, func(r *Renewer) { r.MaxRetry = 5 * time.Second })
	var last time.Duration = -time.Hour
	n := 0
	for _, l := range h.logs {
		if !strings.Contains(l, "WARNING") || strings.Contains(l, "EXPIRED") {
			continue
		}
		at, err := time.ParseDuration(strings.Fields(l)[0])
		if err != nil {
			t.Fatal(err)
		}
		if at-last < time.Minute {
			t.Errorf("warnings at %v and %v", last, at)
		}
		last = at
		n++
	}
	if n < 100 || !strings.Contains(h.logs[len(h.logs)-1], "similar line") {
		t.Errorf("%d warnings in 2 hours; last: %s", n, h.logs[len(h.logs)-1])
	}
}

func TestNAKKeepsAddressAndBacksOff(t *testing.T) {
	const lease = 2 * time.Minute
	var reboots int
	h := run(t, testLease(lease), 10*time.Minute, func(now time.Time, req Request) *Reply {
		switch req.Kind {
		case KindRenew:
			if reboots > 0 {
				return ack(server1, lease)
			}
			return &Reply{Type: ReplyNAK, ServerID: server1, Message: "wrong network"}
		case KindReboot:
			reboots++
			if reboots > 4 {
				return ack(server1, lease)
			}
			return &Reply{Type: ReplyNAK, ServerID: server1, Message: "wrong network"}
		case KindDiscover:
			return nil
		}
		t.Errorf("unexpected %s", req.Kind)
		return nil
	})
	var nak []sent
	sawNAK := false
	for _, s := range h.net.sends {
		if s.state == StateNAK {
			sawNAK = true
			if s.req.Kind == KindReboot {
				nak = append(nak, s)
			}
		}
	}
	if !sawNAK || len(nak) != 5 {
		h.dump(t)
		t.Fatalf("INIT-REBOOTs in the NAK state: %d", len(nak))
	}
	// The first INIT-REBOOT at once after the NAK, then 4, 8, 16 s (±4%)
	// after the attempt's start.
	for i := 1; i < len(nak); i++ {
		want := 4 * time.Second << (i - 1)
		if got := nak[i].at.Sub(nak[i-1].at); !within(got, want, 0.05) && got < want {
			t.Errorf("INIT-REBOOT %d %v after the previous, want %v", i, got, want)
		}
	}
	if h.r.Status().State != StateBound {
		h.dump(t)
		t.Errorf("status %+v", h.r.Status())
	}
	found := false
	for _, l := range h.logs {
		if strings.Contains(l, "WARNING") && strings.Contains(l, "refused") && strings.Contains(l, "keeping the address") {
			found = true
		}
	}
	if !found {
		h.dump(t)
		t.Error("no loud line for the NAK")
	}
}

func TestNAKThenOfferOfSameAddress(t *testing.T) {
	const lease = 2 * time.Minute
	h := run(t, testLease(lease), 70*time.Second, func(now time.Time, req Request) *Reply {
		switch req.Kind {
		case KindRenew, KindReboot:
			return &Reply{Type: ReplyNAK, ServerID: server1}
		case KindDiscover:
			return &Reply{Type: ReplyOffer, YourIP: nodeIP, ServerID: server2, LeaseTime: lease}
		case KindSelect:
			if !req.ServerID.Equal(server2) {
				t.Errorf("select to %v", req.ServerID)
			}
			return ack(server2, lease)
		}
		return nil
	})
	var kinds []string
	for _, s := range h.net.sends {
		kinds = append(kinds, s.req.Kind.String())
	}
	if got := strings.Join(kinds, " "); got != "renew init-reboot discover select" {
		t.Errorf("sent %s", got)
	}
	if st := h.r.Status(); st.State != StateBound || st.Server != "10.0.0.2" {
		t.Errorf("status %+v", st)
	}
}

func TestDifferentAddressNotTaken(t *testing.T) {
	const lease = 2 * time.Minute
	other := net.IPv4(10, 0, 0, 99).To4()
	h := run(t, testLease(lease), 10*time.Minute, func(now time.Time, req Request) *Reply {
		switch req.Kind {
		case KindReboot:
			return &Reply{Type: ReplyNAK, ServerID: server1}
		case KindDiscover:
			return &Reply{Type: ReplyOffer, YourIP: other, ServerID: server1, LeaseTime: lease}
		case KindSelect:
			t.Errorf("requested an offer of another address")
		}
		return nil
	})
	st := h.r.Status()
	if st.OfferedIP != "10.0.0.99" || st.State != StateNAK || st.IP != "10.0.0.21" {
		t.Errorf("status %+v", st)
	}
	found := false
	for _, l := range h.logs {
		if strings.Contains(l, "WARNING") && strings.Contains(l, "offers 10.0.0.99") && strings.Contains(l, "keeping 10.0.0.21") {
			found = true
		}
	}
	if !found {
		h.dump(t)
		t.Error("no loud line for the other address")
	}
}

func TestACKOfAnotherAddressWhileRenewing(t *testing.T) {
	const lease = 2 * time.Minute
	h := run(t, testLease(lease), 100*time.Second, func(now time.Time, req Request) *Reply {
		a := ack(server1, lease)
		a.YourIP = net.IPv4(10, 0, 0, 99).To4()
		return a
	})
	st := h.r.Status()
	if st.State != StateRenewing || st.OfferedIP != "10.0.0.99" || st.Renewals != 0 || st.Failures < 2 {
		t.Errorf("status %+v", st)
	}
}

func TestJitterBounds(t *testing.T) {
	const lease = time.Hour
	r := &Renewer{Lease: testLease(lease), Clock: &fakeClock{now: t0}}
	r.defaults()
	seen := map[time.Duration]bool{}
	for i := range 2000 {
		r.rnd = rand.New(rand.NewPCG(uint64(i), 7))
		s := r.schedule(t0, r.Lease)
		t1, t2, exp := s.t1.Sub(t0), s.t2.Sub(t0), s.exp.Sub(t0)
		if !within(t1, lease/2, 0.04) || !within(t2, lease*7/8, 0.04) || exp != lease || !(t1 < t2 && t2 <= exp) {
			t.Fatalf("seed %d: T1 %v T2 %v expiry %v", i, t1, t2, exp)
		}
		seen[t1/time.Second] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct T1 seconds: no jitter", len(seen))
	}
	// Seeded from the clock and the MAC: two nodes at the same instant differ.
	a := &Renewer{Lease: testLease(lease), Clock: &fakeClock{now: t0}}
	b := &Renewer{Lease: testLease(lease), Clock: &fakeClock{now: t0}}
	b.Lease.MAC = net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x57}
	a.defaults()
	b.defaults()
	a1, b1 := a.xid(), b.xid()
	a2, b2 := a.xid(), b.xid()
	if a1 == b1 && a2 == b2 {
		t.Error("two MACs, same random sequence")
	}
}

func TestOptions58And59(t *testing.T) {
	const lease = 10 * time.Minute
	r := &Renewer{Lease: testLease(lease), Clock: &fakeClock{now: t0}, Jitter: -1}
	r.defaults()
	for _, c := range []struct{ t1, t2, w1, w2 time.Duration }{
		{0, 0, 5 * time.Minute, 8*time.Minute + 45*time.Second},
		{2 * time.Minute, 3 * time.Minute, 2 * time.Minute, 3 * time.Minute},
		{2 * time.Minute, 0, 2 * time.Minute, 8*time.Minute + 45*time.Second},
		{11 * time.Minute, 0, 5 * time.Minute, 8*time.Minute + 45*time.Second},              // T1 > lease: ignored
		{6 * time.Minute, 4 * time.Minute, 6 * time.Minute, 8*time.Minute + 45*time.Second}, // T2 < T1: ignored
		{9 * time.Minute, 0, 9 * time.Minute, 9*time.Minute + 45*time.Second},               // T1 past the default T2
	} {
		l := r.Lease
		l.T1, l.T2 = c.t1, c.t2
		s := r.schedule(t0, l)
		if s.t1.Sub(t0) != c.w1 || s.t2.Sub(t0) != c.w2 || s.exp.Sub(t0) != lease {
			t.Errorf("T1 %v T2 %v: got %v %v %v, want %v %v", c.t1, c.t2, s.t1.Sub(t0), s.t2.Sub(t0), s.exp.Sub(t0), c.w1, c.w2)
		}
	}
	// Through Run: the server's T1 of 20 s and T2 of 50 s are honoured.
	h := run(t, testLease(2*time.Minute), 5*time.Minute, func(now time.Time, req Request) *Reply {
		a := ack(server1, 2*time.Minute)
		a.T1, a.T2 = 20*time.Second, 50*time.Second
		if now.After(t0.Add(3 * time.Minute)) {
			if req.Kind == KindRebind {
				return a
			}
			return nil
		}
		return a
	})
	var renew, rebind []time.Duration
	for _, s := range h.net.sends {
		if s.req.Kind == KindRenew {
			renew = append(renew, s.at.Sub(t0))
		} else if s.req.Kind == KindRebind {
			rebind = append(rebind, s.at.Sub(t0))
		}
	}
	for i := 2; i < len(renew) && renew[i] < 3*time.Minute; i++ {
		if gap := renew[i] - renew[i-1]; !within(gap, 20*time.Second, 0.05) {
			t.Errorf("renewals %v apart, want T1 = 20 s", gap)
		}
	}
	lastRenew := time.Duration(0)
	for _, d := range renew {
		if len(rebind) > 0 && d < rebind[0] {
			lastRenew = d
		}
	}
	if len(rebind) == 0 || rebind[0]-lastRenew > 31*time.Second {
		h.dump(t)
		t.Errorf("no rebind about 30 s (T2-T1) after the last renewal")
	}
}

func TestOnChange(t *testing.T) {
	const lease = 2 * time.Minute
	type change struct{ old, new Lease }
	var changes []change
	n := 0
	h := run(t, testLease(lease), 5*time.Minute, func(now time.Time, req Request) *Reply {
		n++
		a := ack(server1, lease)
		switch n {
		case 1: // same as the init's
		case 2:
			a.Hostname, a.DNS = "node21b", []net.IP{server2, server1}
		case 3: // nothing said about hostname, DNS, domain: unchanged
			a.Hostname, a.DNS, a.Domain = "", nil, ""
		default:
			a.Hostname, a.DNS, a.Domain = "node21b", []net.IP{server2, server1}, "hpc"
		}
		return a
	}, func(r *Renewer) {
		r.OnChange = func(old, new Lease) { changes = append(changes, change{old, new}) }
	})
	if len(changes) != 2 {
		h.dump(t)
		t.Fatalf("%d changes, want 2", len(changes))
	}
	c := changes[0]
	if c.old.Hostname != "node21" || c.new.Hostname != "node21b" || len(c.new.DNS) != 2 || !c.new.DNS[0].Equal(server2) || c.new.Domain != "cluster" {
		t.Errorf("first change %+v -> %+v", c.old, c.new)
	}
	if c := changes[1]; c.old.Domain != "cluster" || c.new.Domain != "hpc" || c.old.Hostname != "node21b" {
		t.Errorf("second change %+v -> %+v", c.old, c.new)
	}
	if cur := h.r.Current(); cur.Hostname != "node21b" || cur.Domain != "hpc" {
		t.Errorf("current %+v", cur)
	}
}

func TestGatewayChangeNotApplied(t *testing.T) {
	h := run(t, testLease(2*time.Minute), 70*time.Second, func(now time.Time, req Request) *Reply {
		a := ack(server1, 2*time.Minute)
		a.Gateway = server2
		return a
	})
	if !h.r.Current().Gateway.Equal(server1) {
		t.Errorf("gateway became %v", h.r.Current().Gateway)
	}
	if !strings.Contains(strings.Join(h.logs, "\n"), "gateway 10.0.0.2 (configured 10.0.0.1): not applied") {
		h.dump(t)
		t.Error("no warning for the new gateway")
	}
}

// No tight loop: whatever the servers do, sends over a simulated day stay
// bounded and attempts are at least a retransmission apart.
func TestNoTightLoop(t *testing.T) {
	const day = 24 * time.Hour
	for _, c := range []struct {
		name   string
		lease  time.Duration
		answer func(now time.Time, req Request) *Reply
		err    error
		max    int
	}{
		// 1 h lease: ~12 renew/rebind sends, then an attempt (2 sends) a minute.
		{"dead server", time.Hour, nil, nil, 2 * 23 * 63},
		{"socket error at once", time.Hour, nil, errors.New("sendmsg: network is unreachable"), 2 * 23 * 63},
		{"NAK to everything", time.Hour, func(time.Time, Request) *Reply {
			return &Reply{Type: ReplyNAK, ServerID: server1}
		}, nil, 2 * 24 * 63},
		{"zero lease time", time.Hour, func(time.Time, Request) *Reply {
			a := ack(server1, 0)
			return a
		}, nil, 60},
		{"1 s lease", time.Hour, func(time.Time, Request) *Reply {
			return ack(server1, time.Second)
		}, nil, 24 * 63}, // stretched to 2 min: a renewal a minute
		{"2 min lease, dead server", 2 * time.Minute, nil, nil, 2 * 24 * 63},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clock := &fakeClock{now: t0, end: t0.Add(day), cancel: cancel}
			fn := &fakeNet{t: t, clock: clock, answer: c.answer, err: c.err}
			r := &Renewer{Lease: testLease(c.lease), Ex: fn, Clock: clock}
			fn.r = r
			if c.name == "zero lease time" {
				// The ACKs omit option 51: the lease keeps its time.
				r.Lease.LeaseTime = time.Hour
			}
			if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			if len(fn.sends) > c.max || len(fn.sends) < 10 {
				t.Errorf("%d sends in a day, want 10..%d", len(fn.sends), c.max)
			}
			// Attempts (first sends of an attempt) at least ~MinRetry
			// apart, except when moving to the next state.
			var prev sent
			for i, s := range fn.sends {
				if i > 0 && s.req.Kind == prev.req.Kind && (s.req.Kind == KindRenew || s.req.Kind == KindRebind || s.req.Kind == KindReboot) &&
					s.at.Sub(prev.at) < r.MinRetry*90/100 && s.state == prev.state {
					t.Fatalf("send %d: %s %v after the previous one (MinRetry %v)", i, s.req.Kind, s.at.Sub(prev.at), r.MinRetry)
				}
				if s.req.Kind == KindRenew || s.req.Kind == KindRebind || s.req.Kind == KindReboot {
					prev = s
				}
			}
		})
	}
}

func TestUnknownAcquiredRenewsAtOnce(t *testing.T) {
	l := testLease(time.Hour)
	l.Acquired = time.Time{}
	h := run(t, l, time.Minute, func(time.Time, Request) *Reply { return ack(server1, time.Hour) })
	if len(h.net.sends) != 1 || h.net.sends[0].at != t0 || h.net.sends[0].req.Kind != KindRenew {
		h.dump(t)
		t.Fatalf("sends %+v", h.net.sends)
	}
}

func TestAlreadyExpiredAtStart(t *testing.T) {
	l := testLease(2 * time.Minute)
	l.Acquired = t0.Add(-time.Hour)
	h := run(t, l, time.Second, func(time.Time, Request) *Reply { return ack(server1, 2*time.Minute) })
	if len(h.net.sends) != 1 || h.net.sends[0].req.Kind != KindReboot {
		h.dump(t)
		t.Fatalf("sends %+v", h.net.sends)
	}
	if h.r.Status().State != StateBound {
		t.Errorf("status %+v", h.r.Status())
	}
}

func TestRunRefusesStaticLease(t *testing.T) {
	for _, l := range []Lease{
		{Config: netconf.Config{Device: "eth0", LeaseTime: time.Hour}, MAC: nodeMAC},
		{Config: netconf.Config{Device: "eth0", IP: nodeIP, LeaseTime: time.Hour}},
		{Config: netconf.Config{Device: "eth0", IP: nodeIP}, MAC: nodeMAC},
	} {
		r := &Renewer{Lease: l, Ex: &fakeNet{}}
		if err := r.Run(context.Background()); err == nil {
			t.Errorf("Run(%+v) accepted it", l)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	h := run(t, testLease(2*time.Minute), 70*time.Second, func(time.Time, Request) *Reply { return ack(server1, 2*time.Minute) })
	b, err := json.Marshal(h.r.Status())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"state", "device", "ip", "server", "lease_seconds", "lease_expiry", "next_renewal", "last_renewal", "renewals", "failures", "since"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status JSON lacks %q: %s", k, b)
		}
	}
	if m["state"] != "bound" || m["renewals"] != 1.0 {
		t.Errorf("status JSON %s", b)
	}
	// Before Run: the lease's device and address, no state.
	r := &Renewer{Lease: testLease(time.Hour)}
	if st := r.Status(); st.IP != "10.0.0.21" || st.State != "" {
		t.Errorf("status before Run %+v", st)
	}
}

// Status and Current are safe while Run runs (go test -race).
func TestStatusConcurrent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clock := &fakeClock{now: t0, end: t0.Add(240 * time.Hour), cancel: cancel}
	fn := &fakeNet{t: t, clock: clock, answer: func(time.Time, Request) *Reply { return ack(server1, 2*time.Minute) }}
	r := &Renewer{Lease: testLease(2 * time.Minute), Ex: fn, Clock: clock}
	fn.r = r
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	for range 1000 {
		_ = r.Status()
		_ = r.Current()
	}
	cancel()
	<-done
}
