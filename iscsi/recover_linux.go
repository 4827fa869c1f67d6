package iscsi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
	"unsafe"

	"github.com/u-root/iscsinl"
	"golang.org/x/sys/unix"
)

// Stop flags of ISCSI_UEVENT_STOP_CONN (include/scsi/iscsi_if.h).
const (
	stopConnTerm    = 0x1 // end the connection: the session fails its I/O
	stopConnRecover = 0x3 // connection recovery: I/O stays queued
)

// Kernel parameters SIDUS sets on every login (see kernelParams). With no
// iscsid to recover a connection the init is patient; the agent
// (agent/iscsirecover) recovers it.
const (
	pingTimeout = "60" // ISCSI_PARAM_PING_TMO: NOP-Out answer, seconds
	recvTimeout = "60" // ISCSI_PARAM_RECV_TMO: idle time before a NOP-Out
	// loginRecoveryTimeout is ISCSI_PARAM_SESS_RECOVERY_TMO of a new
	// session (kernelSession), seconds; Relogin sets its own.
	loginRecoveryTimeout = "120"
)

type kparam struct {
	p        iscsinl.IscsiParam
	v        string
	optional bool
}

// kernelParams are the parameters that put a logged-in connection into
// full feature phase: the negotiated values and the session's names.
// recoveryTmo is ISCSI_PARAM_SESS_RECOVERY_TMO ("" leaves it alone).
func kernelParams(target, initiator, addr string, res *LoginResult, recoveryTmo string) []kparam {
	n := res.Params
	host, port, _ := net.SplitHostPort(addr)
	ps := []kparam{
		{iscsinl.ISCSI_PARAM_TARGET_NAME, target, false},
		{iscsinl.ISCSI_PARAM_INITIATOR_NAME, initiator, false},
		{iscsinl.ISCSI_PARAM_MAX_RECV_DLENGTH, strconv.Itoa(n.MaxRecvDataSegmentLength), false},
		{iscsinl.ISCSI_PARAM_MAX_XMIT_DLENGTH, strconv.Itoa(n.MaxXmitDataSegmentLength), false},
		{iscsinl.ISCSI_PARAM_FIRST_BURST, strconv.Itoa(n.FirstBurstLength), false},
		{iscsinl.ISCSI_PARAM_MAX_BURST, strconv.Itoa(n.MaxBurstLength), false},
		{iscsinl.ISCSI_PARAM_PDU_INORDER_EN, boolParam(n.DataPDUInOrder), false},
		{iscsinl.ISCSI_PARAM_DATASEQ_INORDER_EN, boolParam(n.DataSequenceInOrder), false},
		{iscsinl.ISCSI_PARAM_INITIAL_R2T_EN, boolParam(n.InitialR2T), false},
		{iscsinl.ISCSI_PARAM_IMM_DATA_EN, boolParam(n.ImmediateData), false},
		{iscsinl.ISCSI_PARAM_MAX_R2T, strconv.Itoa(max(n.MaxOutstandingR2T, 1)), true},
		{iscsinl.ISCSI_PARAM_ERL, strconv.Itoa(n.ErrorRecoveryLevel), true},
		{iscsinl.ISCSI_PARAM_EXP_STATSN, strconv.FormatUint(uint64(res.ExpStatSN), 10), false},
		{iscsinl.ISCSI_PARAM_HDRDGST_EN, boolParam(n.HeaderDigest), false},
		{iscsinl.ISCSI_PARAM_DATADGST_EN, boolParam(n.DataDigest), false},
		{iscsinl.ISCSI_PARAM_PING_TMO, pingTimeout, true},
		{iscsinl.ISCSI_PARAM_RECV_TMO, recvTimeout, true},
	}
	if recoveryTmo != "" {
		ps = append(ps, kparam{iscsinl.ISCSI_PARAM_SESS_RECOVERY_TMO, recoveryTmo, true})
	}
	return append(ps,
		kparam{iscsinl.ISCSI_PARAM_TPGT, strconv.Itoa(max(res.TPGT, 0)), true},
		kparam{iscsinl.ISCSI_PARAM_PERSISTENT_ADDRESS, host, true},
		kparam{iscsinl.ISCSI_PARAM_PERSISTENT_PORT, port, true},
	)
}

// closeKernel closes a netlink connection from connect (fakes may be
// io.Closers). Closing unblocks a pending receive.
func closeKernel(k kernel) {
	switch c := k.(type) {
	case *iscsinl.IscsiIpcConn:
		c.Conn.Close()
	case io.Closer:
		c.Close()
	}
}

// flagStopper is a kernel that can stop a connection with a given flag;
// iscsinl's StopConnection always asks for STOP_CONN_RECOVER.
type flagStopper interface {
	StopConnectionFlag(sid, cid, flag uint32) error
}

// stopConnection stops sid:cid with flag (stopConnTerm or stopConnRecover).
func stopConnection(k kernel, sid, cid, flag uint32) error {
	switch c := k.(type) {
	case *iscsinl.IscsiIpcConn:
		if flag == stopConnRecover {
			return c.StopConnection(sid, cid)
		}
		return nlStopConn(c, sid, cid, flag)
	case flagStopper:
		return c.StopConnectionFlag(sid, cid, flag)
	}
	if flag == stopConnRecover {
		return k.StopConnection(sid, cid)
	}
	return fmt.Errorf("stop connection %d:%d with flag %d: not supported by this kernel interface", sid, cid, flag)
}

// nlStopUEvent is struct iscsi_uevent for ISCSI_UEVENT_STOP_CONN, laid out
// as iscsinl's messages (which DoNetlink requires): type, iferror,
// transport_handle, u.stop_conn (24 bytes), r (16 bytes).
type nlStopUEvent struct {
	Type            iscsinl.IscsiEvent
	IfError         uint32
	TransportHandle uint64
	Sid             uint32
	Cid             uint32
	ConnHandle      uint64
	Flag            uint32
	_               [4]byte
	Ret             uint32
	_               [12]byte
}

var _ [56 - unsafe.Sizeof(nlStopUEvent{})]byte // exactly 56 bytes,
var _ [unsafe.Sizeof(nlStopUEvent{}) - 56]byte // as struct iscsi_uevent

func nlStopConn(c *iscsinl.IscsiIpcConn, sid, cid, flag uint32) error {
	ev := nlStopUEvent{Type: iscsinl.ISCSI_UEVENT_STOP_CONN, TransportHandle: c.TransportHandle, Sid: sid, Cid: cid, Flag: flag}
	if err := c.DoNetlink(unsafe.Pointer(&ev)); err != nil {
		return err
	}
	if ev.Ret != 0 {
		return fmt.Errorf("error stopping connection: %d", int32(ev.Ret))
	}
	return nil
}

// expStatSNTransport puts the old connection's ExpStatSN into the first
// login request, as iscsid does when it reconnects (LoginOver starts at 0).
type expStatSNTransport struct {
	Transport
	exp  uint32
	sent bool
}

func (t *expStatSNTransport) SendPDU(p *PDU) error {
	if !t.sent && p.Opcode() == OpLoginReq && p.u32(28) == 0 {
		p.put32(28, t.exp)
	}
	t.sent = true
	return t.Transport.SendPDU(p)
}

// Relogin brings a failed connection of an existing kernel session back,
// as iscsid's session_conn_reopen does: stop the connection for recovery
// (STOP_CONN_RECOVER: the kernel keeps the SCSI devices and requeues their
// I/O), set the recovery timeout, connect a new TCP socket to o.Portal,
// bind it to the same session and connection ids, log in again with the
// session's ISID and o.TSIH (LoginOver: None, CHAP or mutual CHAP), set the
// negotiated parameters and start the connection, which unblocks the
// session so that the queued I/O completes.
//
// It opens its own netlink socket for this attempt (so that no stale
// event of an earlier attempt is read) and gives up when ctx ends. Login
// rejections are *LoginError (see IsSessionGone, Redirected and
// IsAuthFailure). On success the caller keeps the result and calls its
// Close once the connection has failed again.
func Relogin(ctx context.Context, o ReloginOptions) (*ReloginResult, error) {
	return defaultEnv().relogin(ctx, o)
}

func (e env) relogin(ctx context.Context, o ReloginOptions) (_ *ReloginResult, err error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if o.Portal == "" || o.TargetName == "" || o.Initiator == "" {
		return nil, errors.New("iscsi relogin: portal, target name and initiator name are required")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := e.connect()
	if err != nil {
		return nil, fmt.Errorf("iscsi: %w", err)
	}
	defer closeKernel(k)
	defer context.AfterFunc(ctx, func() { closeKernel(k) })()
	wrap := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return err
	}
	sid, cid := o.SID, o.CID
	if err := stopConnection(k, sid, cid, stopConnRecover); err != nil {
		return nil, wrap(fmt.Errorf("stopping the failed connection %d:%d for recovery: %w", sid, cid, err))
	}
	if o.RecoveryTimeout != 0 {
		if err := k.SetParam(sid, cid, iscsinl.ISCSI_PARAM_SESS_RECOVERY_TMO, strconv.Itoa(o.RecoveryTimeout)); err != nil {
			logf("iscsi: session %d: setting the recovery timeout to %d: %v (ignored)", sid, o.RecoveryTimeout, err)
		}
	}
	conn, err := e.dial(ctx, o.Portal)
	if err != nil {
		return nil, wrap(fmt.Errorf("connecting to %s: %w", o.Portal, err))
	}
	fd, file, err := socketFD(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	res := &ReloginResult{Portal: o.Portal, closers: []interface{ Close() error }{conn}}
	if file != nil {
		res.closers = append(res.closers, file)
	}
	defer func() {
		if err != nil {
			res.Close()
		}
	}()
	if err := k.BindConnection(sid, cid, fd); err != nil {
		return nil, wrap(fmt.Errorf("binding the new TCP connection to %s to session %d connection %d: %w", o.Portal, sid, cid, err))
	}
	exp, _ := Sysfs{Root: e.sys.Root}.ExpStatSN(int(sid), int(cid)) // iscsid uses 0 when unreadable too
	lr, err := LoginOver(&expStatSNTransport{Transport: nlTransport{k, sid, cid}, exp: exp}, LoginOptions{
		Initiator: o.Initiator, TargetName: o.TargetName, Portal: o.Portal, PortalGroup: o.PortalGroup,
		ISID: o.ISID, TSIH: o.TSIH, CID: uint16(cid),
		Username: o.Username, Password: o.Password,
		InUsername: o.InUsername, InPassword: o.InPassword,
		Logf: o.Logf,
	})
	if err != nil {
		return nil, wrap(err)
	}
	for _, pp := range kernelParams(o.TargetName, o.Initiator, o.Portal, lr, "") { // recovery timeout: set above
		if err := k.SetParam(sid, cid, pp.p, pp.v); err != nil {
			if pp.optional {
				logf("iscsi: session %d: setting kernel parameter %v: %v (ignored)", sid, pp.p, err)
				continue
			}
			return nil, wrap(fmt.Errorf("setting kernel iscsi parameter %v: %w", pp.p, err))
		}
	}
	if err := k.StartConnection(sid, cid); err != nil {
		return nil, wrap(fmt.Errorf("starting kernel iscsi connection %d:%d: %w", sid, cid, err))
	}
	res.TSIH, res.Auth, res.TPGT, res.ExpStatSN, res.Params = lr.TSIH, lr.Auth, lr.TPGT, lr.ExpStatSN, lr.Params
	return res, nil
}

// SetRecoveryTimeout sets ISCSI_PARAM_SESS_RECOVERY_TMO of session sid
// (through its connection cid): how long, in seconds, the kernel keeps
// I/O queued once a connection failed before it fails it; negative:
// forever (sysfs recovery_tmo then reads "off"). The kernel arms its timer
// when the session blocks, with the value of that moment. A value written
// to sysfs recovery_tmo takes precedence over this one.
func SetRecoveryTimeout(sid, cid uint32, seconds int) error {
	return defaultEnv().setRecoveryTimeout(sid, cid, seconds)
}

func (e env) setRecoveryTimeout(sid, cid uint32, seconds int) error {
	k, err := e.connect()
	if err != nil {
		return fmt.Errorf("iscsi: %w", err)
	}
	defer closeKernel(k)
	if err := k.SetParam(sid, cid, iscsinl.ISCSI_PARAM_SESS_RECOVERY_TMO, strconv.Itoa(seconds)); err != nil {
		return fmt.Errorf("iscsi: session %d: setting the recovery timeout to %d s: %w", sid, seconds, err)
	}
	return nil
}

// setReceiveTimeout bounds each netlink receive of a real connection.
func setReceiveTimeout(k kernel, d time.Duration) {
	if c, ok := k.(*iscsinl.IscsiIpcConn); ok {
		tv := unix.NsecToTimeval(d.Nanoseconds())
		c.Conn.SetReceiveTimeout(&tv)
	}
}
