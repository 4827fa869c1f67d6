package iscsi

import (
	"bytes"
	"context"
	"errors"
	"net"
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
