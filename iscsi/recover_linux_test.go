package iscsi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/u-root/iscsinl"
)

// recKernel is fakeKernel plus what recovery and logout need: stop flags,
// a record of the PDUs sent, and Close (as closeKernel calls it).
type recKernel struct {
	*fakeKernel
	mu     sync.Mutex
	sent   []*PDU
	closed bool
}

func (k *recKernel) StopConnectionFlag(sid, cid, flag uint32) error {
	return k.call(fmt.Sprintf("stop-%d", flag))
}

func (k *recKernel) SendPDU(sid, cid uint32, pdu iscsinl.PduLike) error {
	p, err := ParsePDU(pdu.Serialize())
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.sent = append(k.sent, p)
	k.mu.Unlock()
	return k.fakeKernel.SendPDU(sid, cid, pdu)
}

func (k *recKernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.closed && k.conn != nil {
		k.conn.Close()
	}
	k.closed = true
	return nil
}

// recSys is a sysfs tree with session 1, connection 1:0.
func recSys(t *testing.T, state, expStatSN string) sysfs {
	root := t.TempDir()
	s := filepath.Join(root, "class/iscsi_session/session1")
	c := filepath.Join(root, "class/iscsi_connection/connection1:0")
	for _, d := range []string{s, c} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(s, "state"), []byte(state+"\n"), 0o644)
	os.WriteFile(filepath.Join(c, "exp_statsn"), []byte(expStatSN+"\n"), 0o644)
	return sysfs{Root: root}
}

func recEnv(t *testing.T, k *recKernel, f *fakeTarget, sys sysfs) env {
	return env{
		connect: func() (kernel, error) { return k, nil },
		dial: func(ctx context.Context, addr string) (net.Conn, error) {
			if f == nil {
				return nil, errors.New("connection refused")
			}
			k.conn = f.pipe(t)
			return k.conn, nil
		},
		sys: sys,
	}
}

func reloginOpts() ReloginOptions {
	return ReloginOptions{SID: 1, CID: 0, Portal: "10.0.2.100:3260", TargetName: tName, Initiator: tInit,
		ISID: ISIDForSID(1), TSIH: 0x1234, RecoveryTimeout: -1}
}

func TestRelogin(t *testing.T) {
	for _, tt := range []struct {
		name     string
		f        fakeTarget
		user     string
		pass     string
		in, inPw string
		auth     string
	}{
		{"none", fakeTarget{targets: []string{tName}}, "", "", "", "", "None"},
		{"chap", fakeTarget{targets: []string{tName}, user: "node", pass: secret}, "node", secret, "", "", "CHAP"},
		{"mutual chap", fakeTarget{targets: []string{tName}, user: "node", pass: secret, outUser: "tgt", outPass: "target-secret-12"}, "node", secret, "tgt", "target-secret-12", "CHAP (mutual)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := &recKernel{fakeKernel: &fakeKernel{t: t}}
			f := tt.f
			o := reloginOpts()
			o.Username, o.Password, o.InUsername, o.InPassword = tt.user, tt.pass, tt.in, tt.inPw
			var logs []string
			o.Logf = func(format string, a ...any) { logs = append(logs, fmt.Sprintf(format, a...)) }
			res, err := recEnv(t, k, &f, recSys(t, "FAILED", "77")).relogin(context.Background(), o)
			if err != nil {
				t.Fatalf("relogin: %v (calls %v)", err, k.calls)
			}
			defer res.Close()
			// iscsid's order: stop for recovery, recovery timeout, bind,
			// login, parameters, start; no session or connection created.
			calls := strings.Join(k.calls, " ")
			want := fmt.Sprintf("stop-3 set-param-%d bind ", iscsinl.ISCSI_PARAM_SESS_RECOVERY_TMO) // STOP_CONN_RECOVER
			if !strings.HasPrefix(calls, want) || !strings.HasSuffix(calls, " start") || strings.Contains(calls, "create") || strings.Contains(calls, "destroy") {
				t.Errorf("calls %s", calls)
			}
			if res.TSIH != 0x1234 || res.Auth != tt.auth || res.Portal != o.Portal || res.TPGT != 1 {
				t.Errorf("result %+v", res)
			}
			if k.params[iscsinl.ISCSI_PARAM_SESS_RECOVERY_TMO] != "-1" || k.params[iscsinl.ISCSI_PARAM_TARGET_NAME] != tName ||
				k.params[iscsinl.ISCSI_PARAM_EXP_STATSN] == "" || k.params[iscsinl.ISCSI_PARAM_PERSISTENT_ADDRESS] != "10.0.2.100" {
				t.Errorf("params %v", k.params)
			}
			first := k.sent[0]
			if first.Opcode() != OpLoginReq || first.u16(14) != 0x1234 || [6]byte(first.BHS[8:14]) != ISIDForSID(1) || first.u32(28) != 77 || first.u16(20) != 0 {
				t.Errorf("first login request: TSIH %#x ISID %x ExpStatSN %d CID %d", first.u16(14), first.BHS[8:14], first.u32(28), first.u16(20))
			}
			if len(k.sent) > 1 && k.sent[1].u32(28) == 77 {
				t.Errorf("the old ExpStatSN went beyond the first request")
			}
			for _, l := range logs {
				noSecrets(t, l)
			}
		})
	}
}

func TestReloginFailures(t *testing.T) {
	t.Run("session gone", func(t *testing.T) {
		k := &recKernel{fakeKernel: &fakeKernel{t: t}}
		f := fakeTarget{targets: []string{tName}, forceClass: 2, forceDet: 0x0a}
		_, err := recEnv(t, k, &f, recSys(t, "FAILED", "1")).relogin(context.Background(), reloginOpts())
		if !IsSessionGone(err) || IsAuthFailure(err) {
			t.Fatalf("err = %v, IsSessionGone false", err)
		}
		if strings.Contains(strings.Join(k.calls, " "), "start") {
			t.Errorf("started after a rejected login: %v", k.calls)
		}
	})
	t.Run("auth", func(t *testing.T) {
		k := &recKernel{fakeKernel: &fakeKernel{t: t}}
		f := fakeTarget{targets: []string{tName}, user: "node", pass: "other-password"}
		o := reloginOpts()
		o.Username, o.Password = "node", secret
		_, err := recEnv(t, k, &f, recSys(t, "FAILED", "1")).relogin(context.Background(), o)
		if !IsAuthFailure(err) {
			t.Fatalf("err = %v", err)
		}
		noSecrets(t, err.Error())
	})
	t.Run("redirect", func(t *testing.T) {
		k := &recKernel{fakeKernel: &fakeKernel{t: t}}
		f := fakeTarget{targets: []string{tName}, forceClass: 1, forceDet: 1, redirect: "10.0.2.101:3260,1"}
		_, err := recEnv(t, k, &f, recSys(t, "FAILED", "1")).relogin(context.Background(), reloginOpts())
		if Redirected(err) != "10.0.2.101:3260" {
			t.Fatalf("Redirected(%v) = %q", err, Redirected(err))
		}
	})
	t.Run("portal group", func(t *testing.T) {
		k := &recKernel{fakeKernel: &fakeKernel{t: t}}
		f := fakeTarget{targets: []string{tName}} // reports TPGT 1
		o := reloginOpts()
		o.PortalGroup = "5"
		if _, err := recEnv(t, k, &f, recSys(t, "FAILED", "1")).relogin(context.Background(), o); err == nil {
			t.Fatal("a login to another portal group was accepted")
		} else {
			t.Logf("err = %v", err)
		}
	})
	t.Run("connect", func(t *testing.T) {
		k := &recKernel{fakeKernel: &fakeKernel{t: t}}
		_, err := recEnv(t, k, nil, recSys(t, "FAILED", "1")).relogin(context.Background(), reloginOpts())
		if err == nil || !strings.Contains(err.Error(), "connecting to 10.0.2.100:3260: connection refused") {
			t.Fatalf("err = %v", err)
		}
		if k.calls[0] != "stop-3" {
			t.Errorf("calls %v", k.calls)
		}
	})
	t.Run("stop refused", func(t *testing.T) {
		k := &recKernel{fakeKernel: &fakeKernel{t: t, failOn: "stop-3"}}
		_, err := recEnv(t, k, nil, recSys(t, "FAILED", "1")).relogin(context.Background(), reloginOpts())
		if err == nil || !strings.Contains(err.Error(), "stopping the failed connection 1:0 for recovery") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		e := env{connect: func() (kernel, error) { t.Fatal("connect called"); return nil, nil }}
		if _, err := e.relogin(ctx, reloginOpts()); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestLogoutSession(t *testing.T) {
	t.Run("logged in", func(t *testing.T) {
		k := &recKernel{fakeKernel: &fakeKernel{t: t}}
		f := fakeTarget{targets: []string{tName}}
		k.conn = f.pipe(t)
		var logs []string
		logf := func(format string, a ...any) { logs = append(logs, fmt.Sprintf(format, a...)) }
		e := recEnv(t, k, &f, recSys(t, "LOGGED_IN", "5"))
		if err := e.logout(context.Background(), 1, 0, logf); err != nil {
			t.Fatal(err)
		}
		if len(k.sent) != 1 {
			t.Fatalf("sent %d PDUs", len(k.sent))
		}
		p := k.sent[0]
		if p.BHS[0] != OpLogoutReq|opImmediate || p.BHS[1] != 0x80 || p.ITT() == 0xffffffff || len(p.Data) != 0 {
			t.Errorf("logout request %x", p.BHS[:24])
		}
		if got := strings.Join(k.calls, " "); got != "stop-1 destroy-conn destroy-session" {
			t.Errorf("calls %q (want STOP_CONN_TERM, then destroy)", got)
		}
		if !strings.Contains(strings.Join(logs, "\n"), "logged out of the target (connection or session closed successfully)") {
			t.Errorf("logs %v", logs)
		}
	})
	t.Run("failed session", func(t *testing.T) {
		k := &recKernel{fakeKernel: &fakeKernel{t: t}}
		e := recEnv(t, k, nil, recSys(t, "FAILED", "5"))
		if err := e.logout(context.Background(), 1, 0, nil); err != nil {
			t.Fatal(err)
		}
		if len(k.sent) != 0 || strings.Join(k.calls, " ") != "stop-1 destroy-conn destroy-session" {
			t.Errorf("sent %d, calls %v", len(k.sent), k.calls)
		}
	})
	t.Run("target silent", func(t *testing.T) {
		k := &recKernel{fakeKernel: &fakeKernel{t: t}}
		c1, c2 := net.Pipe()
		t.Cleanup(func() { c1.Close(); c2.Close() })
		go func() { // read the request, never answer
			ReadPDU(c2)
			select {}
		}()
		k.conn = c1
		e := recEnv(t, k, nil, recSys(t, "LOGGED_IN", "5"))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		err := e.logout(ctx, 1, 0, nil)
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("logout took %s", d)
		}
		if err != nil || strings.Join(k.calls, " ") != "stop-1 destroy-conn destroy-session" {
			t.Errorf("err = %v, calls %v: the teardown must fit in the bound", err, k.calls)
		}
	})
	t.Run("destroy fails", func(t *testing.T) {
		k := &recKernel{fakeKernel: &fakeKernel{t: t, failOn: "destroy-session"}}
		e := recEnv(t, k, nil, recSys(t, "FAILED", "5"))
		if err := e.logout(context.Background(), 1, 0, nil); err == nil || !strings.Contains(err.Error(), "destroying session 1") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSysfsAttrs(t *testing.T) {
	root := t.TempDir()
	w := func(p, v string) {
		p = filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(v+"\n"), 0o644)
	}
	w("class/iscsi_session/session3/state", "FAILED")
	w("class/iscsi_session/session3/recovery_tmo", "off")
	w("class/iscsi_session/session12/recovery_tmo", "120")
	w("class/iscsi_session/session12/state", "LOGGED_IN")
	w("class/iscsi_connection/connection3:0/state", "failed")
	w("class/iscsi_connection/connection3:0/exp_statsn", "4294967295")
	s := Sysfs{Root: root}
	if ids, _ := s.Sessions(); fmt.Sprint(ids) != "[3 12]" {
		t.Errorf("sessions %v", ids)
	}
	if ids, _ := s.Connections(3); fmt.Sprint(ids) != "[0]" {
		t.Errorf("connections %v", ids)
	}
	if st, err := s.SessionState(3); st != SessionFailed || err != nil {
		t.Errorf("state %q %v", st, err)
	}
	if _, err := s.SessionState(4); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing session: %v", err)
	}
	if st, _ := s.ConnState(3, 0); st != "failed" {
		t.Errorf("conn state %q", st)
	}
	if n, err := s.ExpStatSN(3, 0); n != 4294967295 || err != nil {
		t.Errorf("exp_statsn %d %v", n, err)
	}
	if n, never, err := s.RecoveryTimeout(3); n != -1 || !never || err != nil {
		t.Errorf("recovery_tmo 3: %d %v %v", n, never, err)
	}
	if n, never, err := s.RecoveryTimeout(12); n != 120 || never || err != nil {
		t.Errorf("recovery_tmo 12: %d %v %v", n, never, err)
	}
}

func TestISID(t *testing.T) {
	isid := ISIDForSID(0x1234)
	if s := FormatISID(isid); s != "00023d001234" {
		t.Errorf("FormatISID = %s", s)
	}
	if got, err := ParseISID("0x00023D001234"); err != nil || got != isid {
		t.Errorf("ParseISID = %x, %v", got, err)
	}
	for _, bad := range []string{"", "00023d0012", "zz023d001234", "00023d00123456"} {
		if _, err := ParseISID(bad); err == nil {
			t.Errorf("ParseISID(%q) accepted", bad)
		}
	}
}

func TestKernelParamsRecoveryTimeout(t *testing.T) {
	res := &LoginResult{TPGT: -1, ExpStatSN: 9, Params: Negotiated{MaxRecvDataSegmentLength: 262144, MaxXmitDataSegmentLength: 8192}}
	has := func(ps []kparam, p iscsinl.IscsiParam) (string, bool) {
		for _, x := range ps {
			if x.p == p {
				return x.v, true
			}
		}
		return "", false
	}
	if _, ok := has(kernelParams(tName, tInit, "[fe80::1]:3260", res, ""), iscsinl.ISCSI_PARAM_SESS_RECOVERY_TMO); ok {
		t.Error("recovery timeout set without being asked")
	}
	ps := kernelParams(tName, tInit, "[fe80::1]:3260", res, "-1")
	if v, _ := has(ps, iscsinl.ISCSI_PARAM_SESS_RECOVERY_TMO); v != "-1" {
		t.Errorf("recovery tmo %q", v)
	}
	if v, _ := has(ps, iscsinl.ISCSI_PARAM_PERSISTENT_ADDRESS); v != "fe80::1" {
		t.Errorf("address %q", v)
	}
	if v, _ := has(ps, iscsinl.ISCSI_PARAM_TPGT); v != "0" {
		t.Errorf("tpgt %q", v)
	}
}
