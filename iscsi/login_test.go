package iscsi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

const (
	tName  = "iqn.2013-04.zone.sidus.target:10.0.2.15"
	tInit  = "iqn.2013-04.zone.sidus:525400123456"
	secret = "sup3r-s3cret-pw"
	inSec  = "t4rget-s3cret-pw"
)

func loginFake(t *testing.T, f *fakeTarget, o LoginOptions) (*LoginResult, error) {
	t.Helper()
	conn := f.pipe(t)
	if o.Initiator == "" {
		o.Initiator = tInit
	}
	o.Portal = "192.0.2.1:3260"
	o.Logf = t.Logf
	return LoginOver(NewStreamTransport(conn), o)
}

func TestLoginOver(t *testing.T) {
	mutualRand := func() *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{0x5a}, 17)) }
	for _, tt := range []struct {
		name     string
		f        fakeTarget
		o        LoginOptions
		wantAuth string
		wantErr  string
		authFail bool
	}{
		{name: "none", f: fakeTarget{targets: []string{tName}}, o: LoginOptions{TargetName: tName}, wantAuth: "None"},
		{name: "chap offered, target needs none", f: fakeTarget{targets: []string{tName}},
			o: LoginOptions{TargetName: tName, Username: "node", Password: secret}, wantAuth: "None"},
		{name: "chap", f: fakeTarget{targets: []string{tName}, user: "node", pass: secret},
			o: LoginOptions{TargetName: tName, Username: "node", Password: secret}, wantAuth: "CHAP"},
		{name: "chap wrong password", f: fakeTarget{targets: []string{tName}, user: "node", pass: "other-password"},
			o:       LoginOptions{TargetName: tName, Username: "node", Password: secret},
			wantErr: "authentication failed for target " + tName + " at portal 192.0.2.1:3260: check ISCSI_USERNAME/ISCSI_PASSWORD", authFail: true},
		{name: "chap required, none configured", f: fakeTarget{targets: []string{tName}, user: "node", pass: secret},
			o: LoginOptions{TargetName: tName}, wantErr: "authentication failed", authFail: true},
		{name: "mutual", f: fakeTarget{targets: []string{tName}, user: "node", pass: secret, outUser: "tgt", outPass: inSec},
			o:        LoginOptions{TargetName: tName, Username: "node", Password: secret, InUsername: "tgt", InPassword: inSec, Rand: mutualRand()},
			wantAuth: "CHAP (mutual)"},
		{name: "mutual wrong target secret", f: fakeTarget{targets: []string{tName}, user: "node", pass: secret, outUser: "tgt", outPass: "wrong-secret-xx"},
			o:       LoginOptions{TargetName: tName, Username: "node", Password: secret, InUsername: "tgt", InPassword: inSec, Rand: mutualRand()},
			wantErr: "check ISCSI_IN_USERNAME/ISCSI_IN_PASSWORD"},
		{name: "mutual bad response", f: fakeTarget{targets: []string{tName}, user: "node", pass: secret, outUser: "tgt", outPass: inSec, badMutual: true},
			o:       LoginOptions{TargetName: tName, Username: "node", Password: secret, InUsername: "tgt", InPassword: inSec},
			wantErr: "mutual CHAP failed"},
		{name: "mutual but target has no auth", f: fakeTarget{targets: []string{tName}},
			o:       LoginOptions{TargetName: tName, Username: "node", Password: secret, InUsername: "tgt", InPassword: inSec},
			wantErr: "target refused AuthMethod=CHAP"},
		{name: "not found", f: fakeTarget{targets: []string{"iqn.2000-01.x:other"}}, o: LoginOptions{TargetName: tName},
			wantErr: "target not found (check ISCSI_TARGET_NAME"},
		{name: "service unavailable", f: fakeTarget{forceClass: 3, forceDet: 1}, o: LoginOptions{TargetName: tName},
			wantErr: "service unavailable"},
		{name: "target proposes keys", f: fakeTarget{targets: []string{tName}, proposeERL: true}, o: LoginOptions{}, wantAuth: "None"},
		{name: "discovery", f: fakeTarget{targets: []string{tName}}, o: LoginOptions{}, wantAuth: "None"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			res, err := loginFake(t, &f, tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoginOver err = %v, want %q", err, tt.wantErr)
				}
				if IsAuthFailure(err) != tt.authFail {
					t.Errorf("IsAuthFailure = %v", IsAuthFailure(err))
				}
				noSecrets(t, err.Error())
				return
			}
			if err != nil {
				t.Fatalf("LoginOver: %v", err)
			}
			if res.Auth != tt.wantAuth || res.TSIH != 0x1234 || res.TPGT != 1 {
				t.Errorf("result %+v", res)
			}
			if res.Params.MaxXmitDataSegmentLength != 8192 || res.Params.MaxRecvDataSegmentLength != defaultMaxRecvDSL {
				t.Errorf("params %+v", res.Params)
			}
			if tt.o.TargetName != "" && (!res.Params.InitialR2T || res.Params.FirstBurstLength != 65536 || res.Params.ErrorRecoveryLevel != 0) {
				t.Errorf("params %+v", res.Params)
			}
			first := f.got[0]
			if v, _ := first.Get("InitiatorName"); v != tInit {
				t.Errorf("InitiatorName = %q", v)
			}
			if tt.name == "target proposes keys" {
				last := f.got[len(f.got)-1]
				if v, _ := last.Get("ErrorRecoveryLevel"); v != "0" || len(last) != 2 || last[0].Value != "NotUnderstood" {
					t.Errorf("ERL reply = %v", last)
				}
			}
		})
	}
}

func TestLoginRedirect(t *testing.T) {
	f := fakeTarget{forceClass: 1, forceDet: 1, redirect: "192.0.2.9:3260,1"}
	_, err := loginFake(t, &f, LoginOptions{TargetName: tName})
	var le *LoginError
	if !errors.As(err, &le) || le.Redirect != "192.0.2.9:3260,1" || !strings.Contains(err.Error(), "redirected") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoginNoInitiator(t *testing.T) {
	if _, err := LoginOver(nil, LoginOptions{}); err == nil || !strings.Contains(err.Error(), "ISCSI_INITIATOR") {
		t.Fatalf("err = %v", err)
	}
}

func withFakeDial(t *testing.T, f *fakeTarget) {
	old := dialFunc
	dialFunc = func(ctx context.Context, addr string) (net.Conn, error) { return f.pipe(t), nil }
	t.Cleanup(func() { dialFunc = old })
}

func TestDiscover(t *testing.T) {
	names := []string{"iqn.2013-04.zone.sidus.target:10.0.2.150", tName, "iqn.2013-04.zone.sidus.target:10.0.2.16"}
	for _, tt := range []struct {
		name string
		f    fakeTarget
		p    Params
	}{
		{"none", fakeTarget{targets: names, address: "10.0.2.100:3260,1"}, Params{Initiator: tInit, Port: 3260}},
		{"chap", fakeTarget{targets: names, address: "10.0.2.100:3260,1", user: "u", pass: secret}, Params{Initiator: tInit, Username: "u", Password: secret}},
		{"mutual", fakeTarget{targets: names, address: "10.0.2.100:3260,1", user: "u", pass: secret, outUser: "t", outPass: inSec},
			Params{Initiator: tInit, Username: "u", Password: secret, InUsername: "t", InPassword: inSec}},
		// tgtd: no discovery account; a CHAP-only offer is refused. The
		// node's mutual account is for the normal session only.
		{"mutual creds, open discovery", fakeTarget{targets: names, address: "10.0.2.100:3260,1"},
			Params{Initiator: tInit, Username: "u", Password: secret, InUsername: "t", InPassword: inSec}},
		{"continued", fakeTarget{targets: names, address: "10.0.2.100:3260,1", continued: true}, Params{Initiator: tInit}},
		{"unspecified address", fakeTarget{targets: names, address: "0.0.0.0:3260,1"}, Params{Initiator: tInit}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			withFakeDial(t, &f)
			ts, err := Discover(context.Background(), "192.0.2.1", tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != 3 || ts[1].Name != tName {
				t.Fatalf("targets = %v", ts)
			}
			wantPortal := "10.0.2.100:3260"
			if strings.HasPrefix(tt.f.address, "0.0.0.0") {
				wantPortal = "192.0.2.1:3260"
			}
			if ts[0].Portal != wantPortal {
				t.Errorf("portal = %q, want %q", ts[0].Portal, wantPortal)
			}
			sel, err := SelectTarget(ts, "10.0.2.15")
			if err != nil || sel.Name != tName {
				t.Errorf("SelectTarget = %v, %v", sel, err)
			}
		})
	}
}

func TestSelectTarget(t *testing.T) {
	a := Target{Name: "iqn.2013-04.zone.sidus.target:10.0.2.15"}
	b := Target{Name: "iqn.2013-04.zone.sidus.target:110.0.2.15"}
	c := Target{Name: "iqn.2013-04.zone.sidus.target:default"}
	for _, tt := range []struct {
		name    string
		ts      []Target
		ip      string
		want    string
		wantErr string
	}{
		{"by ip", []Target{b, a, c}, "10.0.2.15", a.Name, ""},
		{"boundary", []Target{b, c}, "10.0.2.15", "", "no target name ends with client IP \"10.0.2.15\" among " + b.Name + ", " + c.Name},
		{"only one", []Target{c}, "10.0.2.15", c.Name, ""},
		{"no ip, only one", []Target{c}, "", c.Name, ""},
		{"none", nil, "10.0.2.15", "", "offers no targets"},
		{"ambiguous", []Target{a, a}, "10.0.2.15", "", "several iscsi targets"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectTarget(tt.ts, tt.ip)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Name != tt.want {
				t.Fatalf("SelectTarget = %v, %v", got, err)
			}
		})
	}
}

func noSecrets(t *testing.T, s string) {
	t.Helper()
	for _, sec := range []string{secret, inSec, "other-password", "wrong-secret-xx"} {
		if strings.Contains(s, sec) {
			t.Errorf("%q leaks a secret", s)
		}
	}
}

func TestPDURoundTrip(t *testing.T) {
	p := &PDU{Data: []byte("abcde")}
	p.BHS[0] = OpTextReq
	b := p.Marshal()
	if len(b) != BHSLen+8 || b[7] != 5 {
		t.Fatalf("marshal: len %d dsl %d", len(b), b[7])
	}
	q, err := ParsePDU(b[:BHSLen+5]) // kernel buffers may lack padding
	if err != nil || string(q.Data) != "abcde" || q.Opcode() != OpTextReq {
		t.Fatalf("ParsePDU = %v, %v", q, err)
	}
	if _, err := ParsePDU(b[:10]); err == nil {
		t.Error("short PDU accepted")
	}
	if _, err := ParseText([]byte("a=1\x00novalue\x00")); err == nil {
		t.Error("malformed text accepted")
	}
}

func TestApplyOperational(t *testing.T) {
	c := &loginConn{}
	for _, tt := range []struct {
		kv      KV
		offered bool
		reply   string
		wantErr bool
	}{
		{KV{"ErrorRecoveryLevel", "2"}, true, "", true},
		{KV{"ErrorRecoveryLevel", "2"}, false, "ErrorRecoveryLevel=0", false},
		{KV{"HeaderDigest", "CRC32C"}, true, "", true},
		{KV{"HeaderDigest", "CRC32C,None"}, false, "HeaderDigest=None", false},
		{KV{"DataDigest", "Reject"}, true, "", true},
		{KV{"MaxBurstLength", "Reject"}, true, "", false},
		{KV{"MaxBurstLength", "x"}, true, "", true},
		{KV{"InitialR2T", "Maybe"}, true, "", true},
		{KV{"X-foo", "1"}, false, "X-foo=NotUnderstood", false},
		{KV{"DefaultTime2Wait", "5"}, false, "DefaultTime2Wait=5", false},
		{KV{"MaxRecvDataSegmentLength", "65536"}, false, "", false},
	} {
		n := &Negotiated{}
		r, err := c.applyOperational(n, tt.kv, tt.offered)
		got := ""
		if r != nil {
			got = r.Key + "=" + r.Value
		}
		if (err != nil) != tt.wantErr || got != tt.reply {
			t.Errorf("applyOperational(%v, %v) = %q, %v", tt.kv, tt.offered, got, err)
		}
	}
}

// A target may continue a login response over several PDUs (RFC 7143
// 6.2); the initiator asks for the rest and reassembles it.
func TestLoginContinued(t *testing.T) {
	f := fakeTarget{targets: []string{tName}, user: "node", pass: secret, splitLogin: 3}
	res, err := loginFake(t, &f, LoginOptions{TargetName: tName, Username: "node", Password: secret})
	if err != nil {
		t.Fatal(err)
	}
	if res.Auth != "CHAP" || res.TPGT != 1 {
		t.Errorf("result %+v", res)
	}
	if len(f.got) < 3 || len(f.got[1]) != 0 || len(f.got[2]) != 0 {
		t.Errorf("requests %v: want two empty continuation requests after the first", f.got)
	}
}

// A target that never ends its login response, or sends too much text,
// is cut off with an error naming it, after a bounded number of PDUs.
func TestLoginBounds(t *testing.T) {
	for _, tt := range []struct {
		name     string
		bytes    int
		wantErr  string
		wantReqs int
	}{
		{"endless continue", 16, "did not end within 64 PDUs", maxLoginResponsePDUs},
		{"endless empty continue", 0, "did not end within 64 PDUs", maxLoginResponsePDUs},
		{"too much text", 8192, "exceeds 65536 bytes of text (in 9 PDUs)", 9},
		{"one huge PDU", 1 << 20, "exceeds 65536 bytes of text (in 1 PDUs)", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeTarget{targets: []string{tName}, floodLogin: true, floodBytes: tt.bytes}
			_, err := loginFake(t, &f, LoginOptions{TargetName: tName, Username: "node", Password: secret})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) ||
				!strings.Contains(err.Error(), "target "+tName+" at portal 192.0.2.1:3260") {
				t.Fatalf("err = %v, want %q naming the target", err, tt.wantErr)
			}
			noSecrets(t, err.Error())
			if len(f.got) != tt.wantReqs {
				t.Errorf("%d login requests, want %d", len(f.got), tt.wantReqs)
			}
		})
	}
}

// Likewise for the SendTargets answer of a discovery session.
func TestDiscoverBounds(t *testing.T) {
	for _, tt := range []struct {
		name    string
		bytes   int
		wantErr string
	}{
		{"endless continue", 16, "did not end within 1024 PDUs"},
		{"too much text", 1 << 20, "exceeds 4194304 bytes of text (in 5 PDUs)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeTarget{targets: []string{tName}, floodText: true, floodBytes: tt.bytes}
			withFakeDial(t, &f)
			_, err := Discover(context.Background(), "192.0.2.1", Params{Initiator: tInit})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "iscsi discovery at portal 192.0.2.1:3260") {
				t.Fatalf("err = %v, want %q naming the portal", err, tt.wantErr)
			}
		})
	}
}

// ISCSI_TARGET_GROUP: a normal session's target must report that portal
// group tag (open-iscsi's LOGIN_WRONG_PORTAL_GROUP check).
func TestLoginPortalGroup(t *testing.T) {
	for _, tt := range []struct {
		name       string
		tpgt       string // what the target reports
		group      string // ISCSI_TARGET_GROUP
		discovery  bool
		wantErr    string
		wantGroupE bool
	}{
		{name: "unset", tpgt: "7"},
		{name: "match", tpgt: "7", group: "7"},
		{name: "match, leading zero", tpgt: "7", group: "07"},
		{name: "mismatch", tpgt: "1", group: "2", wantGroupE: true,
			wantErr: "iscsi login to target " + tName + " at portal 192.0.2.1:3260: the portal is in portal group 1, not ISCSI_TARGET_GROUP=2: check ISCSI_TARGET_GROUP and ISCSI_TARGET_IP"},
		{name: "bad group", tpgt: "1", group: "x", wantErr: `ISCSI_TARGET_GROUP="x" is not a target portal group tag`},
		{name: "discovery is not checked", tpgt: "1", group: "2", discovery: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := fakeTarget{targets: []string{tName}, user: "node", pass: secret, tpgt: tt.tpgt}
			o := LoginOptions{TargetName: tName, Username: "node", Password: secret, PortalGroup: tt.group}
			if tt.discovery {
				o.TargetName = ""
			}
			res, err := loginFake(t, &f, o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var pe *PortalGroupError
				if errors.As(err, &pe) != tt.wantGroupE {
					t.Errorf("errors.As(%v, *PortalGroupError) = %v", err, !tt.wantGroupE)
				}
				if tt.wantGroupE && len(f.got) != 1 {
					t.Errorf("%d login requests; want the mismatch found in the first answer, before CHAP", len(f.got))
				}
				noSecrets(t, err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.tpgt; strconv.Itoa(res.TPGT) != want {
				t.Errorf("TPGT = %d, want %s", res.TPGT, want)
			}
		})
	}
}

func TestParseSendTargetsPortalGroup(t *testing.T) {
	text := Text{
		{"TargetName", "iqn.2000-01.a:one"},
		{"TargetAddress", "10.0.0.1:3260,1"},
		{"TargetAddress", "[fd00::2]:3260,2"},
		{"TargetAddress", "10.0.0.3:3260"}, // no tag
		{"TargetName", "iqn.2000-01.a:two"},
		{"TargetAddress", "10.0.0.4:3260,2"},
	}
	const disc = "192.0.2.1:3260"
	for _, tt := range []struct {
		group int
		want  []string // portals of one, two
	}{
		{-1, []string{"10.0.0.1:3260", "10.0.0.4:3260"}},
		{1, []string{"10.0.0.1:3260", disc}},
		{2, []string{"[fd00::2]:3260", "10.0.0.4:3260"}},
		{3, []string{disc, disc}},
	} {
		ts := parseSendTargets(text, disc, tt.group)
		if len(ts) != 2 || ts[0].Portal != tt.want[0] || ts[1].Portal != tt.want[1] {
			t.Errorf("group %d: targets %v, want portals %v", tt.group, ts, tt.want)
		}
	}
}

func TestDiscoverPortalGroup(t *testing.T) {
	for _, tt := range []struct{ group, want string }{
		{"", "10.0.2.100:3260"},
		{"1", "10.0.2.100:3260"},
		{"2", "192.0.2.1:3260"}, // no address in group 2: the discovery portal
	} {
		f := fakeTarget{targets: []string{tName}, address: "10.0.2.100:3260,1"}
		withFakeDial(t, &f)
		ts, err := Discover(context.Background(), "192.0.2.1", Params{Initiator: tInit, Group: tt.group})
		if err != nil || len(ts) != 1 || ts[0].Portal != tt.want {
			t.Errorf("group %q: Discover = %v, %v; want portal %s", tt.group, ts, err, tt.want)
		}
	}
}

// A target that does not report its tag (RFC 7143 says it must) is let in
// with a note: the tag cannot be checked.
func TestLoginPortalGroupNotReported(t *testing.T) {
	f := fakeTarget{targets: []string{tName}, tpgt: "none"}
	var logs []string
	res, err := LoginOver(NewStreamTransport(f.pipe(t)), LoginOptions{Initiator: tInit, TargetName: tName, Portal: "192.0.2.1:3260", PortalGroup: "2",
		Logf: func(format string, a ...any) { logs = append(logs, fmt.Sprintf(format, a...)) }})
	if err != nil || res.TPGT != -1 {
		t.Fatalf("LoginOver = %+v, %v", res, err)
	}
	if l := strings.Join(logs, "\n"); !strings.Contains(l, "did not report its TargetPortalGroupTag; ISCSI_TARGET_GROUP=2 not checked") {
		t.Errorf("logs lack the note:\n%s", l)
	}
}
