package iscsi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/u-root/iscsinl"
)

// fakeKernel stands in for NETLINK_ISCSI: login PDUs go to a fakeTarget
// over the connection the test's dial returned.
type fakeKernel struct {
	t      *testing.T
	conn   net.Conn
	calls  []string
	params map[iscsinl.IscsiParam]string
	failOn string
}

func (k *fakeKernel) call(s string) error {
	k.calls = append(k.calls, s)
	if k.failOn != "" && strings.HasPrefix(s, k.failOn) {
		return errors.New("injected failure")
	}
	return nil
}

func (k *fakeKernel) CreateSession(cmdsMax, queueDepth uint16) (uint32, uint32, error) {
	return 1, 5, k.call("create-session")
}
func (k *fakeKernel) CreateConnection(sid uint32) (uint32, error)  { return 0, k.call("create-conn") }
func (k *fakeKernel) BindConnection(sid, cid uint32, fd int) error { return k.call("bind") }
func (k *fakeKernel) SetParam(sid, cid uint32, p iscsinl.IscsiParam, v string) error {
	if k.params == nil {
		k.params = map[iscsinl.IscsiParam]string{}
	}
	k.params[p] = v
	return k.call(fmt.Sprintf("set-param-%d", p))
}
func (k *fakeKernel) StartConnection(sid, cid uint32) error   { return k.call("start") }
func (k *fakeKernel) StopConnection(sid, cid uint32) error    { return k.call("stop") }
func (k *fakeKernel) DestroyConnection(sid, cid uint32) error { return k.call("destroy-conn") }
func (k *fakeKernel) DestroySession(sid uint32) error         { return k.call("destroy-session") }
func (k *fakeKernel) SendPDU(sid, cid uint32, pdu iscsinl.PduLike) error {
	b := pdu.Serialize()
	if int(pdu.HeaderLen())+int(pdu.DataLen()) != len(b) {
		k.t.Errorf("SendPDU: lengths %d+%d != %d", pdu.HeaderLen(), pdu.DataLen(), len(b))
	}
	p, err := ParsePDU(b)
	if err != nil {
		return err
	}
	return NewStreamTransport(k.conn).SendPDU(p)
}
func (k *fakeKernel) RecvPDU(sid, cid uint32) ([]byte, error) {
	p, err := ReadPDU(k.conn)
	if err != nil {
		return nil, err
	}
	return append(p.BHS[:], p.Data...), nil
}

// fakeSys builds a sysfs tree in which the scan of host5 makes session 1's
// LUN 1 appear as sda with partition sda1 (LUN 0 is a controller).
func fakeSys(t *testing.T, appear bool) (sysfs, *[]string) {
	root, dev := t.TempDir(), t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "class/scsi_host/host5"), 0o755))
	must(os.WriteFile(filepath.Join(root, "class/scsi_host/host5/scan"), nil, 0o644))
	sess := filepath.Join(root, "class/iscsi_session/session1/device/target5:0:0")
	must(os.MkdirAll(filepath.Join(sess, "5:0:0:0"), 0o755))
	var writes []string
	s := sysfs{Root: root, DevRoot: dev, Poll: 5 * time.Millisecond, Settle: 20 * time.Millisecond, Default: 300 * time.Millisecond,
		WriteFile: func(path, data string) error {
			writes = append(writes, strings.TrimPrefix(path, root)+"="+data)
			if err := writeExisting(path, data); err != nil {
				return err
			}
			if appear {
				go func() {
					time.Sleep(10 * time.Millisecond)
					os.MkdirAll(filepath.Join(sess, "5:0:0:1/block/sda/sda1"), 0o755)
					os.WriteFile(filepath.Join(sess, "5:0:0:1/block/sda/sda1/partition"), []byte("1\n"), 0o644)
					os.WriteFile(filepath.Join(dev, "sda"), nil, 0o644)
					os.WriteFile(filepath.Join(dev, "sda1"), nil, 0o644)
				}()
			}
			return nil
		}}
	return s, &writes
}

func testEnv(t *testing.T, k *fakeKernel, f *fakeTarget, sys sysfs, dialErr map[string]bool) env {
	return env{
		connect: func() (kernel, error) { return k, nil },
		dial: func(ctx context.Context, addr string) (net.Conn, error) {
			if dialErr[addr] {
				return nil, errors.New("connection refused")
			}
			k.conn = f.pipe(t)
			return k.conn, nil
		},
		discover: func(ctx context.Context, portal string, p Params) ([]Target, error) {
			var ts []Target
			for _, n := range f.targets {
				ts = append(ts, Target{Name: n, Portal: portal})
			}
			return ts, nil
		},
		sys: sys,
	}
}

func TestKernelLogin(t *testing.T) {
	for _, tt := range []struct {
		name   string
		p      Params
		f      fakeTarget
		dialKO map[string]bool
	}{
		{"target name", Params{Initiator: tInit, TargetName: tName, Portals: []string{"10.0.2.100"}, Port: 3260, LUN: -1}, fakeTarget{targets: []string{tName}}, nil},
		{"discovered, CHAP, second portal", Params{Initiator: tInit, Portals: []string{"10.0.2.99", "10.0.2.100:3261"}, Port: 3260, LUN: 1, ClientIP: "10.0.2.15",
			Username: "node", Password: secret}, fakeTarget{targets: []string{tName}, user: "node", pass: secret}, map[string]bool{"10.0.2.99:3260": true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKernel{t: t}
			sys, writes := fakeSys(t, true)
			f := tt.f
			var logs []string
			logf := func(format string, a ...any) { logs = append(logs, fmt.Sprintf(format, a...)) }
			s, err := testEnv(t, k, &f, sys, tt.dialKO).login(context.Background(), tt.p, logf)
			if err != nil {
				t.Fatalf("login: %v\ncalls %v", err, k.calls)
			}
			if s.Target != tName || s.SID != 1 || s.Host != 5 || strings.Join(s.Devices, " ") != "/dev/sda /dev/sda1" {
				t.Errorf("session %+v", s)
			}
			wantScan := "- - -"
			if tt.p.LUN >= 0 {
				wantScan = "- - 1"
			}
			if len(*writes) != 1 || (*writes)[0] != "/class/scsi_host/host5/scan="+wantScan {
				t.Errorf("sysfs writes %v (no scheduler, only this host's scan)", *writes)
			}
			if k.params[iscsinl.ISCSI_PARAM_TARGET_NAME] != tName || k.params[iscsinl.ISCSI_PARAM_MAX_XMIT_DLENGTH] != "8192" ||
				k.params[iscsinl.ISCSI_PARAM_HDRDGST_EN] != "0" || k.params[iscsinl.ISCSI_PARAM_EXP_STATSN] == "" {
				t.Errorf("params %v", k.params)
			}
			for _, c := range k.calls {
				if strings.HasPrefix(c, "destroy") {
					t.Errorf("teardown on success: %v", k.calls)
				}
			}
			for _, l := range logs {
				noSecrets(t, l)
			}
			t.Logf("logs: %v", logs)
		})
	}
}

func TestKernelLoginFailures(t *testing.T) {
	p := Params{Initiator: tInit, TargetName: tName, Portals: []string{"10.0.2.99", "10.0.2.100"}, Port: 3260, LUN: -1, Username: "node", Password: secret}

	t.Run("all portals fail", func(t *testing.T) {
		k := &fakeKernel{t: t}
		sys, _ := fakeSys(t, true)
		f := fakeTarget{targets: []string{tName}, user: "node", pass: "another-password"}
		_, err := testEnv(t, k, &f, sys, map[string]bool{"10.0.2.99:3260": true}).login(context.Background(), p, nil)
		if err == nil {
			t.Fatal("login succeeded")
		}
		for _, want := range []string{"portal 10.0.2.99: connecting to 10.0.2.99:3260: connection refused", "portal 10.0.2.100: authentication failed for target " + tName, "check ISCSI_USERNAME/ISCSI_PASSWORD"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		noSecrets(t, err.Error())
		// The init must not retry a wrong secret forever: the CHAP
		// failure of one portal shows through Login's error.
		if !IsAuthFailure(err) {
			t.Errorf("IsAuthFailure(%v) = false", err)
		}
		if !strings.Contains(strings.Join(k.calls, " "), "destroy-conn destroy-session") {
			t.Errorf("no teardown: %v", k.calls)
		}
	})

	t.Run("no devices", func(t *testing.T) {
		k := &fakeKernel{t: t}
		sys, _ := fakeSys(t, false)
		f := fakeTarget{targets: []string{tName}, user: "node", pass: secret}
		q := p
		q.Portals = q.Portals[1:]
		_, err := testEnv(t, k, &f, sys, nil).login(context.Background(), q, nil)
		if err == nil || !strings.Contains(err.Error(), "no block device for any LUN of iscsi session 1 (SCSI host 5)") || !strings.Contains(err.Error(), "SCSI devices seen: 5:0:0:0") {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(strings.Join(k.calls, " "), "start stop destroy-conn destroy-session") {
			t.Errorf("no teardown: %v", k.calls)
		}
	})

	t.Run("set param fails", func(t *testing.T) {
		k := &fakeKernel{t: t, failOn: fmt.Sprintf("set-param-%d", iscsinl.ISCSI_PARAM_TARGET_NAME)}
		sys, _ := fakeSys(t, true)
		f := fakeTarget{targets: []string{tName}, user: "node", pass: secret}
		q := p
		q.Portals = q.Portals[1:]
		if _, err := testEnv(t, k, &f, sys, nil).login(context.Background(), q, nil); err == nil || !strings.Contains(err.Error(), "setting kernel iscsi parameter") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("bad params", func(t *testing.T) {
		e := env{connect: func() (kernel, error) { t.Fatal("connect called"); return nil, nil }}
		if _, err := e.login(context.Background(), Params{Portals: []string{"x"}}, nil); err == nil || !strings.Contains(err.Error(), "ISCSI_INITIATOR") {
			t.Errorf("err = %v", err)
		}
		if _, err := e.login(context.Background(), Params{Initiator: tInit}, nil); err == nil || !strings.Contains(err.Error(), "ISCSI_TARGET_IP") {
			t.Errorf("err = %v", err)
		}
	})
}

// ISCSI_TARGET_GROUP: the address discovery found in that portal group is
// tried first; a target in another group fails the login, torn down.
func TestKernelLoginPortalGroup(t *testing.T) {
	const advertised = "10.0.2.200:3260"
	run := func(t *testing.T, p Params, f *fakeTarget) (*fakeKernel, []string, error) {
		k := &fakeKernel{t: t}
		sys, _ := fakeSys(t, true)
		e := testEnv(t, k, f, sys, nil)
		var dialed []string
		dial := e.dial
		e.dial = func(ctx context.Context, addr string) (net.Conn, error) {
			dialed = append(dialed, addr)
			return dial(ctx, addr)
		}
		e.discover = func(ctx context.Context, portal string, p Params) ([]Target, error) {
			return []Target{{Name: tName, Portal: advertised}}, nil
		}
		_, err := e.login(context.Background(), p, nil)
		return k, dialed, err
	}
	p := Params{Initiator: tInit, Portals: []string{"10.0.2.100"}, Port: 3260, LUN: -1, ClientIP: "10.0.2.15"}
	for _, tt := range []struct {
		group string
		first string
	}{
		{"", "10.0.2.100:3260"}, // unchanged: the discovery portal first
		{"1", advertised},
	} {
		t.Run("group "+tt.group, func(t *testing.T) {
			q := p
			q.Group = tt.group
			_, dialed, err := run(t, q, &fakeTarget{targets: []string{tName}})
			if err != nil || len(dialed) != 1 || dialed[0] != tt.first {
				t.Fatalf("login: %v; dialed %v, want %s only", err, dialed, tt.first)
			}
		})
	}
	t.Run("mismatch", func(t *testing.T) {
		q := p
		q.TargetName, q.Group = tName, "2"
		k, _, err := run(t, q, &fakeTarget{targets: []string{tName}})
		var pe *PortalGroupError
		if !errors.As(err, &pe) || pe.Want != 2 || pe.Got != 1 || !strings.Contains(err.Error(), "portal 10.0.2.100: iscsi login to target "+tName) {
			t.Fatalf("err = %v, want a *PortalGroupError naming the portal", err)
		}
		if !strings.Contains(strings.Join(k.calls, " "), "destroy-conn destroy-session") {
			t.Errorf("no teardown: %v", k.calls)
		}
	})
}
