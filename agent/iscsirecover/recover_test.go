package iscsirecover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidus-go/sidus/iscsi"
)

const (
	tTarget = "iqn.2013-04.zone.sidus.target:10.0.2.15"
	tInit   = "iqn.2013-04.zone.sidus:525400123456"
	tSecret = "sup3r-s3cret-pw"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is virtual time: Sleep returns at once, moving the clock.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	tick   chan time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0, tick: make(chan time.Time)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}
func (c *fakeClock) Ticker(time.Duration) (<-chan time.Time, func()) { return c.tick, func() {} }
func (c *fakeClock) sleepList() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration{}, c.sleeps...)
}

// fakeSystem records attempts; relogin decides each one's fate.
type fakeSystem struct {
	mu         sync.Mutex
	clock      *fakeClock
	events     chan Event
	listenErr  error
	relogin    func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error)
	attemptDur time.Duration // virtual time one attempt takes
	attempts   []iscsi.ReloginOptions
	state      string // session state; "" means gone
	connState  string
	tmo        []int
	sysTmo     int
	logouts    int
	logoutErr  error
}

func (s *fakeSystem) Listen(ctx context.Context) (<-chan Event, error) {
	if s.listenErr != nil {
		return nil, s.listenErr
	}
	return s.events, nil
}
func (s *fakeSystem) Relogin(ctx context.Context, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
	s.mu.Lock()
	s.attempts = append(s.attempts, o)
	n := len(s.attempts)
	s.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("attempt without a deadline")
	}
	s.clock.advance(s.attemptDur)
	res, err := s.relogin(n, o)
	if err == nil {
		s.mu.Lock()
		s.state, s.connState = iscsi.SessionLoggedIn, "up"
		s.mu.Unlock()
	}
	return res, err
}
func (s *fakeSystem) SetRecoveryTimeout(sid, cid uint32, seconds int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tmo = append(s.tmo, seconds)
	s.sysTmo = seconds
	return nil
}
func (s *fakeSystem) SessionState(sid int) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == "" {
		return "", fs.ErrNotExist
	}
	return s.state, nil
}
func (s *fakeSystem) ConnState(sid, cid int) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connState, nil
}
func (s *fakeSystem) RecoveryTimeout(sid int) (int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sysTmo, s.sysTmo < 0, nil
}
func (s *fakeSystem) Logout(ctx context.Context, sid, cid uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logouts++
	return s.logoutErr
}
func (s *fakeSystem) fail(state string) {
	s.mu.Lock()
	s.state, s.connState = state, "failed"
	s.mu.Unlock()
}
func (s *fakeSystem) attemptList() []iscsi.ReloginOptions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]iscsi.ReloginOptions{}, s.attempts...)
}

type logLine struct {
	at   time.Time
	text string
}

type logs struct {
	mu    sync.Mutex
	clock *fakeClock
	lines []logLine
}

func (l *logs) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, logLine{l.clock.Now(), fmt.Sprintf(format, a...)})
}
func (l *logs) all() []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logLine{}, l.lines...)
}
func (l *logs) String() string {
	var b strings.Builder
	for _, x := range l.all() {
		fmt.Fprintf(&b, "%s %s\n", x.at.Sub(t0), x.text)
	}
	return b.String()
}

func baseConfig() Config {
	return Config{SID: 1, CID: 0, TargetName: tTarget, Initiator: tInit, Portal: "10.0.2.100:3260",
		Portals: []string{"10.0.2.100", "10.0.2.101:3261", "10.0.2.102"}, TSIH: 0x1234,
		Username: "node", Password: tSecret}
}

func newTest(t *testing.T, cfg Config, relogin func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error)) (*Recoverer, *fakeSystem, *fakeClock, *logs) {
	t.Helper()
	return newTestOpts(t, cfg, relogin, Options{})
}

func newTestOpts(t *testing.T, cfg Config, relogin func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error), o Options) (*Recoverer, *fakeSystem, *fakeClock, *logs) {
	t.Helper()
	c := newClock()
	s := &fakeSystem{clock: c, events: make(chan Event, 16), relogin: relogin, state: iscsi.SessionLoggedIn, connState: "up"}
	l := &logs{clock: c}
	jitter := 0.0
	o.System, o.Clock, o.Logf = s, c, l.logf
	o.Rand = func() float64 {
		jitter += 0.37
		if jitter >= 1 {
			jitter -= 1
		}
		return jitter
	}
	r, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, x := range l.all() {
			if strings.Contains(x.text, tSecret) {
				t.Errorf("secret in log: %s", x.text)
			}
		}
		b, _ := json.Marshal(r.Status())
		if strings.Contains(string(b), tSecret) {
			t.Errorf("secret in status: %s", b)
		}
		if t.Failed() {
			t.Logf("log:\n%s", l)
		}
	})
	return r, s, c, l
}

var errRefused = errors.New("connecting to the portal: connection refused")

func ok(tsih uint16) (*iscsi.ReloginResult, error) {
	return &iscsi.ReloginResult{TSIH: tsih, Auth: "CHAP"}, nil
}

func portals(as []iscsi.ReloginOptions) string {
	var p []string
	for _, a := range as {
		p = append(p, a.Portal)
	}
	return strings.Join(p, " ")
}

func TestPortalFailover(t *testing.T) {
	r, s, c, l := newTest(t, baseConfig(), func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
		if o.Portal != "10.0.2.102:3260" {
			return nil, errRefused
		}
		return ok(0x1234)
	})
	s.fail(iscsi.SessionFailed)
	r.recover(context.Background(), "connection error ISCSI_ERR_TCP_CONN_CLOSE (1020)")
	if got := portals(s.attemptList()); got != "10.0.2.100:3260 10.0.2.101:3261 10.0.2.102:3260" {
		t.Errorf("portal order %s", got)
	}
	st := r.Snapshot()
	if st.State != StateLoggedIn || st.Portal != "10.0.2.102:3260" || st.ReconnectCount != 1 {
		t.Errorf("status %+v", st)
	}
	rc := st.Reconnects[0]
	if !rc.Recovered || rc.Attempts != 3 || rc.Portal != "10.0.2.102:3260" || rc.Error != "connection error ISCSI_ERR_TCP_CONN_CLOSE (1020)" ||
		rc.LastAttempt != errRefused.Error() || rc.DurationSeconds <= 0 || !rc.At.Equal(t0) {
		t.Errorf("reconnect %+v", rc)
	}
	if sl := c.sleepList(); len(sl) != 2 {
		t.Errorf("sleeps %v", sl)
	}
	// One line per attempt.
	for n := 1; n <= 3; n++ {
		cnt := 0
		for _, x := range l.all() {
			if strings.Contains(x.text, fmt.Sprintf("attempt %d ", n)) || strings.Contains(x.text, fmt.Sprintf("attempt %d:", n)) {
				cnt++
			}
		}
		if cnt != 1 {
			t.Errorf("attempt %d: %d log lines", n, cnt)
		}
	}

	// The next failure starts at the portal in use, then goes round.
	s.mu.Lock()
	s.attempts = nil
	s.relogin = func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
		if n < 3 {
			return nil, errRefused
		}
		return ok(0x1234)
	}
	s.mu.Unlock()
	r.recover(context.Background(), "again")
	if got := portals(s.attemptList()); got != "10.0.2.102:3260 10.0.2.100:3260 10.0.2.101:3261" {
		t.Errorf("second recovery's portal order %s", got)
	}
	if st := r.Snapshot(); st.Portal != "10.0.2.101:3261" || st.ReconnectCount != 2 {
		t.Errorf("status %+v", st)
	}
}

func TestSessionReinstatementByDefault(t *testing.T) {
	r, s, _, _ := newTest(t, baseConfig(), func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) { return ok(0x5678) })
	r.recover(context.Background(), "x")
	r.recover(context.Background(), "y")
	for i, a := range s.attemptList() {
		if a.TSIH != 0 || a.ISID != iscsi.ISIDForSID(1) {
			t.Errorf("attempt %d: TSIH %#x ISID %x", i+1, a.TSIH, a.ISID)
		}
	}
}

func TestTSIHThenReinstatement(t *testing.T) {
	cfg := baseConfig()
	r, s, c, l := newTestOpts(t, cfg, func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
		if o.TSIH != 0 {
			return nil, &iscsi.LoginError{Class: 2, Detail: 0x0a, Target: tTarget, Portal: o.Portal}
		}
		return ok(0x5678)
	}, Options{ReuseTSIH: true})
	r.recover(context.Background(), "target restarted")
	as := s.attemptList()
	if len(as) != 2 || as[0].TSIH != 0x1234 || as[1].TSIH != 0 || as[0].Portal != as[1].Portal {
		t.Fatalf("attempts %+v", as)
	}
	if as[0].ISID != iscsi.ISIDForSID(1) || as[1].ISID != as[0].ISID || as[0].Username != "node" || as[0].Password != tSecret {
		t.Errorf("login identity %+v", as[0])
	}
	if sl := c.sleepList(); len(sl) != 0 {
		t.Errorf("slept %v before the reinstatement", sl)
	}
	if !strings.Contains(l.String(), "logging in again at once with TSIH 0 (session reinstatement)") {
		t.Errorf("log:\n%s", l)
	}
	// The target's new TSIH is the one used next time.
	s.mu.Lock()
	s.attempts = nil
	s.relogin = func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) { return ok(o.TSIH) }
	s.mu.Unlock()
	r.recover(context.Background(), "blip")
	if as := s.attemptList(); len(as) != 1 || as[0].TSIH != 0x5678 {
		t.Errorf("attempts after reinstatement %+v", as)
	}
}

func TestTSIHZeroNoLoop(t *testing.T) {
	// A target that answers "no session" even to TSIH 0 is an ordinary
	// failure: backoff, not a tight loop.
	cfg := baseConfig()
	cfg.TSIH = 0
	cfg.Recovery = 20 * time.Second
	r, s, c, _ := newTestOpts(t, cfg, func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
		return nil, &iscsi.LoginError{Class: 2, Detail: 0x0a}
	}, Options{ReuseTSIH: true})
	r.recover(context.Background(), "x")
	if n, sl := len(s.attemptList()), len(c.sleepList()); n > 10 || sl < n-1 {
		t.Errorf("%d attempts, %d sleeps", n, sl)
	}
}

func TestRedirect(t *testing.T) {
	r, s, _, _ := newTest(t, baseConfig(), func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
		if o.Portal == "10.0.2.100:3260" {
			return nil, &iscsi.LoginError{Class: 1, Detail: 1, Redirect: "10.0.9.9:3260,1"}
		}
		return ok(0x1234)
	})
	r.recover(context.Background(), "x")
	if got := portals(s.attemptList()); got != "10.0.2.100:3260 10.0.9.9:3260" {
		t.Errorf("attempts %s", got)
	}
	if st := r.Snapshot(); st.Portal != "10.0.9.9:3260" || r.cur != 0 {
		t.Errorf("portal %s, cur %d (the next recovery starts at the original address)", st.Portal, r.cur)
	}
}

func TestBackoffBounds(t *testing.T) {
	for n := 1; n <= 40; n++ {
		d := time.Second << min(n-1, 10)
		d = min(d, 30*time.Second)
		for _, x := range []float64{0, 0.25, 0.5, 0.999999, 1, -1} {
			b := backoff(n, time.Second, 30*time.Second, x)
			if b < d/2 || b > d || b < 500*time.Millisecond || b > 30*time.Second {
				t.Errorf("backoff(%d, r=%v) = %s, want in [%s, %s]", n, x, b, d/2, d)
			}
		}
	}
	if b := backoff(6, time.Second, 30*time.Second, 0); b != 15*time.Second {
		t.Errorf("cap: %s", b)
	}

	// In a recovery: never a tight loop, the waits grow to the cap.
	cfg := baseConfig()
	cfg.Portals = nil
	r, s, c, _ := newTest(t, cfg, func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
		if n <= 12 {
			return nil, errRefused
		}
		return ok(1)
	})
	r.recover(context.Background(), "x")
	sl := c.sleepList()
	if len(sl) != 12 || len(s.attemptList()) != 13 {
		t.Fatalf("sleeps %v", sl)
	}
	for i, d := range sl {
		hi := min(time.Second<<i, 8*time.Second) // the default BackoffMax
		if d < hi/2 || d > hi {
			t.Errorf("sleep %d: %s not in [%s, %s]", i+1, d, hi/2, hi)
		}
	}
	if sl[len(sl)-1] < 4*time.Second {
		t.Errorf("the waits did not reach the cap: %v", sl)
	}
}

func TestAuthFailureLoudness(t *testing.T) {
	authErr := &iscsi.LoginError{Class: 2, Detail: 1, Target: tTarget, Portal: "10.0.2.100:3260"}
	cfg := baseConfig()
	cfg.Portals = nil
	r, s, _, l := newTest(t, cfg, func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
		if n <= 40 {
			return nil, authErr
		}
		return ok(0x1234)
	})
	r.recover(context.Background(), "x")
	if st := r.Snapshot(); st.State != StateLoggedIn || len(s.attemptList()) != 41 {
		t.Fatalf("did not keep trying: %+v, %d attempts", st, len(s.attemptList()))
	}
	var loud []time.Time
	attemptLines := 0
	for _, x := range l.all() {
		if strings.Contains(x.text, "ERROR:") {
			loud = append(loud, x.at)
			if !strings.Contains(x.text, "authentication failed") {
				t.Errorf("loud line without the reason: %s", x.text)
			}
		}
		if strings.Contains(x.text, ": attempt ") {
			attemptLines++
		}
	}
	if attemptLines != 41 {
		t.Errorf("%d attempt lines for 41 attempts", attemptLines)
	}
	elapsed := l.all()[len(l.all())-1].at.Sub(t0)
	if len(loud) < 2 || len(loud) > int(elapsed/time.Minute)+1 {
		t.Errorf("%d loud lines in %s", len(loud), elapsed)
	}
	for i := 1; i < len(loud); i++ {
		if loud[i].Sub(loud[i-1]) < time.Minute {
			t.Errorf("loud lines %s apart", loud[i].Sub(loud[i-1]))
		}
	}
	// Mutual CHAP failing on our side counts too.
	if !isCredentialError(errors.New("mutual CHAP failed for target x: bad response")) || isCredentialError(errRefused) {
		t.Error("isCredentialError")
	}
}

func TestRecoveryDeadline(t *testing.T) {
	cfg := baseConfig()
	cfg.Recovery = 60 * time.Second
	r, s, c, l := newTest(t, cfg, func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
		return nil, errRefused
	})
	s.attemptDur = 2 * time.Second
	r.applyRecoveryTimeout()
	if fmt.Sprint(s.tmo) != "[60]" {
		t.Errorf("kernel recovery timeout %v", s.tmo)
	}
	r.recover(context.Background(), "x")
	// Attempts take virtual time the fake does not bound: allow one.
	if end := c.Now().Sub(t0); end < 60*time.Second || end > 62*time.Second {
		t.Errorf("gave up at %s", end)
	}
	for i, a := range s.attemptList() {
		if a.RecoveryTimeout != 60 {
			t.Errorf("attempt %d: recovery timeout %d", i, a.RecoveryTimeout)
		}
	}
	st := r.Snapshot()
	if st.State != StateFailed || !r.gaveUp || st.Reconnects[0].Recovered || st.Reconnects[0].DurationSeconds < 60 || st.Reconnects[0].DurationSeconds > 62 || st.LastError != errRefused.Error() {
		t.Errorf("status %+v", st)
	}
	if !strings.Contains(l.String(), "giving up after 1m0s") {
		t.Errorf("log:\n%s", l)
	}
	// Given up: further failures are left alone.
	n := len(s.attemptList())
	r.handle(context.Background(), Event{Type: EventConnError, SID: 1, CID: 0, Error: ErrTCPConnClose, At: c.Now()})
	r.check(context.Background(), "tick")
	if len(s.attemptList()) != n {
		t.Error("recovered after giving up")
	}
}

func TestRecoverySeconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{{0, -1}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {90 * time.Second, 90}} {
		if got := (Config{Recovery: tt.d}).recoverySeconds(); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.d, got, tt.want)
		}
	}
	r, s, _, l := newTest(t, baseConfig(), nil)
	r.applyRecoveryTimeout()
	if fmt.Sprint(s.tmo) != "[-1]" || !strings.Contains(l.String(), "recovery_tmo off") {
		t.Errorf("forever: %v\n%s", s.tmo, l)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestRunEvents(t *testing.T) {
	r, s, c, l := newTest(t, baseConfig(), func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) { return ok(0x1234) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "the recovery timeout", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.tmo) == 1 })

	// Another session's error, another connection's: ignored.
	s.events <- Event{Type: EventConnError, SID: 2, CID: 0, Error: ErrTCPConnClose, At: c.Now()}
	s.events <- Event{Type: EventConnError, SID: 1, CID: 1, Error: ErrTCPConnClose, At: c.Now()}
	// Ours.
	c.advance(time.Second)
	s.fail(iscsi.SessionFailed)
	s.events <- Event{Type: EventConnError, SID: 1, CID: 0, Error: ErrTCPConnClose, At: c.Now()}
	waitFor(t, "the recovery", func() bool { return r.Snapshot().ReconnectCount == 1 })
	if n := len(s.attemptList()); n != 1 {
		t.Errorf("%d attempts", n)
	}
	// Stale: reported before the login, or the connection is still up.
	s.events <- Event{Type: EventConnError, SID: 1, CID: 0, Error: ErrConnFailed, At: t0.Add(time.Second)}
	c.advance(time.Second)
	s.events <- Event{Type: EventConnError, SID: 1, CID: 0, Error: ErrNopTimedOut, At: c.Now()}
	waitFor(t, "the stale errors", func() bool { return strings.Count(l.String(), "ignoring CONN_ERROR") == 2 })
	if n := len(s.attemptList()); n != 1 {
		t.Errorf("stale errors caused a recovery: %d attempts", n)
	}
	// Lost events: the state is checked.
	s.fail(iscsi.SessionFailed)
	s.events <- Event{Overrun: true, At: c.Now()}
	waitFor(t, "the recovery after an overrun", func() bool { return r.Snapshot().ReconnectCount == 2 })
	// The periodic check finds a failed session too.
	s.fail(iscsi.SessionFree)
	c.tick <- c.Now()
	waitFor(t, "the recovery after a tick", func() bool { return r.Snapshot().ReconnectCount == 3 })
	// The session removed: failed for good.
	s.events <- Event{Type: EventDestroySession, SID: 1, Host: 5, At: c.Now()}
	waitFor(t, "failed", func() bool { return r.Snapshot().State == StateFailed })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestRunStartsFailed(t *testing.T) {
	r, s, _, l := newTest(t, baseConfig(), func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) { return ok(0x1234) })
	s.listenErr = errors.New("iscsi events: NETLINK_ISCSI is not available")
	s.fail(iscsi.SessionFailed)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, "the recovery at start", func() bool { return r.Snapshot().ReconnectCount == 1 })
	cancel()
	<-done
	if !strings.Contains(l.String(), "checking the session's state every 5s instead") {
		t.Errorf("log:\n%s", l)
	}
}

func TestLogoutStopsRecovery(t *testing.T) {
	r, s, _, _ := newTest(t, baseConfig(), func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
		time.Sleep(time.Millisecond)
		return nil, errRefused
	})
	s.fail(iscsi.SessionFailed)
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()
	waitFor(t, "attempts", func() bool { return len(s.attemptList()) >= 3 })
	if err := r.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run still running after Logout")
	}
	st := r.Snapshot()
	if s.logouts != 1 || st.State != StateLoggedOut || st.ReconnectCount != 1 || st.Reconnects[0].Recovered {
		t.Errorf("logouts %d, status %+v", s.logouts, st)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Errorf("Run after Logout: %v", err)
	}
}

func TestStatusJSON(t *testing.T) {
	r, _, _, _ := newTest(t, baseConfig(), func(n int, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
		if n == 1 {
			return nil, errRefused
		}
		return ok(1)
	})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // readers while the recoverer writes (go test -race)
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				json.Marshal(r.Status())
			}
		}
	}()
	for i := 0; i < 25; i++ {
		r.recover(context.Background(), "x")
	}
	close(stop)
	wg.Wait()
	b, err := json.Marshal(&r.status)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"state", "portal", "reconnects", "last_error", "reconnect_count", "recovery_seconds", "since", "sid", "target"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	rcs := m["reconnects"].([]any)
	if len(rcs) != maxReconnects || m["reconnect_count"].(float64) != 25 || m["state"] != "logged_in" {
		t.Errorf("status %s", b)
	}
	rc := rcs[0].(map[string]any)
	for _, k := range []string{"at", "duration_seconds", "portal", "error", "attempts", "recovered"} {
		if _, ok := rc[k]; !ok {
			t.Errorf("no %q in reconnect %v", k, rc)
		}
	}
}

// The agent's Duty (agent.Duty), which this package cannot import.
var _ interface {
	Name() string
	Run(ctx context.Context) error
	Status() any
} = (*Recoverer)(nil)

func TestNewChecksConfig(t *testing.T) {
	if _, err := New(Config{SID: 1, TargetName: tTarget, Initiator: tInit}, Options{System: &fakeSystem{}}); err == nil {
		t.Error("no portal accepted")
	}
	r, _, _, _ := newTest(t, baseConfig(), nil)
	if r.Name() != "iscsi" || r.Snapshot().State != StateLoggedIn || r.Snapshot().Portal != "10.0.2.100:3260" || r.cfg.Portals[1] != "10.0.2.101:3261" {
		t.Errorf("new recoverer: %+v %v", r.Snapshot(), r.cfg.Portals)
	}
}
