package iscsirecover

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sidus-go/sidus/iscsi"
)

// kernelSystem is System on the real kernel (iscsi.Relogin and friends,
// /sys).
type kernelSystem struct {
	sysfs iscsi.Sysfs
	logf  func(string, ...any)
}

// DefaultSystem is the System of the running kernel; logf gets the
// logout's progress lines.
func DefaultSystem(logf func(string, ...any)) System {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return kernelSystem{sysfs: iscsi.DefaultSysfs, logf: logf}
}

func (k kernelSystem) Listen(ctx context.Context) (<-chan Event, error) { return Listen(ctx) }
func (k kernelSystem) Relogin(ctx context.Context, o iscsi.ReloginOptions) (*iscsi.ReloginResult, error) {
	return iscsi.Relogin(ctx, o)
}
func (k kernelSystem) SetRecoveryTimeout(sid, cid uint32, seconds int) error {
	return iscsi.SetRecoveryTimeout(sid, cid, seconds)
}
func (k kernelSystem) SessionState(sid int) (string, error) { return k.sysfs.SessionState(sid) }
func (k kernelSystem) ConnState(sid, cid int) (string, error) {
	return k.sysfs.ConnState(sid, cid)
}
func (k kernelSystem) RecoveryTimeout(sid int) (int, bool, error) {
	return k.sysfs.RecoveryTimeout(sid)
}
func (k kernelSystem) Logout(ctx context.Context, sid, cid uint32) error {
	return iscsi.LogoutSession(ctx, sid, cid, k.logf)
}

// Logout logs out of kernel session sid (connection cid) from any process
// that knows only the ids: iscsi.LogoutSession, bounded by ctx's deadline
// or iscsi.DefaultLogoutTimeout (5 s).
func Logout(ctx context.Context, sid, cid int, logf func(string, ...any)) error {
	return iscsi.LogoutSession(ctx, uint32(sid), uint32(cid), logf)
}

// LogoutAll logs out of every kernel iSCSI session listed in
// /sys/class/iscsi_session, all at once, within ctx's deadline or
// iscsi.DefaultLogoutTimeout (5 s) if ctx has none: for the last step of
// a shutdown, once the filesystems on the sessions' disks are unmounted
// or read-only. No session is not an error.
func LogoutAll(ctx context.Context, logf func(string, ...any)) error {
	return logoutAll(ctx, iscsi.DefaultSysfs, func(ctx context.Context, sid, cid int) error {
		return Logout(ctx, sid, cid, logf)
	}, logf)
}

func logoutAll(ctx context.Context, sys iscsi.Sysfs, logout func(ctx context.Context, sid, cid int) error, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, iscsi.DefaultLogoutTimeout)
		defer cancel()
	}
	sids, err := sys.Sessions()
	if err != nil {
		return fmt.Errorf("iscsi logout: listing sessions: %w", err)
	}
	errs := make([]error, len(sids))
	var wg sync.WaitGroup
	for i, sid := range sids {
		cids, _ := sys.Connections(sid)
		cid := 0
		if len(cids) > 0 {
			cid = cids[0]
		}
		if len(cids) > 1 {
			logf("iscsi logout: session %d has %d connections; logging out through %d:%d", sid, len(cids), sid, cid)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = logout(ctx, sid, cid)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// Each logout returns by the deadline; this is a last guard.
		return fmt.Errorf("iscsi logout: %w", ctx.Err())
	}
	return errors.Join(errs...)
}
