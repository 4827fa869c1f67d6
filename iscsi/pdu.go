package iscsi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Opcodes (RFC 7143 section 11.2.1.2).
const (
	OpLoginReq  = 0x03
	OpTextReq   = 0x04
	OpLogoutReq = 0x06
	OpLoginRsp  = 0x23
	OpTextRsp   = 0x24
	OpLogoutRsp = 0x26
	OpReject    = 0x3f

	opImmediate = 0x40
	opMask      = 0x3f
)

// Login flags and stages (RFC 7143 section 11.12).
const (
	flagTransit  = 0x80 // T (login) / F (text, logout)
	flagContinue = 0x40 // C

	StageSecurity    = 0
	StageOperational = 1
	StageFullFeature = 3
)

// BHSLen is the Basic Header Segment length.
const BHSLen = 48

// maxDataSegment bounds the data we accept in one PDU (our declared
// MaxRecvDataSegmentLength is far smaller; this is a sanity limit).
const maxDataSegment = 1 << 24

// PDU is an iSCSI PDU without digests: the 48-byte BHS and the data segment
// (without padding). AHS is not used by login/text PDUs and is skipped.
type PDU struct {
	BHS  [BHSLen]byte
	Data []byte
}

// Opcode returns the opcode without the immediate bit.
func (p *PDU) Opcode() byte { return p.BHS[0] & opMask }

// Flags is byte 1 of the BHS.
func (p *PDU) Flags() byte { return p.BHS[1] }

func (p *PDU) u16(off int) uint16      { return binary.BigEndian.Uint16(p.BHS[off:]) }
func (p *PDU) u32(off int) uint32      { return binary.BigEndian.Uint32(p.BHS[off:]) }
func (p *PDU) put16(off int, v uint16) { binary.BigEndian.PutUint16(p.BHS[off:], v) }
func (p *PDU) put32(off int, v uint32) { binary.BigEndian.PutUint32(p.BHS[off:], v) }
func (p *PDU) dataSegmentLength() int  { return int(p.BHS[5])<<16 | int(p.BHS[6])<<8 | int(p.BHS[7]) }
func (p *PDU) ITT() uint32             { return p.u32(16) }
func (p *PDU) setDataSegmentLength(n int) {
	p.BHS[5], p.BHS[6], p.BHS[7] = byte(n>>16), byte(n>>8), byte(n)
}

// Marshal returns BHS || data || padding, with DataSegmentLength set.
func (p *PDU) Marshal() []byte {
	p.setDataSegmentLength(len(p.Data))
	pad := (4 - len(p.Data)%4) % 4
	b := make([]byte, 0, BHSLen+len(p.Data)+pad)
	b = append(b, p.BHS[:]...)
	b = append(b, p.Data...)
	return append(b, make([]byte, pad)...)
}

// ReadPDU reads one PDU (no digests) from r.
func ReadPDU(r io.Reader) (*PDU, error) {
	p := &PDU{}
	if _, err := io.ReadFull(r, p.BHS[:]); err != nil {
		return nil, err
	}
	ahs := int(p.BHS[4]) * 4
	n := p.dataSegmentLength()
	if n > maxDataSegment {
		return nil, fmt.Errorf("iscsi PDU data segment too long (%d bytes)", n)
	}
	pad := (4 - n%4) % 4
	buf := make([]byte, ahs+n+pad)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("reading iscsi PDU data: %w", err)
	}
	p.Data = buf[ahs : ahs+n]
	return p, nil
}

// ParsePDU decodes a PDU from a buffer holding BHS, AHS and data (as
// delivered by the kernel's ISCSI_KEVENT_RECV_PDU); padding is optional.
func ParsePDU(b []byte) (*PDU, error) {
	if len(b) < BHSLen {
		return nil, fmt.Errorf("iscsi PDU too short (%d bytes)", len(b))
	}
	return ReadPDU(io.MultiReader(bytes.NewReader(b), bytes.NewReader(make([]byte, 3))))
}

// Transport carries PDUs of one connection: a TCP socket in user space
// (discovery, tests) or the kernel's iscsi_tcp via netlink (Login).
type Transport interface {
	SendPDU(*PDU) error
	RecvPDU() (*PDU, error)
}

type streamTransport struct{ rw io.ReadWriter }

// NewStreamTransport returns a Transport over a byte stream (a TCP
// connection to a portal); PDUs are framed as on the wire, without digests.
func NewStreamTransport(rw io.ReadWriter) Transport { return streamTransport{rw} }

func (t streamTransport) SendPDU(p *PDU) error {
	_, err := t.rw.Write(p.Marshal())
	return err
}

func (t streamTransport) RecvPDU() (*PDU, error) { return ReadPDU(t.rw) }

// KV is one key=value pair of a text or login data segment.
type KV struct{ Key, Value string }

// Text is an ordered list of key=value pairs (RFC 7143 section 6).
type Text []KV

// Get returns the last value of key.
func (t Text) Get(key string) (string, bool) {
	for i := len(t) - 1; i >= 0; i-- {
		if t[i].Key == key {
			return t[i].Value, true
		}
	}
	return "", false
}

// Marshal encodes t as NUL-terminated key=value strings.
func (t Text) Marshal() []byte {
	var b bytes.Buffer
	for _, kv := range t {
		b.WriteString(kv.Key)
		b.WriteByte('=')
		b.WriteString(kv.Value)
		b.WriteByte(0)
	}
	return b.Bytes()
}

// ParseText decodes NUL-separated key=value strings.
func ParseText(b []byte) (Text, error) {
	var t Text
	for _, s := range strings.Split(string(b), "\x00") {
		if s == "" {
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("malformed iscsi text key %q", truncate(s, 64))
		}
		t = append(t, KV{k, v})
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
