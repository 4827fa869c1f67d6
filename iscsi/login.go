package iscsi

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Our operational proposals. MaxRecvDataSegmentLength is what we accept per
// PDU; open-iscsi uses 262144 as well.
const (
	defaultMaxRecvDSL   = 262144
	defaultFirstBurst   = 262144
	defaultMaxBurst     = 16776192
	maxLoginRoundTrips  = 16
	discoveryTargetName = ""
)

// Bounds on one login response, so that a broken or hostile target cannot
// hold the init in a loop or make it buffer without end. Real login
// responses are a few hundred bytes in one PDU (RFC 7143 section 6.2 lets
// the target continue a response over several PDUs of at most 8192 bytes
// during login); these limits are far above that.
const (
	// maxLoginResponsePDUs is how many PDUs one login response may span
	// (all but the last with the C bit set).
	maxLoginResponsePDUs = 64
	// maxLoginText is the size of one reassembled login response's text.
	maxLoginText = 64 << 10
)

// LoginOptions configures one login on a Transport.
type LoginOptions struct {
	Initiator  string // InitiatorName
	TargetName string // empty: a Discovery session (SendTargets)
	Portal     string // host:port, for messages only

	ISID  [6]byte
	TSIH  uint16
	CID   uint16
	CmdSN uint32 // initial CmdSN (kept by every login request)

	// PortalGroup is ISCSI_TARGET_GROUP: the TargetPortalGroupTag a normal
	// session's target must report, as open-iscsi checks it; a target
	// reporting another tag fails the login. Empty: any tag.
	PortalGroup string

	Username, Password     string // one-way CHAP; empty: AuthMethod=None
	InUsername, InPassword string // mutual CHAP
	// Rand is the source of mutual-CHAP challenges; nil: ChallengeSource().
	Rand io.Reader

	MaxRecvDataSegmentLength int // 0: 262144
	Logf                     func(string, ...any)
}

// Negotiated holds the operational parameters in force after login.
type Negotiated struct {
	HeaderDigest, DataDigest bool // CRC32C; we only accept None
	MaxRecvDataSegmentLength int  // what we declared
	MaxXmitDataSegmentLength int  // what the target declared (default 8192)
	FirstBurstLength         int
	MaxBurstLength           int
	MaxOutstandingR2T        int
	ErrorRecoveryLevel       int
	DefaultTime2Wait         int
	DefaultTime2Retain       int
	InitialR2T               bool
	ImmediateData            bool
	DataPDUInOrder           bool
	DataSequenceInOrder      bool
}

// LoginResult is the state of a connection in full feature phase.
type LoginResult struct {
	TSIH        uint16
	ExpStatSN   uint32 // StatSN of the last response + 1
	CmdSN       uint32 // CmdSN for the next command
	ExpCmdSN    uint32
	MaxCmdSN    uint32
	TPGT        int // TargetPortalGroupTag, -1 if not sent
	TargetAlias string
	Auth        string // "None", "CHAP" or "CHAP (mutual)"
	Params      Negotiated
}

// LoginError is a Login Response with a non-zero status (RFC 7143 11.13.5).
// Its message never contains secrets.
type LoginError struct {
	Class, Detail uint8
	Target        string // empty for discovery
	Portal        string
	Redirect      string // TargetAddress of a redirection (class 1)
}

func (e *LoginError) Error() string {
	tgt := "target " + e.Target
	if e.Target == "" {
		tgt = "discovery session"
	}
	at := fmt.Sprintf("%s at portal %s", tgt, e.Portal)
	code := fmt.Sprintf("(status 0x%02x%02x)", e.Class, e.Detail)
	switch e.Class {
	case 1:
		return fmt.Sprintf("iscsi login to %s: redirected to %s %s", at, e.Redirect, code)
	case 2:
		switch e.Detail {
		case 0x01:
			return fmt.Sprintf("authentication failed for %s: check ISCSI_USERNAME/ISCSI_PASSWORD (and the target's CHAP account) %s", at, code)
		case 0x02:
			return fmt.Sprintf("iscsi login to %s: initiator not authorized (check the target's ACL for this initiator name/IP) %s", at, code)
		case 0x03:
			return fmt.Sprintf("iscsi login to %s: target not found (check ISCSI_TARGET_NAME; SIDUS names per-client targets after the client IP) %s", at, code)
		case 0x04:
			return fmt.Sprintf("iscsi login to %s: target removed %s", at, code)
		case 0x05:
			return fmt.Sprintf("iscsi login to %s: unsupported iSCSI version %s", at, code)
		case 0x06:
			return fmt.Sprintf("iscsi login to %s: too many connections %s", at, code)
		case 0x07:
			return fmt.Sprintf("iscsi login to %s: missing parameter (check ISCSI_INITIATOR) %s", at, code)
		case 0x09:
			return fmt.Sprintf("iscsi login to %s: session type not supported %s", at, code)
		}
		return fmt.Sprintf("iscsi login to %s: rejected by target (initiator error) %s", at, code)
	case 3:
		switch e.Detail {
		case 0x01:
			return fmt.Sprintf("iscsi login to %s: service unavailable, try again later %s", at, code)
		case 0x02:
			return fmt.Sprintf("iscsi login to %s: target out of resources %s", at, code)
		}
		return fmt.Sprintf("iscsi login to %s: target error %s", at, code)
	}
	return fmt.Sprintf("iscsi login to %s: failed %s", at, code)
}

// IsAuthFailure reports whether err is a CHAP authentication failure.
func IsAuthFailure(err error) bool {
	var le *LoginError
	return errors.As(err, &le) && le.Class == 2 && le.Detail == 1
}

type loginConn struct {
	t        Transport
	o        LoginOptions
	res      LoginResult
	itt      uint32
	wantTPGT int // from o.PortalGroup; -1: any
}

func (c *loginConn) where() string {
	if c.o.TargetName == "" {
		return "discovery session at portal " + c.o.Portal
	}
	return fmt.Sprintf("target %s at portal %s", c.o.TargetName, c.o.Portal)
}

func (c *loginConn) logf(format string, a ...any) {
	if c.o.Logf != nil {
		c.o.Logf(format, a...)
	}
}

// exchange sends one Login Request and returns the (reassembled) response
// keys and the response flags.
func (c *loginConn) exchange(transit bool, csg, nsg byte, keys Text) (Text, byte, error) {
	data := keys.Marshal()
	var all []byte
	for n := 0; ; n++ {
		first := n == 0
		req := &PDU{Data: data}
		req.BHS[0] = OpLoginReq | opImmediate
		if first && transit {
			req.BHS[1] = flagTransit | csg<<2 | nsg
		} else {
			req.BHS[1] = csg << 2
		}
		copy(req.BHS[8:14], c.o.ISID[:])
		req.put16(14, c.res.TSIH)
		req.put32(16, c.itt)
		req.put16(20, c.o.CID)
		req.put32(24, c.res.CmdSN)
		req.put32(28, c.res.ExpStatSN)
		if err := c.t.SendPDU(req); err != nil {
			return nil, 0, fmt.Errorf("iscsi login to %s: sending login request: %w", c.where(), err)
		}
		rsp, err := c.t.RecvPDU()
		if err != nil {
			return nil, 0, fmt.Errorf("iscsi login to %s: waiting for login response: %w", c.where(), err)
		}
		switch rsp.Opcode() {
		case OpLoginRsp:
		case OpReject:
			return nil, 0, fmt.Errorf("iscsi login to %s: target rejected the login PDU (reason 0x%02x)", c.where(), rsp.BHS[2])
		default:
			return nil, 0, fmt.Errorf("iscsi login to %s: unexpected PDU opcode 0x%02x during login", c.where(), rsp.Opcode())
		}
		if rsp.BHS[36] != 0 {
			le := &LoginError{Class: rsp.BHS[36], Detail: rsp.BHS[37], Target: c.o.TargetName, Portal: c.o.Portal}
			if t, err := ParseText(rsp.Data); err == nil {
				le.Redirect, _ = t.Get("TargetAddress")
			}
			return nil, 0, le
		}
		if rsp.BHS[3] != 0 {
			return nil, 0, fmt.Errorf("iscsi login to %s: target chose iSCSI version %d, only 0 is supported", c.where(), rsp.BHS[3])
		}
		if tsih := rsp.u16(14); tsih != 0 {
			c.res.TSIH = tsih
		}
		c.res.ExpStatSN = rsp.u32(24) + 1
		c.res.ExpCmdSN, c.res.MaxCmdSN = rsp.u32(28), rsp.u32(32)
		if len(all)+len(rsp.Data) > maxLoginText {
			return nil, 0, fmt.Errorf("iscsi login to %s: the target's login response exceeds %d bytes of text (in %d PDUs); real targets send a few hundred: check that the portal is the iSCSI target you expect and its software", c.where(), maxLoginText, n+1)
		}
		all = append(all, rsp.Data...)
		if rsp.Flags()&flagContinue == 0 {
			t, err := ParseText(all)
			if err != nil {
				return nil, 0, fmt.Errorf("iscsi login to %s: %w", c.where(), err)
			}
			c.logf("iscsi: login response %s: %s", c.o.Portal, redactKV(t))
			return t, rsp.Flags(), nil
		}
		if n+1 >= maxLoginResponsePDUs {
			return nil, 0, fmt.Errorf("iscsi login to %s: the target's login response did not end within %d PDUs; check that the portal is the iSCSI target you expect and its software", c.where(), maxLoginResponsePDUs)
		}
		data = nil // ask for the rest of a continued response
	}
}

func transitTo(flags byte) (bool, byte) { return flags&flagTransit != 0, flags & 3 }

// LoginOver performs the iSCSI login (security negotiation with CHAP or
// None, then operational negotiation) on t and returns the full-feature
// state. It is pure protocol logic: t may be a TCP socket or the kernel.
func LoginOver(t Transport, o LoginOptions) (*LoginResult, error) {
	if o.Initiator == "" {
		return nil, errors.New("iscsi login: no initiator name (set ISCSI_INITIATOR)")
	}
	if o.MaxRecvDataSegmentLength == 0 {
		o.MaxRecvDataSegmentLength = defaultMaxRecvDSL
	}
	c := &loginConn{t: t, o: o, res: LoginResult{TSIH: o.TSIH, CmdSN: o.CmdSN, TPGT: -1}, wantTPGT: -1}
	if o.TargetName != "" { // a discovery session has no target, hence no portal group to check
		n, ok := portalGroup(o.PortalGroup)
		if !ok {
			return nil, fmt.Errorf("iscsi login to %s: %s=%q is not a target portal group tag 0-65535", c.where(), KeyTargetGroup, o.PortalGroup)
		}
		c.wantTPGT = n
	}
	if err := c.security(); err != nil {
		return nil, err
	}
	if err := c.operational(); err != nil {
		return nil, err
	}
	if c.wantTPGT >= 0 && c.res.TPGT < 0 {
		c.logf("iscsi: %s did not report its TargetPortalGroupTag; %s=%d not checked", c.where(), KeyTargetGroup, c.wantTPGT)
	}
	return &c.res, nil
}

func (c *loginConn) security() error {
	o := c.o
	keys := Text{{"InitiatorName", o.Initiator}}
	if o.TargetName == "" {
		keys = append(keys, KV{"SessionType", "Discovery"})
	} else {
		keys = append(keys, KV{"SessionType", "Normal"}, KV{"TargetName", o.TargetName})
	}
	offer := "None"
	switch {
	case o.InUsername != "":
		offer = "CHAP" // mutual CHAP: never accept an unauthenticated target
	case o.Username != "":
		offer = "CHAP,None"
	}
	keys = append(keys, KV{"AuthMethod", offer})
	rsp, flags, err := c.exchange(true, StageSecurity, StageOperational, keys)
	if err != nil {
		return err
	}
	if err := c.declaratives(rsp); err != nil {
		return err
	}
	auth, _ := rsp.Get("AuthMethod")
	switch auth {
	case "CHAP":
		if o.Username == "" {
			return fmt.Errorf("iscsi login to %s: target requires CHAP: set ISCSI_USERNAME/ISCSI_PASSWORD", c.where())
		}
		if tr, _ := transitTo(flags); tr {
			return fmt.Errorf("iscsi login to %s: target chose CHAP but ended the security stage", c.where())
		}
		rsp, _, err = c.exchange(false, StageSecurity, StageOperational, Text{{"CHAP_A", strconv.Itoa(CHAPAlgorithmMD5)}})
		if err != nil {
			return err
		}
		chap := &chapInitiator{username: o.Username, secret: o.Password, inUsername: o.InUsername, inSecret: o.InPassword, rand: o.Rand}
		ans, err := chap.answer(rsp)
		if err != nil {
			return fmt.Errorf("iscsi login to %s: CHAP: %w", c.where(), err)
		}
		rsp, flags, err = c.exchange(true, StageSecurity, StageOperational, ans)
		if err != nil {
			return err
		}
		c.res.Auth = "CHAP"
		if o.InUsername != "" {
			if err := chap.verify(rsp); err != nil {
				return fmt.Errorf("mutual CHAP failed for %s: %v: check ISCSI_IN_USERNAME/ISCSI_IN_PASSWORD (the target's outgoing account)", c.where(), err)
			}
			c.res.Auth = "CHAP (mutual)"
		}
	case "None":
		if o.InUsername != "" {
			return fmt.Errorf("iscsi login to %s: target offers no authentication but ISCSI_IN_USERNAME requires mutual CHAP", c.where())
		}
		c.res.Auth = "None"
	case "", "Reject", "NotUnderstood", "Irrelevant":
		if auth == "" {
			// Some targets skip the key when the security stage is not needed.
			if tr, nsg := transitTo(flags); tr && nsg == StageOperational && o.InUsername == "" {
				c.res.Auth = "None"
				break
			}
		}
		return fmt.Errorf("iscsi login to %s: target refused AuthMethod=%s (answered %q); check ISCSI_USERNAME/ISCSI_PASSWORD and the target's auth setup", c.where(), offer, auth)
	default:
		return fmt.Errorf("iscsi login to %s: target chose unsupported AuthMethod=%s", c.where(), auth)
	}
	for i := 0; ; i++ {
		if tr, nsg := transitTo(flags); tr {
			if nsg != StageOperational {
				return fmt.Errorf("iscsi login to %s: target moved to stage %d, expected operational negotiation", c.where(), nsg)
			}
			return nil
		}
		if i >= maxLoginRoundTrips {
			return fmt.Errorf("iscsi login to %s: security negotiation did not finish", c.where())
		}
		if rsp, flags, err = c.exchange(true, StageSecurity, StageOperational, nil); err != nil {
			return err
		}
		if err := c.declaratives(rsp); err != nil {
			return err
		}
	}
}

// declaratives records keys the target may send at any point, and checks
// the portal group tag against ISCSI_TARGET_GROUP.
func (c *loginConn) declaratives(t Text) error {
	if v, ok := t.Get("TargetPortalGroupTag"); ok {
		if n, err := strconv.Atoi(v); err == nil {
			c.res.TPGT = n
			if c.wantTPGT >= 0 && n != c.wantTPGT {
				return &PortalGroupError{Target: c.o.TargetName, Portal: c.o.Portal, Want: c.wantTPGT, Got: n}
			}
		}
	}
	if v, ok := t.Get("TargetAlias"); ok {
		c.res.TargetAlias = v
	}
	return nil
}

// PortalGroupError is a login to a portal outside the portal group that
// ISCSI_TARGET_GROUP names (open-iscsi's "portal group tag mismatch").
// Its message never contains secrets.
type PortalGroupError struct {
	Target, Portal string
	Want, Got      int // ISCSI_TARGET_GROUP, and the TargetPortalGroupTag the target reported
}

func (e *PortalGroupError) Error() string {
	return fmt.Sprintf("iscsi login to target %s at portal %s: the portal is in portal group %d, not %s=%d: check %s and %s (or unset %s)",
		e.Target, e.Portal, e.Got, KeyTargetGroup, e.Want, KeyTargetGroup, KeyTargetIP, KeyTargetGroup)
}

func (c *loginConn) operational() error {
	n := Negotiated{
		MaxRecvDataSegmentLength: c.o.MaxRecvDataSegmentLength,
		MaxXmitDataSegmentLength: 8192,
		FirstBurstLength:         65536,
		MaxBurstLength:           262144,
		MaxOutstandingR2T:        1,
		DefaultTime2Wait:         2,
		DefaultTime2Retain:       20,
		InitialR2T:               true,
		ImmediateData:            true,
		DataPDUInOrder:           true,
		DataSequenceInOrder:      true,
	}
	keys := Text{
		{"HeaderDigest", "None"},
		{"DataDigest", "None"},
		{"MaxRecvDataSegmentLength", strconv.Itoa(c.o.MaxRecvDataSegmentLength)},
	}
	if c.o.TargetName != "" {
		keys = append(keys,
			KV{"InitialR2T", "No"},
			KV{"ImmediateData", "Yes"},
			KV{"MaxBurstLength", strconv.Itoa(defaultMaxBurst)},
			KV{"FirstBurstLength", strconv.Itoa(defaultFirstBurst)},
			KV{"DefaultTime2Wait", "0"},
			KV{"DefaultTime2Retain", "0"},
			KV{"MaxOutstandingR2T", "1"},
			KV{"DataPDUInOrder", "Yes"},
			KV{"DataSequenceInOrder", "Yes"},
			KV{"ErrorRecoveryLevel", "0"},
			KV{"MaxConnections", "1"},
		)
	}
	offered := map[string]bool{}
	for _, kv := range keys {
		offered[kv.Key] = true
	}
	for i := 0; ; i++ {
		rsp, flags, err := c.exchange(true, StageOperational, StageFullFeature, keys)
		if err != nil {
			return err
		}
		if err := c.declaratives(rsp); err != nil {
			return err
		}
		keys = nil
		for _, kv := range rsp {
			reply, err := c.applyOperational(&n, kv, offered[kv.Key])
			if err != nil {
				return fmt.Errorf("iscsi login to %s: %w", c.where(), err)
			}
			if reply != nil {
				keys = append(keys, *reply)
				offered[kv.Key] = true
			}
		}
		if tr, nsg := transitTo(flags); tr && nsg == StageFullFeature {
			c.res.Params = n
			return nil
		}
		if i >= maxLoginRoundTrips {
			return fmt.Errorf("iscsi login to %s: operational negotiation did not finish", c.where())
		}
	}
}

// applyOperational applies one key from the target. For a key we did not
// offer (a target proposal), it returns our reply.
func (c *loginConn) applyOperational(n *Negotiated, kv KV, offered bool) (*KV, error) {
	k, v := kv.Key, kv.Value
	switch v {
	case "Reject", "Irrelevant", "NotUnderstood":
		switch k {
		case "HeaderDigest", "DataDigest":
			return nil, fmt.Errorf("target answered %s=%s to None; digests are not supported", k, v)
		}
		c.logf("iscsi: target answered %s=%s, keeping the default", k, v)
		return nil, nil
	}
	num := func(dst *int) error {
		x, err := strconv.Atoi(v)
		if err != nil || x < 0 {
			return fmt.Errorf("target sent bad %s=%q", k, v)
		}
		*dst = x
		return nil
	}
	boolean := func(dst *bool) error {
		switch v {
		case "Yes":
			*dst = true
		case "No":
			*dst = false
		default:
			return fmt.Errorf("target sent bad %s=%q", k, v)
		}
		return nil
	}
	var err error
	known := true
	switch k {
	case "HeaderDigest", "DataDigest":
		if !contains(strings.Split(v, ","), "None") {
			return nil, fmt.Errorf("target requires %s=%s; digests are not supported", k, v)
		}
		if !offered {
			return &KV{k, "None"}, nil
		}
		return nil, nil
	case "MaxRecvDataSegmentLength": // declarative: the target's receive limit
		return nil, num(&n.MaxXmitDataSegmentLength)
	case "TargetPortalGroupTag", "TargetAlias", "TargetAddress":
		return nil, nil
	case "FirstBurstLength":
		err = num(&n.FirstBurstLength)
	case "MaxBurstLength":
		err = num(&n.MaxBurstLength)
	case "MaxOutstandingR2T":
		err = num(&n.MaxOutstandingR2T)
	case "ErrorRecoveryLevel":
		err = num(&n.ErrorRecoveryLevel)
	case "DefaultTime2Wait":
		err = num(&n.DefaultTime2Wait)
	case "DefaultTime2Retain":
		err = num(&n.DefaultTime2Retain)
	case "InitialR2T":
		err = boolean(&n.InitialR2T)
	case "ImmediateData":
		err = boolean(&n.ImmediateData)
	case "DataPDUInOrder":
		err = boolean(&n.DataPDUInOrder)
	case "DataSequenceInOrder":
		err = boolean(&n.DataSequenceInOrder)
	case "MaxConnections", "IFMarker", "OFMarker", "OFMarkInt", "IFMarkInt":
	default:
		known = false
	}
	if err != nil {
		return nil, err
	}
	if offered {
		if k == "ErrorRecoveryLevel" && n.ErrorRecoveryLevel != 0 {
			return nil, fmt.Errorf("target chose ErrorRecoveryLevel=%d, only 0 is supported", n.ErrorRecoveryLevel)
		}
		return nil, nil
	}
	if !known {
		return &KV{k, "NotUnderstood"}, nil
	}
	if k == "ErrorRecoveryLevel" && n.ErrorRecoveryLevel != 0 {
		n.ErrorRecoveryLevel = 0
		return &KV{k, "0"}, nil
	}
	return &KV{k, v}, nil // accept the target's proposal
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}
