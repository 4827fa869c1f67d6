package iscsi

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
)

// fakeTarget is a minimal iSCSI target for tests: it implements the login
// phases (AuthMethod None/CHAP, mutual CHAP verification on its side),
// SendTargets and Logout, on one connection.
type fakeTarget struct {
	targets    []string // names; the first one is the one logins succeed for
	address    string   // TargetAddress advertised
	user, pass string   // required CHAP account (empty: AuthMethod=None)
	outUser    string   // target's mutual CHAP account
	outPass    string
	forceClass byte // non-zero: answer the first login with this status
	forceDet   byte
	redirect   string
	proposeERL bool // propose ErrorRecoveryLevel=2 (a key we must answer)
	continued  bool // split SendTargets answer over two PDUs with the C bit
	badMutual  bool // answer mutual CHAP with a wrong response
	splitLogin int  // >1: continue the first login response over this many PDUs
	// flood: answer every login request (floodLogin) or every text request
	// (floodText) with a continued PDU of floodBytes bytes of text, forever.
	floodLogin, floodText bool
	floodBytes            int
	tpgt                  string // TargetPortalGroupTag sent; empty: "1"; "none": not sent

	pendingRest  []byte
	pendingLogin [][]byte // the rest of a split login response
	pendingFlags byte     // flags of its last PDU

	// observed
	got     []Text
	loggedT string
	err     error
}

func (f *fakeTarget) serve(conn io.ReadWriter) {
	if err := f.run(NewStreamTransport(conn)); err != nil && err != io.EOF && f.err == nil {
		f.err = err
	}
}

func (f *fakeTarget) rsp(req *PDU, op byte, flags byte, statSN uint32, t Text) *PDU {
	p := &PDU{Data: t.Marshal()}
	p.BHS[0] = op
	p.BHS[1] = flags
	copy(p.BHS[8:14], req.BHS[8:14])
	p.put32(16, req.ITT())
	p.put32(24, statSN)
	p.put32(28, req.u32(24))
	p.put32(32, req.u32(24)+16)
	return p
}

func (f *fakeTarget) run(tr Transport) error {
	var statSN uint32 = 100
	stage := byte(0)
	var chapID byte = 7
	chal := []byte("0123456789abcdef")
	authDone := f.user == ""
	auth := ""
	ffp := false
	for {
		req, err := tr.RecvPDU()
		if err != nil {
			return err
		}
		t, err := ParseText(req.Data)
		if err != nil {
			return err
		}
		f.got = append(f.got, t)
		statSN++
		switch req.Opcode() {
		case OpLoginReq:
			if f.floodLogin {
				r := f.rsp(req, OpLoginRsp, flagContinue|req.Flags()&0x0c, statSN, nil)
				r.Data = f.flood()
				if err := tr.SendPDU(r); err != nil {
					return err
				}
				continue
			}
			if len(f.pendingLogin) > 0 {
				flags := req.Flags()&0x0c | flagContinue
				if len(f.pendingLogin) == 1 {
					flags = f.pendingFlags
				}
				r := f.rsp(req, OpLoginRsp, flags, statSN, nil)
				r.Data, f.pendingLogin = f.pendingLogin[0], f.pendingLogin[1:]
				if err := tr.SendPDU(r); err != nil {
					return err
				}
				continue
			}
			if f.forceClass != 0 {
				r := f.rsp(req, OpLoginRsp, 0, statSN, nil)
				if f.redirect != "" {
					r.Data = Text{{"TargetAddress", f.redirect}}.Marshal()
				}
				r.BHS[36], r.BHS[37] = f.forceClass, f.forceDet
				return tr.SendPDU(r)
			}
			fail := func(cls, det byte) error {
				r := f.rsp(req, OpLoginRsp, 0, statSN, nil)
				r.BHS[36], r.BHS[37] = cls, det
				tr.SendPDU(r)
				return io.EOF
			}
			csg := (req.Flags() >> 2) & 3
			transit := req.Flags()&flagTransit != 0
			nsg := req.Flags() & 3
			var out Text
			if csg != stage {
				return fmt.Errorf("login CSG %d in stage %d", csg, stage)
			}
			if tn, ok := t.Get("TargetName"); ok {
				if len(f.targets) == 0 || tn != f.targets[0] {
					return fail(2, 3)
				}
				f.loggedT = tn
			}
			if csg == 0 {
				if am, ok := t.Get("AuthMethod"); ok {
					if f.user != "" {
						if !bytes.Contains([]byte(am), []byte("CHAP")) {
							return fail(2, 1)
						}
						auth = "CHAP"
					} else {
						auth = "None"
						if am == "CHAP" {
							auth = "Reject"
						}
					}
					tpgt := f.tpgt
					if tpgt == "" {
						tpgt = "1"
					}
					if tpgt != "none" {
						out = append(out, KV{"TargetPortalGroupTag", tpgt})
					}
					out = append(out, KV{"AuthMethod", auth})
					if auth == "CHAP" {
						transit = false
					}
				}
				if a, ok := t.Get("CHAP_A"); ok {
					if a != "5" {
						return fail(2, 1)
					}
					out = append(out, KV{"CHAP_A", "5"}, KV{"CHAP_I", strconv.Itoa(int(chapID))}, KV{"CHAP_C", EncodeBinary(chal)})
					transit = false
				}
				if n, ok := t.Get("CHAP_N"); ok {
					r, _ := t.Get("CHAP_R")
					got, err := DecodeBinary(r)
					sum := md5.Sum(append(append([]byte{chapID}, f.pass...), chal...))
					if err != nil || n != f.user || !bytes.Equal(got, sum[:]) {
						return fail(2, 1)
					}
					authDone = true
					if ci, ok := t.Get("CHAP_I"); ok {
						cc, _ := t.Get("CHAP_C")
						id, _ := strconv.Atoi(ci)
						c, _ := DecodeBinary(cc)
						sum := md5.Sum(append(append([]byte{byte(id)}, f.outPass...), c...))
						if f.badMutual {
							sum[0] ^= 1
						}
						out = append(out, KV{"CHAP_N", f.outUser}, KV{"CHAP_R", EncodeBinary(sum[:])})
					}
				}
				if auth == "Reject" {
					transit = false
				}
				if transit && !authDone {
					return fail(2, 1)
				}
			} else {
				if _, ok := t.Get("HeaderDigest"); ok {
					out = append(out, KV{"HeaderDigest", "None"}, KV{"DataDigest", "None"}, KV{"MaxRecvDataSegmentLength", "8192"})
				}
				if _, ok := t.Get("InitialR2T"); ok {
					out = append(out, KV{"InitialR2T", "Yes"}, KV{"ImmediateData", "Yes"}, KV{"FirstBurstLength", "65536"}, KV{"MaxBurstLength", "262144"})
				}
				if f.proposeERL {
					if v, ok := t.Get("ErrorRecoveryLevel"); ok && v == "0" {
						f.proposeERL = false
					} else {
						out = append(out, KV{"X-com.example.Foo", "1"}, KV{"ErrorRecoveryLevel", "2"})
						transit = false
					}
				}
			}
			flags := byte(0)
			if transit {
				stage = nsg
				flags = flagTransit | csg<<2 | nsg
			} else {
				flags = csg << 2
			}
			r := f.rsp(req, OpLoginRsp, flags, statSN, out)
			if stage == 3 {
				r.put16(14, 0x1234)
				ffp = true
			}
			if f.splitLogin > 1 {
				// RFC 7143 6.2: the C bit, and T only on the last PDU.
				chunk := (len(r.Data) + f.splitLogin - 1) / f.splitLogin
				for len(r.Data) > chunk {
					f.pendingLogin = append(f.pendingLogin, r.Data[:chunk])
					r.Data = r.Data[chunk:]
				}
				f.pendingLogin = append(f.pendingLogin, r.Data)
				f.pendingFlags, f.splitLogin = flags, 0
				r.BHS[1] = flags&0x0c | flagContinue
				r.Data, f.pendingLogin = f.pendingLogin[0], f.pendingLogin[1:]
			}
			if err := tr.SendPDU(r); err != nil {
				return err
			}
		case OpTextReq:
			if !ffp {
				return fmt.Errorf("text request before full feature phase")
			}
			if f.floodText {
				r := f.rsp(req, OpTextRsp, flagContinue, statSN, nil)
				r.put32(20, 0x55)
				r.Data = f.flood()
				if err := tr.SendPDU(r); err != nil {
					return err
				}
				continue
			}
			var all Text
			if st, _ := t.Get("SendTargets"); st == "All" || req.u32(20) != 0xffffffff {
				for _, n := range f.targets {
					all = append(all, KV{"TargetName", n}, KV{"TargetAddress", f.address})
				}
			}
			data := all.Marshal()
			if f.continued && req.u32(20) == 0xffffffff {
				half := len(data) / 2
				r := f.rsp(req, OpTextRsp, flagContinue, statSN, nil)
				r.Data = data[:half]
				r.put32(20, 0x55)
				if err := tr.SendPDU(r); err != nil {
					return err
				}
				f.continued = false
				f.pendingRest = data[half:]
				continue
			}
			r := f.rsp(req, OpTextRsp, flagTransit, statSN, nil)
			r.put32(20, 0xffffffff)
			r.Data = data
			if f.pendingRest != nil {
				r.Data, f.pendingRest = f.pendingRest, nil
			}
			if err := tr.SendPDU(r); err != nil {
				return err
			}
		case OpLogoutReq:
			return tr.SendPDU(f.rsp(req, OpLogoutRsp, flagTransit, statSN, nil))
		default:
			return fmt.Errorf("unexpected opcode 0x%02x", req.Opcode())
		}
	}
}

// flood returns floodBytes bytes of well-formed text ("X-pad=aaa...\x00").
func (f *fakeTarget) flood() []byte {
	if f.floodBytes == 0 {
		return nil
	}
	b := bytes.Repeat([]byte{'a'}, f.floodBytes)
	copy(b, "X-pad=")
	b[len(b)-1] = 0
	return b
}

// pipe starts f on one end of an in-memory connection.
func (f *fakeTarget) pipe(t *testing.T) net.Conn {
	c1, c2 := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); f.serve(c2); c2.Close() }()
	t.Cleanup(func() {
		c1.Close()
		<-done
		if f.err != nil {
			t.Errorf("fake target: %v", f.err)
		}
	})
	return c1
}
