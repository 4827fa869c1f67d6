// Package renew keeps the boot NIC's DHCP lease alive after switch_root.
//
// The init configured the address and the default route without a
// lifetime, so nothing in the kernel expires them; what expires is the
// server's side of the lease, and a server that thinks the lease has run
// out gives the address to another node while this one still runs its root
// over it. A Renewer renews the lease at T1 (unicast to the server),
// rebinds at T2 (broadcast) and, when no server answered before the end of
// the lease or a server refused it, keeps asking for the same address for
// as long as it runs. It never touches the link, the address or the routes
// (it has no code that could): the address stays whatever the servers say,
// and a refusal or a different offer is only logged and reported.
//
// The core (this file) is a state machine over two interfaces, a Clock and
// an Exchanger, so that tests run whole leases on a fake clock; the Linux
// UDP exchanger is in exchanger_linux.go, the writers for what a reply may
// change (hostname, resolv.conf, /run/net-DEV.conf) in system.go.
//
// Randomness (transaction IDs, jitter) comes from math/rand/v2 seeded from
// the clock and the MAC: nothing here reads crypto/rand, which can block on
// early-boot nodes without RDRAND.
package renew

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sidus-go/sidus/netconf"
)

// Lease is the lease the node runs on. Its Config's ServerID is where
// renewals go.
type Lease struct {
	netconf.Config
	MAC net.HardwareAddr
	// T1 and T2 are options 58 and 59, zero when the server sent none (then
	// 0.5 and 0.875 of LeaseTime).
	T1, T2 time.Duration
	// Acquired is when the request that got the lease was sent. Zero means
	// unknown: the Renewer renews at once.
	Acquired time.Time
}

func (l Lease) clone() Lease {
	c := l
	c.MAC = slices.Clone(l.MAC)
	c.IP = slices.Clone(l.IP)
	c.Netmask = slices.Clone(l.Netmask)
	c.Gateway = slices.Clone(l.Gateway)
	c.ServerID = slices.Clone(l.ServerID)
	c.DNS = make([]net.IP, len(l.DNS))
	for i, d := range l.DNS {
		c.DNS[i] = slices.Clone(d)
	}
	if l.DNS == nil {
		c.DNS = nil
	}
	return c
}

// State is where the lease is in its life.
type State string

const (
	// StateBound: the lease is valid, waiting for T1.
	StateBound State = "bound"
	// StateRenewing: past T1, asking the server that gave the lease.
	StateRenewing State = "renewing"
	// StateRebinding: past T2, asking any server.
	StateRebinding State = "rebinding"
	// StateExpired: no server answered before the end of the lease. The
	// address is kept; INIT-REBOOT requests and DISCOVERs go on.
	StateExpired State = "expired"
	// StateNAK: a server refused the lease. The address is kept; INIT-REBOOT
	// requests and DISCOVERs go on with a backoff.
	StateNAK State = "nak"
)

// Status is a Renewer's state for the agent's status file.
type Status struct {
	State  State  `json:"state"`
	Device string `json:"device"`
	IP     string `json:"ip"`
	// Server is the server the lease is from (the last one that ACKed).
	Server       string    `json:"server,omitempty"`
	LeaseSeconds int64     `json:"lease_seconds"`
	LeaseExpiry  time.Time `json:"lease_expiry,omitzero"`
	// NextRenewal is T1 of the current lease.
	NextRenewal time.Time `json:"next_renewal,omitzero"`
	// LastRenewal is when the last ACK arrived.
	LastRenewal time.Time `json:"last_renewal,omitzero"`
	// Renewals counts ACKs since the Renewer started.
	Renewals int `json:"renewals"`
	// Failures counts attempts since the last ACK that got no ACK.
	Failures    int       `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// OfferedIP is a different address a server offered or acknowledged
	// (never applied); empty once the lease's own address is ACKed again.
	OfferedIP string `json:"offered_ip,omitempty"`
	// Since is when State was entered.
	Since time.Time `json:"since,omitzero"`
}

// Clock is the time source. SystemClock is the real one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

// Kind is the kind of message a Request asks the Exchanger to send.
type Kind int

const (
	// KindRenew: REQUEST with ciaddr, unicast to ServerID (RENEWING).
	KindRenew Kind = iota
	// KindRebind: REQUEST with ciaddr, broadcast (REBINDING).
	KindRebind
	// KindReboot: REQUEST with option 50, no ciaddr, broadcast (INIT-REBOOT).
	KindReboot
	// KindDiscover: DISCOVER with option 50, broadcast.
	KindDiscover
	// KindSelect: REQUEST with options 50 and 54, broadcast (SELECTING),
	// for an OFFER of the lease's address.
	KindSelect
)

func (k Kind) String() string {
	switch k {
	case KindRenew:
		return "renew"
	case KindRebind:
		return "rebind"
	case KindReboot:
		return "init-reboot"
	case KindDiscover:
		return "discover"
	case KindSelect:
		return "select"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Request is one message for the Exchanger to send.
type Request struct {
	Kind        Kind
	XID         uint32
	ClientIP    net.IP // ciaddr (renew, rebind); the source address of every kind
	ServerID    net.IP // destination (renew); option 54 (select)
	RequestedIP net.IP // option 50 (reboot, discover, select)
}

// ReplyType is a reply's DHCP message type.
type ReplyType int

const (
	ReplyACK ReplyType = iota + 1
	ReplyNAK
	ReplyOffer
)

func (t ReplyType) String() string {
	switch t {
	case ReplyACK:
		return "ACK"
	case ReplyNAK:
		return "NAK"
	case ReplyOffer:
		return "OFFER"
	}
	return fmt.Sprintf("type(%d)", int(t))
}

// Reply is a server's answer. Fields the server did not send are zero.
type Reply struct {
	Type      ReplyType
	YourIP    net.IP // yiaddr
	ServerID  net.IP // option 54 (else the sender's address)
	Netmask   net.IPMask
	Gateway   net.IP // first router
	DNS       []net.IP
	Hostname  string
	Domain    string
	LeaseTime time.Duration
	T1, T2    time.Duration
	Message   string // option 56
}

// ErrNoReply is what an Exchanger returns when nothing answered in time.
var ErrNoReply = errors.New("no reply")

// Exchanger sends one message and waits for its answer.
type Exchanger interface {
	// Exchange sends req and returns the first reply to it (same XID and
	// MAC; ACK or NAK to a request, OFFER to a DISCOVER, an OFFER of
	// req.RequestedIP preferred) that arrives within timeout, or an error
	// (ErrNoReply when nothing came).
	Exchange(ctx context.Context, req Request, timeout time.Duration) (*Reply, error)
}

// Renewer keeps a lease. Set the fields, then call Run once; Run fills
// the zero tunables with their defaults.
type Renewer struct {
	// Lease is the lease the init got; Run does not modify it (Current
	// returns the lease as renewed).
	Lease Lease
	Ex    Exchanger
	// Clock defaults to SystemClock.
	Clock Clock
	// Logf gets one line per event, without a trailing newline; nil
	// discards. Lines that need an operator start with "WARNING:".
	Logf func(format string, args ...any)
	// OnChange is called from Run's goroutine when an ACK changes the
	// hostname, DNS servers, domain or lease time (see System.OnChange).
	// Netmask and gateway changes are logged, never applied.
	OnChange func(old, new Lease)

	// MinRetry is RFC 2131's 60 s floor on retransmissions in RENEWING and
	// REBINDING and the first backoff step after expiry or a NAK. Zero:
	// LeaseTime/30 within [4 s, 60 s] (60 s from a 30-minute lease up).
	MinRetry time.Duration
	// MaxRetry caps the backoff after expiry or a NAK. Zero: 60 s (at
	// least MinRetry).
	MaxRetry time.Duration
	// ReplyTimeout bounds the wait for each reply. Zero: 5 s (at most
	// MinRetry).
	ReplyTimeout time.Duration
	// Jitter is the relative random spread of T1, T2 and retransmissions
	// (±Jitter). Zero: 0.04; negative: none; at most 0.1.
	Jitter float64
	// LogEvery limits the repeated warnings after expiry or a NAK to one
	// line per LogEvery (the line counts what it stood for). Zero: 1 min.
	LogEvery time.Duration

	mu     sync.Mutex
	st     Status
	cur    Lease
	ran    bool
	rnd    *rand.Rand
	logged time.Time // last rate-limited line
	quiet  int       // lines held back since
}

// sched is a lease's timeline, jittered, on the clock of the process.
type sched struct {
	t1, t2, exp time.Time
}

// Status returns the current status. It is safe to call from any goroutine.
func (r *Renewer) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ran {
		return Status{Device: r.Lease.Device, IP: ipString(r.Lease.IP)}
	}
	return r.st
}

// Current returns the lease as last renewed (Lease before Run). It is safe
// to call from any goroutine.
func (r *Renewer) Current() Lease {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ran {
		return r.Lease.clone()
	}
	return r.cur.clone()
}

func ipString(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}

func (r *Renewer) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

// warnRepeat logs a repeated warning at most once per LogEvery.
func (r *Renewer) warnRepeat(format string, args ...any) {
	now := r.Clock.Now()
	if !r.logged.IsZero() && now.Sub(r.logged) < r.LogEvery {
		r.quiet++
		return
	}
	msg := fmt.Sprintf(format, args...)
	switch {
	case r.quiet == 1:
		msg += " (1 similar line held back)"
	case r.quiet > 1:
		msg += fmt.Sprintf(" (%d similar lines held back)", r.quiet)
	}
	r.logged, r.quiet = now, 0
	r.logf("WARNING: %s", msg)
}

// defaults fills the zero tunables in from the lease.
func (r *Renewer) defaults() {
	if r.Clock == nil {
		r.Clock = SystemClock
	}
	if r.MinRetry <= 0 {
		r.MinRetry = min(max(r.Lease.LeaseTime/30, 4*time.Second), 60*time.Second)
	}
	if r.MaxRetry <= 0 {
		r.MaxRetry = 60 * time.Second
	}
	r.MaxRetry = max(r.MaxRetry, r.MinRetry)
	if r.ReplyTimeout <= 0 {
		r.ReplyTimeout = 5 * time.Second
	}
	r.ReplyTimeout = min(r.ReplyTimeout, r.MinRetry)
	if r.Jitter == 0 {
		r.Jitter = 0.04
	}
	if r.Jitter < 0 {
		r.Jitter = 0
	}
	r.Jitter = min(r.Jitter, 0.1)
	if r.LogEvery <= 0 {
		r.LogEvery = time.Minute
	}
	if r.rnd == nil {
		seed := uint64(r.Clock.Now().UnixNano())
		var m uint64
		for _, b := range r.Lease.MAC {
			m = m<<8 | uint64(b)
		}
		r.rnd = rand.New(rand.NewPCG(seed, m^0x5349445553)) // "SIDUS"
	}
}

// jitter spreads d by ±Jitter.
func (r *Renewer) jitter(d time.Duration) time.Duration {
	if r.Jitter == 0 {
		return d
	}
	return d + time.Duration((2*r.rnd.Float64()-1)*r.Jitter*float64(d))
}

// schedule computes l's T1, T2 and expiry from base (when its request
// was sent), jittered. Options 58 and 59 are used when they make sense
// (0 < T1 < T2 < lease); a lease shorter than 2·MinRetry is stretched to
// it so that a broken server cannot make the renewer spin.
func (r *Renewer) schedule(base time.Time, l Lease) sched {
	lt := max(l.LeaseTime, 2*r.MinRetry)
	t1, t2 := lt/2, lt/8*7
	if l.T1 > 0 && l.T1 < lt {
		t1 = l.T1
	}
	if l.T2 > 0 && l.T2 < lt && l.T2 > t1 {
		t2 = l.T2
	}
	if t2 <= t1 {
		t2 = t1 + (lt-t1)*3/4
	}
	t1, t2 = r.jitter(t1), r.jitter(t2)
	t2 = min(t2, lt)
	t1 = min(t1, t2)
	return sched{t1: base.Add(t1), t2: base.Add(t2), exp: base.Add(lt)}
}

func (r *Renewer) xid() uint32 { return r.rnd.Uint32() }

// set updates the status under the lock.
func (r *Renewer) set(f func(st *Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.st)
}

func (r *Renewer) enter(s State) {
	now := r.Clock.Now()
	r.set(func(st *Status) {
		if st.State != s {
			st.State, st.Since = s, now
		}
	})
}

func (r *Renewer) fail(err error) {
	now := r.Clock.Now()
	r.set(func(st *Status) {
		st.Failures++
		st.LastError, st.LastErrorAt = err.Error(), now
	})
}

// wait sleeps d on the clock, or until ctx is done.
func (r *Renewer) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.Clock.After(d):
		return nil
	}
}

// Run keeps the lease until ctx is done, then returns ctx.Err(). It
// returns another error only for a lease it cannot keep (no address, MAC
// or lease time: a static configuration).
func (r *Renewer) Run(ctx context.Context) error {
	l := r.Lease.clone()
	switch {
	case l.IP.To4() == nil:
		return fmt.Errorf("renew: lease on %s has no IPv4 address", l.Device)
	case len(l.MAC) == 0:
		return fmt.Errorf("renew: lease on %s has no MAC address", l.Device)
	case l.LeaseTime <= 0:
		return fmt.Errorf("renew: lease on %s has no lease time", l.Device)
	case r.Ex == nil:
		return errors.New("renew: no Exchanger")
	}
	l.IP = l.IP.To4()
	r.defaults()
	now := r.Clock.Now()
	var s sched
	if l.Acquired.IsZero() || l.Acquired.After(now) {
		// Unknown age, or the wall clock went back since: renew now.
		s = r.schedule(now, l)
		s.t1 = now
		r.logf("lease on %s: %s, acquired at an unknown time: renewing now", l.Device, l.IP)
	} else {
		// Rebase on now, which carries the monotonic clock: a later step
		// of the wall clock (NTP) does not move the deadlines.
		base := now.Add(-now.Sub(l.Acquired))
		s = r.schedule(base, l)
	}
	r.mu.Lock()
	r.ran, r.cur = true, l
	r.st = Status{Device: l.Device, IP: l.IP.String(), Server: ipString(l.ServerID),
		LeaseSeconds: int64(l.LeaseTime / time.Second), LeaseExpiry: s.exp, NextRenewal: s.t1}
	r.mu.Unlock()
	if l.LeaseTime >= time.Duration(1<<32-1)*time.Second {
		r.logf("lease on %s: %s is infinite: nothing to renew", l.Device, l.IP)
		r.enter(StateBound)
		<-ctx.Done()
		return ctx.Err()
	}
	if left := s.exp.Sub(now); left > 0 {
		r.logf("lease on %s: %s from %s for %v, renewal in %v, rebinding in %v, expiry in %v",
			l.Device, l.IP, ipString(l.ServerID), l.LeaseTime, max(s.t1.Sub(now), 0).Round(time.Second),
			max(s.t2.Sub(now), 0).Round(time.Second), left.Round(time.Second))
	} else {
		r.logf("lease on %s: %s from %s for %v ran out %v ago", l.Device, l.IP, ipString(l.ServerID), l.LeaseTime, (-left).Round(time.Second))
	}

	m := &machine{r: r, l: l, s: s}
	return m.run(ctx)
}

// machine is one Run's mutable state (used by Run's goroutine only).
type machine struct {
	r       *Renewer
	l       Lease
	s       sched
	nak     bool // recovering after a NAK
	expired bool // recovering after expiry
	n       int  // recovery attempts so far
}

func (m *machine) run(ctx context.Context) error {
	r := m.r
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := r.Clock.Now()
		var err error
		switch {
		case m.nak || m.expired:
			err = m.recover(ctx)
		case now.Before(m.s.t1):
			r.enter(StateBound)
			err = r.wait(ctx, m.s.t1.Sub(now))
		case now.Before(m.s.t2):
			r.enter(StateRenewing)
			err = m.extend(ctx, KindRenew, m.s.t2)
		case now.Before(m.s.exp):
			r.enter(StateRebinding)
			err = m.extend(ctx, KindRebind, m.s.exp)
		default:
			m.expired, m.n = true, 0
			r.enter(StateExpired)
			r.logf("WARNING: lease on %s for %s has EXPIRED without an answer from any DHCP server (last from %s): keeping the address, asking on",
				m.l.Device, m.l.IP, ipString(m.l.ServerID))
		}
		if err != nil {
			return err
		}
	}
}

// extend sends one renew or rebind request and, without an ACK, waits
// until the retransmission (RFC 2131 4.4.5: half the time left to
// deadline, at least MinRetry, never past deadline).
func (m *machine) extend(ctx context.Context, kind Kind, deadline time.Time) error {
	r := m.r
	sent := r.Clock.Now()
	left := deadline.Sub(sent)
	if left < r.ReplyTimeout {
		// Too late for an answer in this state: move on at deadline.
		return r.wait(ctx, left)
	}
	interval := min(r.jitter(max(r.MinRetry, left/2)), left)
	req := Request{Kind: kind, XID: r.xid(), ClientIP: m.l.IP}
	if kind == KindRenew {
		req.ServerID = m.l.ServerID
		if req.ServerID == nil {
			req.Kind = KindRebind // nowhere to unicast
		}
	}
	rep, err := r.Ex.Exchange(ctx, req, min(r.ReplyTimeout, interval))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case err != nil:
		err = fmt.Errorf("%s %s to %s: %w", req.Kind, m.l.IP, dest(req), err)
	case rep.Type == ReplyACK && rep.YourIP.Equal(m.l.IP):
		m.bind(rep, sent)
		return nil
	case rep.Type == ReplyACK:
		err = m.conflict(rep)
	case rep.Type == ReplyNAK && kind == KindRenew && rep.ServerID != nil && !rep.ServerID.Equal(m.l.ServerID):
		err = fmt.Errorf("%s %s: NAK from %s, not our server %s: ignored", req.Kind, m.l.IP, ipString(rep.ServerID), m.l.ServerID)
	case rep.Type == ReplyNAK:
		m.refused(rep)
		return nil
	default:
		err = fmt.Errorf("%s %s: unexpected %s from %s", req.Kind, m.l.IP, rep.Type, ipString(rep.ServerID))
	}
	r.fail(err)
	loud := ""
	if _, ok := errors.AsType[*conflictError](err); ok {
		loud = "WARNING: "
	}
	r.logf("%s%v; retrying in %v (lease expires in %v)", loud, err, interval.Round(time.Second),
		m.s.exp.Sub(r.Clock.Now()).Round(time.Second))
	return r.wait(ctx, interval-r.Clock.Now().Sub(sent))
}

// joinErrs joins errs on one line (errors.Join would use newlines).
func joinErrs(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

func dest(req Request) string {
	if req.Kind == KindRenew {
		return ipString(req.ServerID)
	}
	return "broadcast"
}

// conflictError is a server that wants this node on another address.
type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }

// conflict records a reply for another address than the lease's.
func (m *machine) conflict(rep *Reply) error {
	r := m.r
	r.set(func(st *Status) { st.OfferedIP = ipString(rep.YourIP) })
	verb := "acknowledged"
	if rep.Type == ReplyOffer {
		verb = "offers"
	}
	return &conflictError{fmt.Sprintf("DHCP server %s %s %s to this node (%s), not its address %s: keeping %s",
		ipString(rep.ServerID), verb, ipString(rep.YourIP), m.l.MAC, m.l.IP, m.l.IP)}
}

// nakked notes a NAK seen while recovering: the state says a server
// refuses, not merely that none answers.
func (m *machine) nakked() {
	if !m.nak {
		m.nak, m.expired = true, false
		m.r.enter(StateNAK)
	}
}

// refused enters the NAK state.
func (m *machine) refused(rep *Reply) {
	r := m.r
	err := fmt.Errorf("DHCP server %s refused %s (NAK %q)", ipString(rep.ServerID), m.l.IP, rep.Message)
	r.fail(err)
	if !m.nak {
		m.nak, m.expired, m.n = true, false, 0
		r.enter(StateNAK)
		r.logf("WARNING: %v: keeping the address (the root depends on it), asking again with a backoff", err)
	}
}

// recover runs one attempt to get the lease's address back after expiry or
// a NAK: an INIT-REBOOT request and, without an ACK, a DISCOVER (and a
// REQUEST for an offer of the same address); then the backoff.
func (m *machine) recover(ctx context.Context) error {
	r := m.r
	sent := r.Clock.Now()
	delay := r.MinRetry
	for i := 0; i < m.n && delay < r.MaxRetry; i++ {
		delay *= 2
	}
	delay = r.jitter(min(delay, r.MaxRetry))
	m.n++
	ok, err := m.reacquire(ctx, sent)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if ok {
		return nil
	}
	r.fail(err)
	what := "expired"
	if m.nak {
		what = "refused"
	}
	r.warnRepeat("lease on %s for %s %s, attempt %d: %v; keeping the address, next attempt in %v",
		m.l.Device, m.l.IP, what, m.n, err, delay.Round(time.Second))
	return r.wait(ctx, delay-r.Clock.Now().Sub(sent))
}

func (m *machine) reacquire(ctx context.Context, sent time.Time) (bool, error) {
	r := m.r
	xid := r.xid()
	var errs []error
	rep, err := r.Ex.Exchange(ctx, Request{Kind: KindReboot, XID: xid, ClientIP: m.l.IP, RequestedIP: m.l.IP}, r.ReplyTimeout)
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case err != nil:
		errs = append(errs, fmt.Errorf("init-reboot: %w", err))
	case rep.Type == ReplyACK && rep.YourIP.Equal(m.l.IP):
		m.bind(rep, sent)
		return true, nil
	case rep.Type == ReplyACK:
		errs = append(errs, m.conflict(rep))
	case rep.Type == ReplyNAK:
		m.nakked()
		errs = append(errs, fmt.Errorf("init-reboot: NAK from %s %q", ipString(rep.ServerID), rep.Message))
	}
	xid = r.xid()
	sent = r.Clock.Now()
	offer, err := r.Ex.Exchange(ctx, Request{Kind: KindDiscover, XID: xid, ClientIP: m.l.IP, RequestedIP: m.l.IP}, r.ReplyTimeout)
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case err != nil:
		errs = append(errs, fmt.Errorf("discover: %w", err))
		return false, joinErrs(errs)
	case offer.Type != ReplyOffer:
		errs = append(errs, fmt.Errorf("discover: unexpected %s from %s", offer.Type, ipString(offer.ServerID)))
		return false, joinErrs(errs)
	case !offer.YourIP.Equal(m.l.IP):
		errs = append(errs, m.conflict(offer))
		return false, joinErrs(errs)
	}
	rep, err = r.Ex.Exchange(ctx, Request{Kind: KindSelect, XID: xid, ClientIP: m.l.IP, ServerID: offer.ServerID, RequestedIP: m.l.IP}, r.ReplyTimeout)
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case err != nil:
		errs = append(errs, fmt.Errorf("request offer from %s: %w", ipString(offer.ServerID), err))
	case rep.Type == ReplyACK && rep.YourIP.Equal(m.l.IP):
		m.bind(rep, sent)
		return true, nil
	case rep.Type == ReplyACK:
		errs = append(errs, m.conflict(rep))
	default:
		if rep.Type == ReplyNAK {
			m.nakked()
		}
		errs = append(errs, fmt.Errorf("request offer from %s: %s %q", ipString(offer.ServerID), rep.Type, rep.Message))
	}
	return false, joinErrs(errs)
}

// bind takes an ACK for the lease's address, requested at sent.
func (m *machine) bind(rep *Reply, sent time.Time) {
	r := m.r
	old := m.l
	nl := old.clone()
	nl.Acquired = sent
	if rep.ServerID != nil {
		nl.ServerID = rep.ServerID
	}
	if rep.LeaseTime > 0 {
		nl.LeaseTime = rep.LeaseTime
	}
	nl.T1, nl.T2 = rep.T1, rep.T2
	// What the server left out stays as it was.
	if rep.Hostname != "" {
		nl.Hostname = rep.Hostname
	}
	if rep.Domain != "" {
		nl.Domain = rep.Domain
	}
	if len(rep.DNS) > 0 {
		nl.DNS = rep.DNS
	}
	if rep.Netmask != nil && !slices.Equal(rep.Netmask, old.Netmask) {
		r.logf("WARNING: DHCP server %s now gives netmask %s for %s (configured %s): not applied",
			ipString(rep.ServerID), net.IP(rep.Netmask), old.IP, net.IP(old.Netmask))
	}
	if rep.Gateway != nil && !rep.Gateway.Equal(old.Gateway) {
		was := "none"
		if old.Gateway != nil {
			was = old.Gateway.String()
		}
		r.logf("WARNING: DHCP server %s now gives gateway %s (configured %s): not applied",
			ipString(rep.ServerID), rep.Gateway, was)
	}
	if rep.LeaseTime > 0 && rep.LeaseTime < 2*r.MinRetry {
		r.logf("WARNING: DHCP server %s gives a %v lease: renewing every %v only", ipString(rep.ServerID), rep.LeaseTime, r.MinRetry)
	}
	m.l = nl
	m.s = r.schedule(sent, nl)
	wasLost := m.nak || m.expired
	m.nak, m.expired, m.n = false, false, 0
	now := r.Clock.Now()
	var failures int
	r.mu.Lock()
	r.cur = nl
	failures = r.st.Failures
	st := &r.st
	st.Server = ipString(nl.ServerID)
	st.LeaseSeconds = int64(nl.LeaseTime / time.Second)
	st.LeaseExpiry, st.NextRenewal, st.LastRenewal = m.s.exp, m.s.t1, now
	st.Renewals++
	st.Failures = 0
	st.OfferedIP = ""
	if st.State != StateBound {
		st.State, st.Since = StateBound, now
	}
	r.mu.Unlock()
	if wasLost {
		r.logf("lease on %s for %s is back: ACK from %s (%d attempts without one), for %v; renewal in %v",
			nl.Device, nl.IP, ipString(nl.ServerID), failures, nl.LeaseTime, m.s.t1.Sub(now).Round(time.Second))
		r.logged, r.quiet = time.Time{}, 0
	} else {
		r.logf("lease on %s for %s renewed by %s for %v; renewal in %v",
			nl.Device, nl.IP, ipString(nl.ServerID), nl.LeaseTime, m.s.t1.Sub(now).Round(time.Second))
	}
	if changed(old, nl) {
		r.logf("lease on %s: hostname %q, domain %q, DNS %v, lease %v (were %q, %q, %v, %v)",
			nl.Device, nl.Hostname, nl.Domain, nl.DNS, nl.LeaseTime, old.Hostname, old.Domain, old.DNS, old.LeaseTime)
		if r.OnChange != nil {
			r.OnChange(old.clone(), nl.clone())
		}
	}
}

// changed reports whether what OnChange hears about differs.
func changed(a, b Lease) bool {
	return a.Hostname != b.Hostname || a.Domain != b.Domain || a.LeaseTime != b.LeaseTime ||
		!slices.EqualFunc(a.DNS, b.DNS, net.IP.Equal)
}
