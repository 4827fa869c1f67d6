package iscsi

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// This file holds what session recovery (package agent/iscsirecover) needs
// from the iSCSI side that does not touch the kernel: ISIDs, the options of
// a relogin, and the sysfs attributes of a kernel session.

// ISIDForSID is the ISID SIDUS uses for kernel session sid: open-iscsi's
// random-qualifier layout (type 00b, OUI-less 0x023d) with the session id
// in the qualifier, so that a new process can derive it from the SID.
func ISIDForSID(sid uint32) [6]byte {
	return [6]byte{0x00, 0x02, 0x3d, 0x00, byte(sid >> 8), byte(sid)}
}

// FormatISID renders an ISID as 12 lower-case hex digits.
func FormatISID(isid [6]byte) string { return hex.EncodeToString(isid[:]) }

// ParseISID parses 12 hex digits (an optional 0x prefix is allowed).
func ParseISID(s string) ([6]byte, error) {
	var isid [6]byte
	h := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 6 {
		return isid, fmt.Errorf("iscsi: ISID %q is not 12 hex digits", s)
	}
	copy(isid[:], b)
	return isid, nil
}

// ReloginOptions describe one login attempt on an existing kernel session
// whose connection failed (see Relogin).
type ReloginOptions struct {
	SID, CID   uint32
	Portal     string // host:port to connect to
	TargetName string
	Initiator  string
	// PortalGroup is ISCSI_TARGET_GROUP (LoginOptions.PortalGroup): the
	// target portal group tag the login must report; "": any.
	PortalGroup string
	ISID        [6]byte
	// TSIH is the session's TSIH for a connection reinstatement; 0 asks
	// the target for a session reinstatement (RFC 7143 6.3.5: same ISID,
	// TSIH 0), which is what open-iscsi always does.
	TSIH uint16

	Username, Password     string // one-way CHAP; empty: AuthMethod=None
	InUsername, InPassword string // mutual CHAP

	// RecoveryTimeout is written as ISCSI_PARAM_SESS_RECOVERY_TMO before
	// the login, as iscsid does before every login: seconds the kernel
	// keeps I/O queued after a connection failure; negative: forever. 0
	// leaves the kernel's value as it is.
	RecoveryTimeout int

	Logf func(string, ...any) // nil: no logging
}

// ReloginResult is the state of a connection logged in again.
type ReloginResult struct {
	Portal    string
	TSIH      uint16 // the (possibly new) TSIH the target assigned
	Auth      string // "None", "CHAP" or "CHAP (mutual)"
	TPGT      int
	ExpStatSN uint32
	Params    Negotiated

	closers []interface{ Close() error }
}

// Close closes this process's descriptors of the connection's TCP socket.
// The kernel holds its own reference: closing does not end the connection.
// Call it once the connection has failed (or at logout); it is safe on a
// nil result and more than once.
func (r *ReloginResult) Close() error {
	if r == nil {
		return nil
	}
	for _, c := range r.closers {
		c.Close()
	}
	r.closers = nil
	return nil
}

// IsSessionGone reports whether a login answer says that the target no
// longer has the session named by our ISID and TSIH, so that a login with
// TSIH 0 (session reinstatement) is the way back: "session does not
// exist" (0x020a), and the statuses targets use for a connection they
// cannot add to it: "too many connections" (0x0206), "can't include in
// session" (0x0208).
func IsSessionGone(err error) bool {
	var le *LoginError
	if !errors.As(err, &le) || le.Class != 2 {
		return false
	}
	switch le.Detail {
	case 0x06, 0x08, 0x0a:
		return true
	}
	return false
}

// Redirected returns the address (without ",TPGT") of a login redirection
// (status class 1), or "".
func Redirected(err error) string {
	var le *LoginError
	if errors.As(err, &le) && le.Class == 1 && le.Redirect != "" {
		return stripTPGT(le.Redirect)
	}
	return ""
}

// Kernel session states in sysfs (/sys/class/iscsi_session/sessionN/state).
const (
	SessionLoggedIn = "LOGGED_IN"
	SessionFailed   = "FAILED" // blocked: I/O queued until recovery or recovery_tmo
	SessionFree     = "FREE"   // recovery_tmo expired (I/O failed) or being removed
)

// Sysfs reads a kernel iSCSI session's attributes under Root ("/sys").
type Sysfs struct{ Root string }

// DefaultSysfs reads /sys.
var DefaultSysfs = Sysfs{Root: "/sys"}

func (s Sysfs) read(parts ...string) (string, error) {
	b, err := os.ReadFile(filepath.Join(append([]string{s.Root}, parts...)...))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func sessionDir(sid int) string         { return "session" + strconv.Itoa(sid) }
func connectionDir(sid, cid int) string { return fmt.Sprintf("connection%d:%d", sid, cid) }

// SessionState is the session's state: SessionLoggedIn, SessionFailed or
// SessionFree. A session that does not exist gives an error for which
// errors.Is(err, fs.ErrNotExist) holds.
func (s Sysfs) SessionState(sid int) (string, error) {
	return s.read("class/iscsi_session", sessionDir(sid), "state")
}

// ConnState is the connection's state (Linux >= 5.18 has it): "up",
// "down", "failed", "bound".
func (s Sysfs) ConnState(sid, cid int) (string, error) {
	return s.read("class/iscsi_connection", connectionDir(sid, cid), "state")
}

// ExpStatSN is the connection's last ExpStatSN, which iscsid sends in the
// first login request of a reconnection.
func (s Sysfs) ExpStatSN(sid, cid int) (uint32, error) {
	v, err := s.read("class/iscsi_connection", connectionDir(sid, cid), "exp_statsn")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 32)
	return uint32(n), err
}

// RecoveryTimeout is the session's recovery_tmo in seconds; never is true
// for "off" (-1: the kernel never fails queued I/O).
func (s Sysfs) RecoveryTimeout(sid int) (seconds int, never bool, err error) {
	v, err := s.read("class/iscsi_session", sessionDir(sid), "recovery_tmo")
	if err != nil {
		return 0, false, err
	}
	if v == "off" {
		return -1, true, nil
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n < 0, err
}

// TargetName is the session's targetname attribute.
func (s Sysfs) TargetName(sid int) (string, error) {
	return s.read("class/iscsi_session", sessionDir(sid), "targetname")
}

// Sessions lists the kernel's iSCSI session ids, in order.
func (s Sysfs) Sessions() ([]int, error) {
	return s.ids(filepath.Join(s.Root, "class/iscsi_session", "session*"), "session")
}

// Connections lists the connection ids of session sid, in order (from
// /sys/class/iscsi_connection/connection<sid>:<cid>).
func (s Sysfs) Connections(sid int) ([]int, error) {
	return s.ids(filepath.Join(s.Root, "class/iscsi_connection", "connection"+strconv.Itoa(sid)+":*"), "connection"+strconv.Itoa(sid)+":")
}

func (s Sysfs) ids(glob, prefix string) ([]int, error) {
	m, err := filepath.Glob(glob)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, p := range m {
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(p), prefix))
		if err == nil && n >= 0 {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}
