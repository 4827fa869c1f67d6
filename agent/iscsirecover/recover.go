// Package iscsirecover keeps the node's kernel iSCSI session alive after
// switch_root, where no open-iscsi iscsid runs: when the kernel reports
// that the connection failed (the target restarted, the network blipped,
// a NOP-Out went unanswered), it logs in again the way iscsid's
// session_conn_reopen does, so that the I/O the kernel queued completes.
//
// The recovery of one failure (Recoverer.recover):
//
//  1. stop the connection for recovery (STOP_CONN_RECOVER): the kernel
//     blocks the SCSI target and requeues the commands in flight;
//  2. connect a TCP socket to the portal in use, else the next one in
//     Config.Portals (round robin), bind it to the same session and
//     connection ids;
//  3. log in with the session's ISID and TSIH 0: a session reinstatement
//     (RFC 7143 6.3.5), which is what iscsid always does (usr/login.c
//     sets tsih = 0 in every login PDU); with Options.ReuseTSIH, first
//     with the session's TSIH (a connection reinstatement), then, if the
//     target no longer has the session (status 0x020a, after a restart),
//     at once with TSIH 0; a redirection is followed at once; None, CHAP
//     or mutual CHAP through iscsi.LoginOver;
//  4. set the negotiated parameters and start the connection: the kernel
//     unblocks the target and the queued I/O runs.
//
// Failed attempts are retried after a jittered exponential backoff (1 s
// doubling to 30 s), one log line each; a login refused for its
// credentials is logged as a loud error at most once a minute, and tried
// again. Config.Recovery (sidus.iscsi.recovery=) bounds it: 0 keeps trying
// forever and sets the kernel's recovery timeout to -1 (never fail I/O,
// like an NFS hard mount); N seconds sets it to N, so the kernel fails the
// queued I/O after N s, and the recoverer gives up then.
//
// Linux facts this relies on (drivers/scsi/scsi_transport_iscsi.c and
// libiscsi.c of 6.1): CONN_ERROR comes on NETLINK_ISCSI group
// ISCSI_NL_GRP_ISCSID; after it the kernel refuses BIND/START/SEND_PDU
// (-ENOTCONN) until userspace stops the connection with STOP_CONN_RECOVER;
// recovery_tmo < 0 never arms the timer that fails blocked I/O.
package iscsirecover

import (
	"context"
	"errors"
	"fmt"
	"github.com/sidus-go/sidus/agent/clock"
	"io/fs"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/sidus-go/sidus/iscsi"
)

// System is the recoverer's seam to the kernel.
type System interface {
	// Listen delivers the kernel's iSCSI events (see Listen).
	Listen(ctx context.Context) (<-chan Event, error)
	// Relogin is one reconnection attempt (iscsi.Relogin).
	Relogin(ctx context.Context, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error)
	// SetRecoveryTimeout sets the session's recovery timeout in seconds,
	// negative for never (iscsi.SetRecoveryTimeout).
	SetRecoveryTimeout(sid, cid uint32, seconds int) error
	// SessionState, ConnState and RecoveryTimeout read sysfs (iscsi.Sysfs).
	SessionState(sid int) (string, error)
	ConnState(sid, cid int) (string, error)
	RecoveryTimeout(sid int) (seconds int, never bool, err error)
	// Logout ends the session (iscsi.LogoutSession).
	Logout(ctx context.Context, sid, cid uint32) error
}

// Clock is the recoverer's time (package agent/clock).
type Clock = clock.Clock

// Options are the recoverer's seams and tunables; zero values take the
// defaults.
type Options struct {
	System System               // DefaultSystem(Logf)
	Clock  Clock                // the real clock
	Rand   func() float64       // jitter in [0, 1); math/rand/v2
	Logf   func(string, ...any) // one line per call, no newline needed

	// ReuseTSIH logs in first with the session's TSIH (connection
	// reinstatement), falling back to TSIH 0 when the target no longer
	// has the session. Off, every login is a session reinstatement, as
	// iscsid's: at ErrorRecoveryLevel 0 the kernel has already failed the
	// tasks of the connection, a target like LIO ends an ERL 0 session at
	// its first connection failure anyway, and a reinstated connection
	// keeps the target's ExpCmdSN, stalling on the CmdSN of a command
	// that never reached it; a new session takes the kernel's CmdSN.
	ReuseTSIH bool

	LoginTimeout    time.Duration // one attempt, connect to full feature phase: 15 s (iscsid's login_timeout)
	BackoffMin      time.Duration // 1 s
	BackoffMax      time.Duration // 8 s: a target that is back is found within seconds
	AuthLogInterval time.Duration // loud credential errors at most this often: 1 min
	PollInterval    time.Duration // sysfs state check, for lost events: 5 s
	StaleGrace      time.Duration // how long a still "up" connection makes a CONN_ERROR stale: 1 s
}

// maxRedirects bounds the redirections followed at once in a row.
const maxRedirects = 4

// Recoverer tends one kernel session; it is an agent duty (Name, Run,
// Status).
type Recoverer struct {
	cfg    Config
	o      Options
	sys    System
	clock  Clock
	logf   func(string, ...any)
	status Status

	mu         sync.Mutex
	running    bool
	loggingOut bool
	cancel     context.CancelFunc
	done       chan struct{}

	// Owned by Run's goroutine (Logout waits for it to end first).
	cur      int    // index in cfg.Portals of the portal in use
	tsih     uint16 // the session's current TSIH
	lastUp   time.Time
	gaveUp   bool
	conn     *iscsi.ReloginResult // our descriptors of the current socket
	lastLoud time.Time
}

// New checks cfg and returns its recoverer.
func New(cfg Config, o Options) (*Recoverer, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.LoginTimeout, 15*time.Second)
	def(&o.BackoffMin, time.Second)
	def(&o.BackoffMax, 8*time.Second)
	def(&o.AuthLogInterval, time.Minute)
	def(&o.PollInterval, 5*time.Second)
	def(&o.StaleGrace, time.Second)
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.System == nil {
		o.System = DefaultSystem(o.Logf)
	}
	r := &Recoverer{cfg: cfg, o: o, sys: o.System, clock: o.Clock, logf: o.Logf, tsih: cfg.TSIH}
	r.status.s = StatusSnapshot{State: StateLoggedIn, SID: cfg.SID, Target: cfg.TargetName, Portal: cfg.Portal,
		Since: r.clock.Now(), RecoverySeconds: max(cfg.recoverySeconds(), 0), Reconnects: []Reconnect{}}
	return r, nil
}

// Name is the agent duty's key in the status file.
func (r *Recoverer) Name() string { return "iscsi" }

// Status is the duty's part of the status file (a StatusSnapshot).
func (r *Recoverer) Status() any { return r.status.Snapshot() }

// Snapshot is the current status.
func (r *Recoverer) Snapshot() StatusSnapshot { return r.status.Snapshot() }

func (r *Recoverer) prefix() string { return fmt.Sprintf("iscsi-recover: session %d", r.cfg.SID) }

// Run tends the session until ctx ends (or Logout). It sets the kernel's
// recovery timeout, recovers a session found failed at start, then
// recovers on every CONN_ERROR of its connection and whenever sysfs shows
// the session failed (events can be lost). It returns nil when stopped.
func (r *Recoverer) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("iscsi recovery: already running")
	}
	if r.loggingOut {
		r.mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.running, r.cancel, r.done = true, cancel, done
	r.mu.Unlock()
	defer func() {
		cancel()
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
		close(done)
	}()

	events, err := r.sys.Listen(ctx)
	if err != nil {
		r.logf("%s: %v; checking the session's state every %s instead", r.prefix(), err, r.o.PollInterval)
		events = nil
	}
	r.applyRecoveryTimeout()
	tick, stop := r.clock.Ticker(r.o.PollInterval)
	defer stop()
	r.check(ctx, "at start")
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				if ctx.Err() == nil {
					r.logf("%s: the kernel event listener stopped; checking the session's state every %s", r.prefix(), r.o.PollInterval)
				}
				continue
			}
			r.handle(ctx, ev)
		case <-tick:
			r.check(ctx, "periodic check")
		}
	}
}

// applyRecoveryTimeout tells the kernel how long to keep I/O queued.
func (r *Recoverer) applyRecoveryTimeout() {
	secs := r.cfg.recoverySeconds()
	if err := r.sys.SetRecoveryTimeout(uint32(r.cfg.SID), uint32(r.cfg.CID), secs); err != nil {
		r.logf("%s: %v", r.prefix(), err)
		return
	}
	got, never, err := r.sys.RecoveryTimeout(r.cfg.SID)
	switch {
	case err != nil:
	case secs < 0 && !never:
		r.logf("%s: warning: recovery_tmo is %d s, not off: it was set through sysfs, which takes precedence; the kernel fails queued I/O after it", r.prefix(), got)
		return
	case secs > 0 && got != secs:
		r.logf("%s: warning: recovery_tmo is %d s, not %d: it was set through sysfs, which takes precedence", r.prefix(), got, secs)
		return
	}
	if secs < 0 {
		r.logf("%s: the kernel keeps I/O queued for as long as the connection is down (recovery_tmo off); reconnecting forever", r.prefix())
	} else {
		r.logf("%s: the kernel fails queued I/O %d s after a connection failure (recovery_tmo %d, sidus.iscsi.recovery)", r.prefix(), secs, secs)
	}
}

// check recovers the session if sysfs says it failed.
func (r *Recoverer) check(ctx context.Context, why string) {
	if r.gaveUp || ctx.Err() != nil {
		return
	}
	st, err := r.sys.SessionState(r.cfg.SID)
	if errors.Is(err, fs.ErrNotExist) {
		r.fail(fmt.Sprintf("session %d no longer exists (%s)", r.cfg.SID, why))
		return
	}
	if err != nil {
		return
	}
	if st == iscsi.SessionFailed || st == iscsi.SessionFree {
		r.recover(ctx, fmt.Sprintf("session state %s (%s)", st, why))
	}
}

func (r *Recoverer) handle(ctx context.Context, ev Event) {
	if ev.Overrun {
		r.check(ctx, "kernel events were lost")
		return
	}
	if ev.SID != uint32(r.cfg.SID) || r.gaveUp {
		return
	}
	switch ev.Type {
	case EventConnError:
		if ev.CID != uint32(r.cfg.CID) {
			return
		}
		if ev.Error == ErrInvalidHost {
			// iscsid shuts the session down: its SCSI host is going away.
			r.fail("the kernel reports " + ConnErrorName(ev.Error) + ": its SCSI host is going away")
			return
		}
		if !ev.At.IsZero() && !r.lastUp.IsZero() && !ev.At.After(r.lastUp) {
			r.logf("%s: ignoring %s: reported before the last login", r.prefix(), ev)
			return
		}
		if r.stillUp(ctx) {
			r.logf("%s: ignoring %s: the connection is up", r.prefix(), ev)
			return
		}
		r.recover(ctx, "connection error "+ConnErrorName(ev.Error))
	case EventUnbindSession, EventDestroySession:
		r.fail(fmt.Sprintf("the kernel removed the session (%s)", ev.Type))
	case EventConnLoginState:
		r.logf("%s: %s", r.prefix(), ev)
	}
}

// stillUp reports whether sysfs shows the connection up and the session
// logged in for StaleGrace: then a CONN_ERROR is stale. After a real one
// Linux (>= 5.18) marks the connection failed at once; a kernel without
// the connection's state attribute makes every error count.
func (r *Recoverer) stillUp(ctx context.Context) bool {
	until := r.clock.Now().Add(r.o.StaleGrace)
	for {
		cs, err := r.sys.ConnState(r.cfg.SID, r.cfg.CID)
		if err != nil || cs != "up" {
			return false
		}
		ss, err := r.sys.SessionState(r.cfg.SID)
		if err != nil || ss != iscsi.SessionLoggedIn {
			return false
		}
		if !r.clock.Now().Before(until) {
			return true
		}
		if r.clock.Sleep(ctx, 100*time.Millisecond) != nil {
			return false
		}
	}
}

// fail gives up on the session for good.
func (r *Recoverer) fail(why string) {
	if r.gaveUp {
		return
	}
	r.gaveUp = true
	r.status.setState(StateFailed, r.clock.Now(), "")
	r.status.update(func(s *StatusSnapshot) { s.LastError = why })
	r.logf("%s: ERROR: %s; not recovering it any more", r.prefix(), why)
}

func (r *Recoverer) reloginOptions(portal string, tsih uint16) iscsi.ReloginOptions {
	c := r.cfg
	return iscsi.ReloginOptions{
		SID: uint32(c.SID), CID: uint32(c.CID), Portal: portal,
		TargetName: c.TargetName, Initiator: c.Initiator, PortalGroup: c.PortalGroup, ISID: c.ISID, TSIH: tsih,
		Username: c.Username, Password: c.Password, InUsername: c.InUsername, InPassword: c.InPassword,
		RecoveryTimeout: c.recoverySeconds(),
	}
}

func (r *Recoverer) closeConn() {
	r.conn.Close()
	r.conn = nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// isCredentialError reports a login refused for its credentials, on either
// side: the target's "authentication failure" (0x0201) or "authorization
// failure" (0x0202), or a CHAP exchange that failed here (mutual CHAP).
func isCredentialError(err error) bool {
	var le *iscsi.LoginError
	if errors.As(err, &le) {
		return le.Class == 2 && (le.Detail == 1 || le.Detail == 2)
	}
	return err != nil && strings.Contains(err.Error(), "CHAP")
}

// recover logs in again after one failure (see the package comment). It
// returns when logged in, given up, or ctx ended.
func (r *Recoverer) recover(ctx context.Context, cause string) {
	start := r.clock.Now()
	var deadline time.Time
	policy := "for as long as it takes"
	if r.cfg.Recovery > 0 {
		deadline = start.Add(r.cfg.Recovery)
		policy = fmt.Sprintf("for up to %s (sidus.iscsi.recovery)", r.cfg.Recovery)
	}
	r.closeConn()
	r.status.setState(StateRecovering, start, "")
	r.status.update(func(s *StatusSnapshot) { s.Attempts, s.LastError = 0, cause })
	r.logf("%s: %s; logging in again, the kernel keeps the I/O queued %s", r.prefix(), cause, policy)
	rec := Reconnect{At: start, Error: cause}
	record := func(n int, portal string, lastErr error, ok bool) {
		rec.DurationSeconds = seconds(r.clock.Now().Sub(start))
		rec.Attempts, rec.Portal, rec.LastAttempt, rec.Recovered = n, portal, errString(lastErr), ok
		r.status.addReconnect(rec)
	}
	idx := r.cur
	tsih := uint16(0)
	if r.o.ReuseTSIH {
		tsih = r.tsih
	}
	redirect, redirects, failures := "", 0, 0
	portal := r.cfg.Portals[idx]
	var lastErr error
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			record(n-1, portal, lastErr, false)
			r.logf("%s: recovery stopped after %d attempts", r.prefix(), n-1)
			return
		}
		now := r.clock.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			record(n-1, portal, lastErr, false)
			r.gaveUp = true
			r.status.setState(StateFailed, now, portal)
			r.logf("%s: ERROR: giving up after %s and %d attempts (sidus.iscsi.recovery=%d): the kernel fails the queued I/O; last error: %v",
				r.prefix(), now.Sub(start).Round(time.Second), n-1, r.cfg.recoverySeconds(), lastErr)
			return
		}
		portal = r.cfg.Portals[idx]
		if redirect != "" {
			portal = redirect
		}
		limit := r.o.LoginTimeout
		if !deadline.IsZero() && deadline.Sub(now) < limit {
			limit = deadline.Sub(now)
		}
		actx, cancel := context.WithTimeout(ctx, limit)
		res, err := r.sys.Relogin(actx, r.reloginOptions(portal, tsih))
		cancel()
		took := r.clock.Now().Sub(now)
		r.status.update(func(s *StatusSnapshot) { s.Attempts, s.Portal = n, portal })
		if err == nil {
			r.conn, r.tsih, r.lastUp = res, res.TSIH, r.clock.Now()
			if redirect == "" {
				r.cur = idx
			}
			record(n, portal, lastErr, true)
			r.status.setState(StateLoggedIn, r.lastUp, portal)
			r.status.update(func(s *StatusSnapshot) { s.Attempts = 0 })
			r.logf("%s: attempt %d: logged in again at %s (auth %s, TSIH 0x%04x) %s after the failure; the queued I/O resumes",
				r.prefix(), n, portal, res.Auth, res.TSIH, r.lastUp.Sub(start).Round(time.Millisecond))
			return
		}
		lastErr = err
		r.status.update(func(s *StatusSnapshot) { s.LastError = err.Error() })
		if ctx.Err() != nil {
			continue
		}
		if _, serr := r.sys.SessionState(r.cfg.SID); errors.Is(serr, fs.ErrNotExist) {
			record(n, portal, lastErr, false)
			r.fail(fmt.Sprintf("session %d no longer exists (attempt %d: %v)", r.cfg.SID, n, err))
			return
		}
		if tsih != 0 && iscsi.IsSessionGone(err) {
			r.logf("%s: attempt %d at %s: the target no longer has the session (TSIH 0x%04x): %v; logging in again at once with TSIH 0 (session reinstatement)",
				r.prefix(), n, portal, tsih, err)
			tsih = 0
			continue
		}
		if to := iscsi.Redirected(err); to != "" && redirects < maxRedirects {
			redirects++
			r.logf("%s: attempt %d at %s: redirected to %s", r.prefix(), n, portal, to)
			redirect = to
			continue
		}
		redirect, redirects = "", 0
		failures++
		wait := backoff(failures, r.o.BackoffMin, r.o.BackoffMax, r.o.Rand())
		if !deadline.IsZero() {
			if left := deadline.Sub(r.clock.Now()); wait > left {
				wait = max(left, 0)
			}
		}
		r.logAttempt(n, portal, tsih, took, err, wait)
		idx = (idx + 1) % len(r.cfg.Portals)
		_ = r.clock.Sleep(ctx, wait) // ctx's end is seen above
	}
}

// logAttempt writes the one line of a failed attempt: a loud error for a
// credential failure, at most every AuthLogInterval.
func (r *Recoverer) logAttempt(n int, portal string, tsih uint16, took time.Duration, err error, wait time.Duration) {
	now := r.clock.Now()
	if isCredentialError(err) && (r.lastLoud.IsZero() || now.Sub(r.lastLoud) >= r.o.AuthLogInterval) {
		r.lastLoud = now
		r.logf("%s: ERROR: attempt %d at %s: the login is refused: %v; the I/O stays queued and the agent keeps trying (next in %s; this error is repeated at most every %s)",
			r.prefix(), n, portal, err, wait.Round(time.Millisecond), r.o.AuthLogInterval)
		return
	}
	r.logf("%s: attempt %d at %s (TSIH 0x%04x) failed after %s: %v; next attempt in %s",
		r.prefix(), n, portal, tsih, took.Round(time.Millisecond), err, wait.Round(time.Millisecond))
}

// Logout stops the recovery and logs out of the session (System.Logout:
// a Logout Request, then the kernel session is destroyed), within ctx's
// deadline or iscsi.DefaultLogoutTimeout. Run returns; the recoverer is
// done.
func (r *Recoverer) Logout(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, iscsi.DefaultLogoutTimeout)
		defer cancel()
	}
	r.mu.Lock()
	r.loggingOut = true
	cancel, done := r.cancel, r.done
	running := r.running
	r.mu.Unlock()
	if running {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("iscsi: logout of session %d: the recovery did not stop: %w", r.cfg.SID, ctx.Err())
		}
	}
	err := r.sys.Logout(ctx, uint32(r.cfg.SID), uint32(r.cfg.CID))
	r.closeConn()
	r.status.setState(StateLoggedOut, r.clock.Now(), "")
	if err != nil {
		r.status.update(func(s *StatusSnapshot) { s.LastError = err.Error() })
	}
	return err
}
