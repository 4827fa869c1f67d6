package iscsi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Target is one target offered by SendTargets.
type Target struct {
	Name string
	// Portal is the first TargetAddress the target advertised (host:port)
	// in portal group ISCSI_TARGET_GROUP if that is set, else the
	// discovery portal.
	Portal string
}

// dialTimeout bounds one TCP connect to a portal, so that a dead portal
// that drops SYNs (routed, no ICMP) does not hold up the next one for the
// kernel's ~2 min SYN retries.
const dialTimeout = 10 * time.Second

// dialFunc is the seam for opening TCP connections (tests use loopback).
var dialFunc = func(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	return d.DialContext(ctx, "tcp", addr)
}

// portalAddr normalises a portal to host:port using p.Port.
func portalAddr(portal string, p Params) (string, error) {
	h, port, err := splitPortal(portal, p.Port)
	if err != nil {
		return "", fmt.Errorf("iscsi portal %q: %w", portal, err)
	}
	return net.JoinHostPort(h, strconv.Itoa(port)), nil
}

// Discover runs a SendTargets=All discovery session on portal over plain
// TCP in user space (no kernel support needed), with CHAP if p has
// credentials. Login redirections are followed once. If p.Group is set,
// only addresses in that portal group are taken as a target's Portal.
func Discover(ctx context.Context, portal string, p Params) ([]Target, error) {
	addr, err := portalAddr(portal, p)
	if err != nil {
		return nil, err
	}
	ts, err := discoverAt(ctx, addr, p)
	var le *LoginError
	if errors.As(err, &le) && le.Class == 1 && le.Redirect != "" {
		if r := stripTPGT(le.Redirect); r != "" {
			return discoverAt(ctx, r, p)
		}
	}
	return ts, err
}

func discoverAt(ctx context.Context, addr string, p Params) ([]Target, error) {
	conn, err := dialFunc(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("iscsi discovery: connecting to portal %s: %w; is the target (tgtd) running and reachable?", addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	t := NewStreamTransport(conn)
	// The discovery session authenticates one way at most (offering
	// "CHAP,None"): targets such as tgtd keep discovery open (or use a
	// separate discovery account) and refuse a CHAP-only offer, and the
	// per-node ISCSI_IN_* account belongs to the normal session, where
	// mutual CHAP stays mandatory. A lying discovery answer can only name
	// a target, which must then pass mutual CHAP.
	res, err := LoginOver(t, LoginOptions{
		Initiator: p.Initiator, Portal: addr,
		ISID:     isidFor(0xd15c),
		Username: p.Username, Password: p.Password,
	})
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	text, err := sendTargets(t, res)
	if err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("iscsi discovery at portal %s: %w", addr, err))
	}
	logout(t, res) // best effort
	// p.Group was checked by ParseParams; a malformed one means any group.
	group, _ := portalGroup(p.Group)
	return parseSendTargets(text, addr, group), nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return err
}

// isidFor returns an ISID of type "random" (qualifier in the low bytes).
func isidFor(q uint32) [6]byte {
	return [6]byte{0x80, 0x53, 0x49, byte(q >> 16), byte(q >> 8), byte(q)} // 0x80 = random type, "SI" for SIDUS
}

// Bounds on one SendTargets answer, so that a broken or hostile target
// cannot make the init buffer without end. A target lists each target it
// offers this initiator in about 100 bytes (TargetName plus a
// TargetAddress per portal), in PDUs of up to our MaxRecvDataSegmentLength
// (tgtd and LIO send 8 KiB): 4 MiB is some 40,000 targets, far more than
// a SIDUS server (one target per node) will offer.
const (
	// maxSendTargetsPDUs is how many Text Response PDUs one answer may span.
	maxSendTargetsPDUs = 1024
	// maxSendTargetsText is the size of one reassembled answer's text.
	maxSendTargetsText = 4 << 20
)

// sendTargets runs one SendTargets=All text exchange, following
// continuations, and returns the reassembled keys.
func sendTargets(t Transport, res *LoginResult) (Text, error) {
	const itt = 1
	ttt := uint32(0xffffffff)
	data := Text{{"SendTargets", "All"}}.Marshal()
	var all []byte
	for i := 0; i < maxSendTargetsPDUs; i++ {
		req := &PDU{Data: data}
		req.BHS[0] = OpTextReq | opImmediate
		req.BHS[1] = flagTransit // F
		req.put32(16, itt)
		req.put32(20, ttt)
		req.put32(24, res.CmdSN)
		req.put32(28, res.ExpStatSN)
		if err := t.SendPDU(req); err != nil {
			return nil, fmt.Errorf("sending SendTargets: %w", err)
		}
		rsp, err := t.RecvPDU()
		if err != nil {
			return nil, fmt.Errorf("waiting for SendTargets response: %w", err)
		}
		switch rsp.Opcode() {
		case OpTextRsp:
		case OpReject:
			return nil, fmt.Errorf("target rejected SendTargets (reason 0x%02x)", rsp.BHS[2])
		default:
			return nil, fmt.Errorf("unexpected PDU opcode 0x%02x in answer to SendTargets", rsp.Opcode())
		}
		res.ExpStatSN = rsp.u32(24) + 1
		if len(all)+len(rsp.Data) > maxSendTargetsText {
			return nil, fmt.Errorf("the SendTargets answer exceeds %d bytes of text (in %d PDUs): check that the portal is the iSCSI target you expect, or set ISCSI_TARGET_NAME to skip discovery", maxSendTargetsText, i+1)
		}
		all = append(all, rsp.Data...)
		if rsp.Flags()&flagTransit != 0 && rsp.Flags()&flagContinue == 0 {
			return ParseText(all)
		}
		ttt = rsp.u32(20)
		data = nil
	}
	return nil, fmt.Errorf("the SendTargets answer did not end within %d PDUs: check that the portal is the iSCSI target you expect, or set ISCSI_TARGET_NAME to skip discovery", maxSendTargetsPDUs)
}

func logout(t Transport, res *LoginResult) {
	req := &PDU{}
	req.BHS[0] = OpLogoutReq | opImmediate
	req.BHS[1] = flagTransit // reason 0: close the session
	req.put32(16, 2)
	req.put32(24, res.CmdSN)
	req.put32(28, res.ExpStatSN)
	if t.SendPDU(req) == nil {
		t.RecvPDU()
	}
}

// splitTPGT splits a TargetAddress, host:port,tag, into host:port and the
// portal group tag (-1 if there is none or it is not a number).
func splitTPGT(addr string) (hostPort string, tag int) {
	i := strings.LastIndex(addr, ",")
	if i < 0 {
		return addr, -1
	}
	n, err := strconv.Atoi(addr[i+1:])
	if err != nil || n < 0 {
		n = -1
	}
	return addr[:i], n
}

func stripTPGT(addr string) string {
	a, _ := splitTPGT(addr)
	return a
}

// parseSendTargets turns TargetName/TargetAddress keys into targets. With
// group >= 0, addresses in other portal groups are passed over.
func parseSendTargets(t Text, discoveryPortal string, group int) []Target {
	var out []Target
	for _, kv := range t {
		switch kv.Key {
		case "TargetName":
			out = append(out, Target{Name: kv.Value, Portal: discoveryPortal})
		case "TargetAddress":
			if len(out) == 0 {
				continue
			}
			last := &out[len(out)-1]
			if last.Portal != discoveryPortal {
				continue // keep the first advertised address
			}
			a, tag := splitTPGT(kv.Value)
			if group >= 0 && tag != group {
				continue
			}
			if h, _, err := net.SplitHostPort(a); err == nil {
				if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
					last.Portal = a
				}
			}
		}
	}
	return out
}

// SelectTarget picks the target to log in to when ISCSI_TARGET_NAME is not
// set: the one whose name ends with the client IP (SIDUS names each node's
// target after its address, e.g. iqn.2013-04.zone.sidus.target:10.0.2.15),
// else the only target offered, else an error listing them.
func SelectTarget(targets []Target, clientIP string) (Target, error) {
	var names []string
	var match []Target
	for _, t := range targets {
		names = append(names, t.Name)
		if clientIP != "" && endsWithIP(t.Name, clientIP) {
			match = append(match, t)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) > 1:
		return Target{}, fmt.Errorf("several iscsi targets end with client IP %s: %s; set ISCSI_TARGET_NAME", clientIP, strings.Join(namesOf(match), ", "))
	case len(targets) == 1:
		return targets[0], nil
	case len(targets) == 0:
		return Target{}, errors.New("iscsi discovery: the portal offers no targets to this initiator (check the target's ACLs)")
	}
	return Target{}, fmt.Errorf("iscsi discovery: no target name ends with client IP %q among %s; set ISCSI_TARGET_NAME", clientIP, strings.Join(names, ", "))
}

func namesOf(ts []Target) []string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Name)
	}
	return s
}

// endsWithIP reports whether name ends with ip at a boundary, so that
// ...:10.0.2.15 matches 10.0.2.15 but ...:110.0.2.15 does not.
func endsWithIP(name, ip string) bool {
	if !strings.HasSuffix(name, ip) {
		return false
	}
	rest := name[:len(name)-len(ip)]
	if rest == "" {
		return true
	}
	c := rest[len(rest)-1]
	return !(c >= '0' && c <= '9' || c == '.' || c >= 'a' && c <= 'f' && strings.Contains(ip, ":"))
}
