package iscsirecover

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The kernel's iSCSI events (include/scsi/iscsi_if.h, Linux 6.1). The
// transport class (drivers/scsi/scsi_transport_iscsi.c) multicasts them on
// NETLINK_ISCSI group ISCSI_NL_GRP_ISCSID, each as one netlink message of
// type 0 whose payload is a struct iscsi_uevent (56 bytes, host byte
// order), followed for RECV_PDU by the PDU.

// nlGroupISCSID is ISCSI_NL_GRP_ISCSID: the group iscsid listens on.
const nlGroupISCSID = 1

// EventType is enum iscsi_uevent_e for the events the kernel sends up.
type EventType uint32

// Up events ("KEVENT").
const (
	EventRecvPDU        EventType = 101 // ISCSI_KEVENT_RECV_PDU
	EventConnError      EventType = 102 // ISCSI_KEVENT_CONN_ERROR
	EventIfError        EventType = 103 // ISCSI_KEVENT_IF_ERROR
	EventDestroySession EventType = 104 // ISCSI_KEVENT_DESTROY_SESSION
	EventUnbindSession  EventType = 105 // ISCSI_KEVENT_UNBIND_SESSION
	EventCreateSession  EventType = 106 // ISCSI_KEVENT_CREATE_SESSION
	EventPathReq        EventType = 107 // ISCSI_KEVENT_PATH_REQ
	EventIfDown         EventType = 108 // ISCSI_KEVENT_IF_DOWN
	EventConnLoginState EventType = 109 // ISCSI_KEVENT_CONN_LOGIN_STATE (offload drivers)
	EventHostEvent      EventType = 110 // ISCSI_KEVENT_HOST_EVENT
	EventPingComp       EventType = 111 // ISCSI_KEVENT_PING_COMP
)

var eventNames = map[EventType]string{
	EventRecvPDU: "RECV_PDU", EventConnError: "CONN_ERROR", EventIfError: "IF_ERROR",
	EventDestroySession: "DESTROY_SESSION", EventUnbindSession: "UNBIND_SESSION",
	EventCreateSession: "CREATE_SESSION", EventPathReq: "PATH_REQ", EventIfDown: "IF_DOWN",
	EventConnLoginState: "CONN_LOGIN_STATE", EventHostEvent: "HOST_EVENT", EventPingComp: "PING_COMP",
}

func (t EventType) String() string {
	if n, ok := eventNames[t]; ok {
		return n
	}
	return "event " + strconv.Itoa(int(t))
}

// enum iscsi_err (ISCSI_ERR_BASE 1000 + n).
var errNames = []string{
	1: "DATASN", 2: "DATA_OFFSET", 3: "MAX_CMDSN", 4: "EXP_CMDSN", 5: "BAD_OPCODE",
	6: "DATALEN", 7: "AHSLEN", 8: "PROTO", 9: "LUN", 10: "BAD_ITT", 11: "CONN_FAILED",
	12: "R2TSN", 13: "SESSION_FAILED", 14: "HDR_DGST", 15: "DATA_DGST",
	16: "PARAM_NOT_FOUND", 17: "NO_SCSI_CMD", 18: "INVALID_HOST", 19: "XMIT_FAILED",
	20: "TCP_CONN_CLOSE", 21: "SCSI_EH_SESSION_RST", 22: "NOP_TIMEDOUT",
}

// Kernel connection errors worth naming in code.
const (
	ErrConnFailed   = 1011 // ISCSI_ERR_CONN_FAILED
	ErrInvalidHost  = 1018 // ISCSI_ERR_INVALID_HOST: the host is going away
	ErrTCPConnClose = 1020 // ISCSI_ERR_TCP_CONN_CLOSE: the target closed the connection
	ErrNopTimedOut  = 1022 // ISCSI_ERR_NOP_TIMEDOUT: no answer to the kernel's ping
)

// ConnErrorName names a connection error code, e.g. "ISCSI_ERR_TCP_CONN_CLOSE (1020)".
func ConnErrorName(code uint32) string {
	if i := int(code) - 1000; i > 0 && i < len(errNames) && errNames[i] != "" {
		return fmt.Sprintf("ISCSI_ERR_%s (%d)", errNames[i], code)
	}
	return fmt.Sprintf("error %d", code)
}

// Event is one kernel iSCSI event.
type Event struct {
	Type     EventType
	SID, CID uint32
	Error    uint32 // CONN_ERROR: enum iscsi_err
	State    uint32 // CONN_LOGIN_STATE: enum iscsi_conn_state
	Host     uint32 // DESTROY_SESSION, UNBIND_SESSION, CREATE_SESSION
	// At is when the listener read it.
	At time.Time
	// Overrun is a pseudo event: the socket's receive buffer overflowed
	// or the listener's queue was full, so events were lost.
	Overrun bool
}

func (e Event) String() string {
	if e.Overrun {
		return "events lost (receive buffer overrun)"
	}
	switch e.Type {
	case EventConnError:
		return fmt.Sprintf("CONN_ERROR on connection %d:%d: %s", e.SID, e.CID, ConnErrorName(e.Error))
	case EventConnLoginState:
		return fmt.Sprintf("CONN_LOGIN_STATE on connection %d:%d: state %d", e.SID, e.CID, e.State)
	case EventDestroySession, EventUnbindSession, EventCreateSession:
		return fmt.Sprintf("%s of session %d (host %d)", e.Type, e.SID, e.Host)
	}
	return fmt.Sprintf("%s (session %d, connection %d)", e.Type, e.SID, e.CID)
}

// Layout of struct iscsi_uevent.
const (
	nlmsgHdrLen = 16 // struct nlmsghdr
	ueventLen   = 56 // type, iferror, transport_handle, u (24 bytes), r (16 bytes)
	offR        = 40 // the "r" union: kernel-to-user fields
)

var errShort = errors.New("short netlink message")

// ParseUEvent decodes one struct iscsi_uevent (the payload of a netlink
// message). Fields that do not apply to the event's type are zero.
func ParseUEvent(b []byte) (Event, error) {
	if len(b) < ueventLen {
		return Event{}, fmt.Errorf("iscsi uevent: %d bytes, want at least %d: %w", len(b), ueventLen, errShort)
	}
	ne := binary.NativeEndian
	u32 := func(off int) uint32 { return ne.Uint32(b[off:]) }
	e := Event{Type: EventType(u32(0))}
	r := offR
	switch e.Type {
	case EventConnError: // struct msg_conn_error { sid, cid, error }
		e.SID, e.CID, e.Error = u32(r), u32(r+4), u32(r+8)
	case EventConnLoginState: // struct msg_conn_login { sid, cid, state }
		e.SID, e.CID, e.State = u32(r), u32(r+4), u32(r+8)
	case EventRecvPDU: // struct msg_recv_req { sid, cid, recv_handle }
		e.SID, e.CID = u32(r), u32(r+4)
	case EventUnbindSession, EventCreateSession: // { sid, host_no }
		e.SID, e.Host = u32(r), u32(r+4)
	case EventDestroySession: // struct msg_session_destroyed { host_no, sid }
		e.Host, e.SID = u32(r), u32(r+4)
	case EventIfError:
		e.Error = u32(4)
	}
	return e, nil
}

// ParseMessages decodes the netlink messages of one datagram read from a
// NETLINK_ISCSI socket. Messages too short for an iscsi_uevent are
// skipped; a truncated datagram ends the list with an error.
func ParseMessages(b []byte) ([]Event, error) {
	var out []Event
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return out, fmt.Errorf("netlink message of %d bytes in %d: %w", l, len(b), errShort)
		}
		if e, err := ParseUEvent(b[nlmsgHdrLen:l]); err == nil {
			out = append(out, e)
		}
		l = (l + 3) &^ 3 // NLMSG_ALIGN
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	return out, nil
}
