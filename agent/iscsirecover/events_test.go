package iscsirecover

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/sidus-go/sidus/agent/handover"
	"github.com/sidus-go/sidus/iscsi"
)

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// A CONN_ERROR datagram as the kernel multicasts it (x86-64): struct
// nlmsghdr {len 72, type 0, flags 0, seq 0, pid 0}, then struct
// iscsi_uevent {type 102, iferror 0, transport_handle, u (24 bytes),
// r.connerror {sid 1, cid 0, error 1020}, padding}.
const connErrorHex = "48000000" + "0000" + "0000" + "00000000" + "00000000" +
	"66000000" + "00000000" + "80e4a4c0ffffffff" +
	"000000000000000000000000000000000000000000000000" +
	"01000000" + "00000000" + "fc030000" + "00000000"

func TestParseConnErrorFixture(t *testing.T) {
	if !littleEndian() {
		t.Skip("the fixture is little-endian")
	}
	b, err := hex.DecodeString(connErrorHex)
	if err != nil || len(b) != 72 {
		t.Fatalf("fixture: %d bytes, %v", len(b), err)
	}
	evs, err := ParseMessages(b)
	if err != nil || len(evs) != 1 {
		t.Fatalf("ParseMessages: %v, %v", evs, err)
	}
	e := evs[0]
	if e.Type != EventConnError || e.SID != 1 || e.CID != 0 || e.Error != ErrTCPConnClose {
		t.Errorf("event %+v", e)
	}
	if s := e.String(); s != "CONN_ERROR on connection 1:0: ISCSI_ERR_TCP_CONN_CLOSE (1020)" {
		t.Errorf("String() = %q", s)
	}
}

// uevent builds a netlink message carrying a struct iscsi_uevent of type
// typ whose "r" union starts with r, followed by extra bytes.
func uevent(typ EventType, r []uint32, extra []byte) []byte {
	ne := binary.NativeEndian
	ev := make([]byte, ueventLen)
	ne.PutUint32(ev[0:], uint32(typ))
	ne.PutUint64(ev[8:], 0xffffffffc0a4e480)
	for i, v := range r {
		ne.PutUint32(ev[offR+4*i:], v)
	}
	ev = append(ev, extra...)
	msg := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(ev)+3)
	ne.PutUint32(msg[0:], uint32(nlmsgHdrLen+len(ev)))
	msg = append(msg, ev...)
	for len(msg)%4 != 0 {
		msg = append(msg, 0)
	}
	return msg
}

func TestParseMessages(t *testing.T) {
	pdu := make([]byte, 48+5) // a login response with 5 bytes of text: the message is padded
	pdu[0] = 0x23
	var dgram []byte
	dgram = append(dgram, uevent(EventRecvPDU, []uint32{3, 0, 0xdead, 0}, pdu)...)
	dgram = append(dgram, uevent(EventConnError, []uint32{3, 0, ErrNopTimedOut}, nil)...)
	dgram = append(dgram, uevent(EventConnLoginState, []uint32{3, 1, 3}, nil)...)
	dgram = append(dgram, uevent(EventUnbindSession, []uint32{3, 7}, nil)...)
	dgram = append(dgram, uevent(EventDestroySession, []uint32{7, 3}, nil)...) // host_no first
	dgram = append(dgram, uevent(EventCreateSession, []uint32{4, 8}, nil)...)
	evs, err := ParseMessages(dgram)
	if err != nil || len(evs) != 6 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	want := []Event{
		{Type: EventRecvPDU, SID: 3},
		{Type: EventConnError, SID: 3, Error: ErrNopTimedOut},
		{Type: EventConnLoginState, SID: 3, CID: 1, State: 3},
		{Type: EventUnbindSession, SID: 3, Host: 7},
		{Type: EventDestroySession, SID: 3, Host: 7},
		{Type: EventCreateSession, SID: 4, Host: 8},
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, evs[i], want[i])
		}
	}
	if s := evs[1].String(); !strings.Contains(s, "ISCSI_ERR_NOP_TIMEDOUT (1022)") {
		t.Errorf("String() = %q", s)
	}

	// A message too short for a uevent is skipped; a truncated datagram
	// keeps what came before and reports the rest.
	short := make([]byte, 20)
	binary.NativeEndian.PutUint32(short, 20)
	good := uevent(EventConnError, []uint32{1, 0, ErrConnFailed}, nil)
	evs, err = ParseMessages(append(append([]byte{}, short...), good...))
	if err != nil || len(evs) != 1 || evs[0].Error != ErrConnFailed {
		t.Errorf("short message: %+v, %v", evs, err)
	}
	evs, err = ParseMessages(append(append([]byte{}, good...), good[:30]...))
	if err == nil || len(evs) != 1 {
		t.Errorf("truncated: %+v, %v", evs, err)
	}
	if _, err := ParseUEvent(make([]byte, 55)); !errors.Is(err, errShort) {
		t.Errorf("ParseUEvent(55 bytes): %v", err)
	}
	if ConnErrorName(999) != "error 999" || ConnErrorName(1011) != "ISCSI_ERR_CONN_FAILED (1011)" || EventType(5).String() != "event 5" {
		t.Error("names")
	}
}

func TestListen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Listen(ctx)
	if err != nil {
		t.Skipf("no NETLINK_ISCSI here: %v", err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the listener did not stop with its context")
	}
}

func TestConfig(t *testing.T) {
	h := &handover.ISCSI{SID: 2, CID: 0, Target: tTarget, Portal: "10.0.2.101:3261",
		Portals:   []string{"10.0.2.100", "10.0.2.101:3261", "[fd00::1]:3260", "fd00::2", "10.0.2.103:3260,1"},
		Initiator: tInit, TSIH: 7, RecoverySeconds: 90, Username: "u", Password: tSecret, Group: 2}
	c, err := FromHandover(h)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Portals, " "); got != "10.0.2.101:3261 10.0.2.100:3260 [fd00::1]:3260 [fd00::2]:3260 10.0.2.103:3260" {
		t.Errorf("portals %s", got)
	}
	if c.Portal != "10.0.2.101:3261" || c.ISID != iscsi.ISIDForSID(2) || c.Recovery != 90*time.Second || c.TSIH != 7 || c.Password != tSecret || c.PortalGroup != "2" {
		t.Errorf("config %+v", c)
	}
	h.ISID = "00023d00abcd"
	if c, err := FromHandover(h); err != nil || iscsi.FormatISID(c.ISID) != "00023d00abcd" {
		t.Errorf("ISID %x, %v", c.ISID, err)
	}
	for _, bad := range []*handover.ISCSI{
		nil,
		{SID: 1, Target: tTarget, Initiator: tInit},                           // no portal
		{SID: 1, Target: tTarget, Initiator: tInit, Portal: "10.0.0.1:99999"}, // bad port
		{SID: 1, Initiator: tInit, Portal: "10.0.0.1"},                        // no target
		{SID: 1, Target: tTarget, Initiator: tInit, Portal: "10.0.0.1", ISID: "xyz"},
		{SID: 1, Target: tTarget, Initiator: tInit, Portal: "10.0.0.1", RecoverySeconds: -1},
	} {
		if _, err := FromHandover(bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestLogoutAll(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"class/iscsi_session/session1", "class/iscsi_session/session4", "class/iscsi_connection/connection1:0", "class/iscsi_connection/connection4:2"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	var mu sync.Mutex
	var got []string
	both := make(chan struct{})
	n := 0
	err := logoutAll(context.Background(), iscsi.Sysfs{Root: root}, func(ctx context.Context, sid, cid int) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("no bound")
		}
		mu.Lock()
		got = append(got, fmt.Sprintf("%d:%d", sid, cid))
		n++
		if n == 2 {
			close(both)
		}
		mu.Unlock()
		select { // both at once
		case <-both:
		case <-time.After(2 * time.Second):
			t.Error("logouts not concurrent")
		}
		if sid == 4 {
			return errors.New("destroying session 4: -16")
		}
		return nil
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "session 4") {
		t.Errorf("err = %v", err)
	}
	if len(got) != 2 || !strings.Contains(strings.Join(got, " "), "1:0") || !strings.Contains(strings.Join(got, " "), "4:2") {
		t.Errorf("logouts %v", got)
	}
	// Nothing to do is fine.
	if err := logoutAll(context.Background(), iscsi.Sysfs{Root: t.TempDir()}, nil, nil); err != nil {
		t.Errorf("no sessions: %v", err)
	}
	// A logout that hangs does not hang the caller.
	os.MkdirAll(filepath.Join(root, "class/iscsi_session/session9"), 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	release := make(chan struct{})
	defer close(release)
	err = logoutAll(ctx, iscsi.Sysfs{Root: root}, func(ctx context.Context, sid, cid int) error { <-release; return nil }, nil)
	if err == nil || time.Since(t0) > time.Second {
		t.Errorf("hung logout: %v after %s", err, time.Since(t0))
	}
}
