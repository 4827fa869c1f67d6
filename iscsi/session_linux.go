package iscsi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/u-root/iscsinl"
)

// kernel is the seam for NETLINK_ISCSI (iscsi_tcp); *iscsinl.IscsiIpcConn
// implements it.
type kernel interface {
	CreateSession(cmdsMax, queueDepth uint16) (sid, hostID uint32, err error)
	CreateConnection(sid uint32) (cid uint32, err error)
	BindConnection(sid, cid uint32, fd int) error
	SetParam(sid, cid uint32, param iscsinl.IscsiParam, value string) error
	StartConnection(sid, cid uint32) error
	StopConnection(sid, cid uint32) error
	DestroyConnection(sid, cid uint32) error
	DestroySession(sid uint32) error
	SendPDU(sid, cid uint32, pdu iscsinl.PduLike) error
	RecvPDU(sid, cid uint32) ([]byte, error)
}

// env bundles Login's side effects so the orchestration can be tested.
type env struct {
	connect  func() (kernel, error)
	dial     func(ctx context.Context, addr string) (net.Conn, error)
	discover func(ctx context.Context, portal string, p Params) ([]Target, error)
	sys      sysfs
}

func defaultEnv() env {
	return env{
		connect: func() (kernel, error) {
			c, err := iscsinl.ConnectNetlink()
			if err != nil {
				return nil, fmt.Errorf("%w; is the iscsi_tcp module (and scsi_transport_iscsi) loaded?", err)
			}
			return c, nil
		},
		dial:     dialFunc,
		discover: Discover,
		sys:      defaultSysfs(),
	}
}

// Session queue sizes, as open-iscsi's defaults.
const (
	cmdsMax    = 128
	queueDepth = 32
)

// keepAlive holds the TCP sockets handed to the kernel: the kernel holds its
// own reference, but we never want a finalizer to close our descriptor.
var (
	keepMu    sync.Mutex
	keepAlive []any
)

// Login logs in to the target of p through the kernel's iscsi_tcp, trying
// each portal in order, scans only the new session's SCSI host and waits
// (bounded by ctx, 20 s if ctx has none) for its block devices. If
// p.TargetName is empty, a SendTargets discovery on the portal picks the
// target (see SelectTarget). With p.Group (ISCSI_TARGET_GROUP), the target
// must report that portal group tag, as open-iscsi checks it, and the
// target's address in that group is tried before the discovery portal.
// Call p.Expand and p.WithDefaultPortal first.
// logf may be nil. Errors name each portal; they never contain secrets.
func Login(ctx context.Context, p Params, logf func(string, ...any)) (*Session, error) {
	return defaultEnv().login(ctx, p, logf)
}

func (e env) login(ctx context.Context, p Params, logf func(string, ...any)) (*Session, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if p.Initiator == "" {
		return nil, errors.New("iscsi: no initiator name: set ISCSI_INITIATOR (or provide a MAC to derive one)")
	}
	if len(p.Portals) == 0 {
		return nil, errors.New("iscsi: no portal: set ISCSI_TARGET_IP (or let DHCP provide next-server)")
	}
	k, err := e.connect()
	if err != nil {
		return nil, fmt.Errorf("iscsi: %w", err)
	}
	var errs []string
	var causes []error
	for _, portal := range p.Portals {
		if ctx.Err() != nil {
			break
		}
		s, err := e.loginPortal(ctx, k, portal, p, logf)
		if err == nil {
			return s, nil
		}
		logf("iscsi: portal %s: %v", portal, err)
		errs = append(errs, fmt.Sprintf("portal %s: %v", portal, err))
		causes = append(causes, err)
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err().Error())
		causes = append(causes, ctx.Err())
	}
	return nil, &loginFailed{msg: fmt.Sprintf("iscsi login failed (%s): %s", p, strings.Join(errs, "; ")), causes: causes}
}

func (e env) loginPortal(ctx context.Context, k kernel, portal string, p Params, logf func(string, ...any)) (*Session, error) {
	addr, err := portalAddr(portal, p)
	if err != nil {
		return nil, err
	}
	target := p.TargetName
	alt, altIs := "", "advertised address"
	if target == "" {
		ts, err := e.discover(ctx, addr, p)
		if err != nil {
			return nil, err
		}
		t, err := SelectTarget(ts, p.ClientIP)
		if err != nil {
			return nil, err
		}
		logf("iscsi: discovered target %s (advertised at %s)", t.Name, t.Portal)
		target = t.Name
		if t.Portal != addr {
			alt = t.Portal
			if p.Group != "" {
				// t.Portal is in portal group ISCSI_TARGET_GROUP
				// (see Discover): log in there first.
				addr, alt, altIs = alt, addr, "discovery portal"
			}
		}
	}
	s, err := e.kernelSession(ctx, k, addr, target, p, logf)
	var le *LoginError
	if errors.As(err, &le) && le.Class == 1 && le.Redirect != "" {
		r := stripTPGT(le.Redirect)
		logf("iscsi: %s redirected to %s", addr, r)
		return e.kernelSession(ctx, k, r, target, p, logf)
	}
	if err != nil && alt != "" && !IsAuthFailure(err) && ctx.Err() == nil {
		logf("iscsi: login at %s failed (%v), trying %s %s", addr, err, altIs, alt)
		if s2, err2 := e.kernelSession(ctx, k, alt, target, p, logf); err2 == nil {
			return s2, nil
		}
	}
	return s, err
}

// loginFailed is Login's error: one message for all portals, and each
// portal's error for errors.Is/As (IsAuthFailure must see a CHAP failure).
type loginFailed struct {
	msg    string
	causes []error
}

func (e *loginFailed) Error() string   { return e.msg }
func (e *loginFailed) Unwrap() []error { return e.causes }

// nlTransport carries login PDUs through the kernel connection.
type nlTransport struct {
	k        kernel
	sid, cid uint32
}

type rawPDU struct{ b []byte }

func (r rawPDU) HeaderLen() uint32 { return BHSLen }
func (r rawPDU) DataLen() uint32   { return uint32(len(r.b) - BHSLen) }
func (r rawPDU) Serialize() []byte { return r.b }

func (t nlTransport) SendPDU(p *PDU) error {
	p.setDataSegmentLength(len(p.Data))
	b := append(append([]byte{}, p.BHS[:]...), p.Data...) // the kernel pads
	return t.k.SendPDU(t.sid, t.cid, rawPDU{b})
}

func (t nlTransport) RecvPDU() (*PDU, error) {
	b, err := t.k.RecvPDU(t.sid, t.cid)
	if err != nil {
		return nil, err
	}
	return ParsePDU(b)
}

func boolParam(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// kernelSession creates a kernel session on addr, logs in through it,
// starts it and waits for its disks. On failure it is torn down.
func (e env) kernelSession(ctx context.Context, k kernel, addr, target string, p Params, logf func(string, ...any)) (_ *Session, err error) {
	conn, err := e.dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w; is the target running and reachable?", addr, err)
	}
	fd, file, err := socketFD(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	defer func() {
		if err != nil {
			conn.Close()
			if file != nil {
				file.Close()
			}
		}
	}()
	sid, host, err := k.CreateSession(cmdsMax, queueDepth)
	if err != nil {
		return nil, fmt.Errorf("creating kernel iscsi session: %w", err)
	}
	cid, err := k.CreateConnection(sid)
	if err != nil {
		k.DestroySession(sid)
		return nil, fmt.Errorf("creating kernel iscsi connection: %w", err)
	}
	started := false
	defer func() {
		if err != nil {
			if started {
				k.StopConnection(sid, cid)
			}
			k.DestroyConnection(sid, cid)
			k.DestroySession(sid)
		}
	}()
	if err := k.BindConnection(sid, cid, fd); err != nil {
		return nil, fmt.Errorf("binding TCP connection to kernel session: %w", err)
	}
	logf("iscsi: logging in to %s at %s as %s (session %d, host %d)", target, addr, p.Initiator, sid, host)
	res, err := LoginOver(nlTransport{k, sid, cid}, LoginOptions{
		Initiator: p.Initiator, TargetName: target, Portal: addr, PortalGroup: p.Group,
		ISID:     ISIDForSID(sid),
		CID:      uint16(cid),
		Username: p.Username, Password: p.Password,
		InUsername: p.InUsername, InPassword: p.InPassword,
	})
	if err != nil {
		return nil, err
	}
	for _, pp := range kernelParams(target, p.Initiator, addr, res, loginRecoveryTimeout) {
		if err := k.SetParam(sid, cid, pp.p, pp.v); err != nil {
			if pp.optional {
				logf("iscsi: setting kernel parameter %v: %v (ignored)", pp.p, err)
				continue
			}
			return nil, fmt.Errorf("setting kernel iscsi parameter %v: %w", pp.p, err)
		}
	}
	if err := k.StartConnection(sid, cid); err != nil {
		return nil, fmt.Errorf("starting kernel iscsi connection: %w", err)
	}
	started = true
	logf("iscsi: logged in to %s at %s (auth %s), scanning SCSI host %d", target, addr, res.Auth, host)
	if err := e.sys.scanHost(int(host), p.LUN); err != nil {
		return nil, err
	}
	devs, err := e.sys.waitDevices(ctx, int(sid), int(host), p.LUN)
	if err != nil {
		return nil, err
	}
	keepMu.Lock()
	keepAlive = append(keepAlive, conn, file)
	keepMu.Unlock()
	logf("iscsi: session %d: %s", sid, strings.Join(devs, " "))
	return &Session{Target: target, Portal: addr, Initiator: p.Initiator, SID: int(sid), Host: int(host), Devices: devs, Auth: res.Auth,
		CID: int(cid), ISID: ISIDForSID(sid), TSIH: res.TSIH}, nil
}

// socketFD returns a descriptor of conn's socket for BindConnection.
// Tests' fake connections have none: they get -1.
func socketFD(conn net.Conn) (int, *os.File, error) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return -1, nil, nil
	}
	f, err := tc.File()
	if err != nil {
		return 0, nil, fmt.Errorf("getting socket descriptor: %w", err)
	}
	return int(f.Fd()), f, nil
}
