package iscsi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Logout bounds (iscsid waits 15 s for a logout response; a node shutting
// down should not).
const (
	// DefaultLogoutTimeout bounds LogoutSession when ctx has no deadline.
	DefaultLogoutTimeout = 5 * time.Second
	// logoutResponseWait bounds the wait for the target's Logout Response.
	logoutResponseWait = 3 * time.Second
)

// Logout Response codes (RFC 7143 11.15.1).
var logoutResponses = map[byte]string{
	0: "connection or session closed successfully",
	1: "CID not found",
	2: "connection recovery is not supported",
	3: "cleanup failed",
}

// LogoutSession ends kernel session sid, whose connection is cid, as
// iscsid does at logout: a Logout Request (reason "close the session")
// sent through the kernel (ISCSI_UEVENT_SEND_PDU, which fills in ITT,
// CmdSN and ExpStatSN), the target's Logout Response awaited for at most
// 3 s, then STOP_CONN_TERM (the session fails its pending I/O instead of
// queueing it), destroy the connection and destroy the session (which
// removes its SCSI devices). A session that is not logged in (its
// connection failed) is torn down without the Logout Request.
//
// It needs only the ids, as found in /sys/class/iscsi_session/session<sid>
// and /sys/class/iscsi_connection/connection<sid>:<cid>, so a fresh process
// can call it. It returns within ctx's deadline, or DefaultLogoutTimeout
// if ctx has none, even if the kernel does not answer (the netlink socket
// is then closed and a kernel call still running is abandoned). Unmount
// or remount read-only whatever is on the session's disks first.
func LogoutSession(ctx context.Context, sid, cid uint32, logf func(string, ...any)) error {
	return defaultEnv().logout(ctx, sid, cid, logf)
}

func (e env) logout(ctx context.Context, sid, cid uint32, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultLogoutTimeout)
		defer cancel()
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- e.logoutSteps(ctx, sid, cid, logf) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("iscsi: logout of session %d did not finish in %s: %w", sid, time.Since(start).Round(time.Millisecond), ctx.Err())
	}
}

func (e env) logoutSteps(ctx context.Context, sid, cid uint32, logf func(string, ...any)) error {
	sys := Sysfs{Root: e.sys.Root}
	state, serr := sys.SessionState(int(sid))
	if serr == nil && state != SessionLoggedIn {
		logf("iscsi: session %d is %s: closing it without a Logout Request", sid, state)
	} else if k, err := e.connect(); err == nil {
		e.sendLogout(ctx, k, sid, cid, logf)
		closeKernel(k) // also ends a receive still waiting
	}
	// A second socket for the teardown: no receive of the logout can
	// swallow its replies.
	k, err := e.connect()
	if err != nil {
		return fmt.Errorf("iscsi: logout of session %d: %w", sid, err)
	}
	defer closeKernel(k)
	defer context.AfterFunc(ctx, func() { closeKernel(k) })()
	var errs []error
	if err := stopConnection(k, sid, cid, stopConnTerm); err != nil {
		errs = append(errs, fmt.Errorf("stopping connection %d:%d: %w", sid, cid, err))
	}
	if err := k.DestroyConnection(sid, cid); err != nil {
		errs = append(errs, fmt.Errorf("destroying connection %d:%d: %w", sid, cid, err))
	}
	if err := k.DestroySession(sid); err != nil {
		errs = append(errs, fmt.Errorf("destroying session %d: %w", sid, err))
	}
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("iscsi: logout of session %d: %w (%v)", sid, ctx.Err(), err)
		}
		return fmt.Errorf("iscsi: logout of session %d: %w", sid, err)
	}
	logf("iscsi: session %d closed", sid)
	return nil
}

// sendLogout sends the Logout Request and waits, bounded, for the answer:
// at most logoutResponseWait and half of what is left of ctx, so that the
// teardown has time. Failures are logged: the session is torn down either
// way.
func (e env) sendLogout(ctx context.Context, k kernel, sid, cid uint32, logf func(string, ...any)) {
	req := &PDU{}
	req.BHS[0] = OpLogoutReq | opImmediate
	req.BHS[1] = flagTransit // F, reason code 0: close the session
	// ITT 0 (not the reserved 0xffffffff): the kernel assigns one; CID is
	// reserved for reason 0; CmdSN and ExpStatSN are the kernel's.
	if err := (nlTransport{k, sid, cid}).SendPDU(req); err != nil {
		logf("iscsi: session %d: sending the Logout Request: %v; closing the session without it", sid, err)
		return
	}
	wait := logoutResponseWait
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)/2 < wait {
		wait = time.Until(dl) / 2
	}
	setReceiveTimeout(k, wait)
	got := make(chan string, 1)
	go func() {
		until := time.Now().Add(wait)
		for time.Now().Before(until) {
			b, err := k.RecvPDU(sid, cid)
			if err != nil {
				if !isTimeout(err) && time.Now().Before(until) {
					got <- "error: " + err.Error()
				}
				return
			}
			p, err := ParsePDU(b)
			if err != nil || p.Opcode() != OpLogoutRsp {
				continue // an async message or a stray PDU
			}
			msg, ok := logoutResponses[p.BHS[2]]
			if !ok {
				msg = fmt.Sprintf("response %d", p.BHS[2])
			}
			got <- msg
			return
		}
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case msg := <-got:
		if rest, ok := strings.CutPrefix(msg, "error: "); ok {
			logf("iscsi: session %d: waiting for the Logout Response: %s; closing the session anyway", sid, rest)
			return
		}
		logf("iscsi: session %d: logged out of the target (%s)", sid, msg)
	case <-t.C:
		logf("iscsi: session %d: no Logout Response within %s; closing the session anyway", sid, wait.Round(time.Millisecond))
	case <-ctx.Done():
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool } // unix.EAGAIN too
	return errors.As(err, &t) && t.Timeout()
}
