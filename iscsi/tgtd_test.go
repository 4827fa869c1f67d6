package iscsi

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tgtd runs a real user-space iSCSI target (tgt) on 127.0.0.1 with a
// random port, for testing the login state machine and discovery over TCP
// without kernel sessions. It skips unless tgtd is installed and we are root.
type tgtd struct {
	t      *testing.T
	portal string
	ctl    string
}

func startTgtd(t *testing.T) *tgtd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("tgtd test needs root")
	}
	bin, err := exec.LookPath("tgtd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/tgtd"); err != nil {
			t.Skip("tgtd not installed (apt-get install tgt)")
		}
	}
	if _, err := exec.LookPath("tgtadm"); err != nil {
		if _, err := os.Stat("/usr/sbin/tgtadm"); err != nil {
			t.Skip("tgtadm not installed")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	g := &tgtd{t: t, portal: "127.0.0.1:" + strconv.Itoa(port), ctl: strconv.Itoa(1000 + port%30000)}
	var log bytes.Buffer
	cmd := exec.Command(bin, "-f", "-C", g.ctl, "--iscsi", "portal="+g.portal)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting tgtd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // by PID: only the tgtd we started
		cmd.Wait()
		if t.Failed() {
			t.Logf("tgtd log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := g.try("--op", "show", "--mode", "target"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tgtd did not become ready; log:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return g
}

func (g *tgtd) try(args ...string) (string, error) {
	out, err := exec.Command("tgtadm", append([]string{"-C", g.ctl, "--lld", "iscsi"}, args...)...).CombinedOutput()
	return string(out), err
}

func (g *tgtd) adm(args ...string) {
	g.t.Helper()
	if out, err := g.try(args...); err != nil {
		g.t.Fatalf("tgtadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (g *tgtd) target(tid int, name string) {
	g.t.Helper()
	img := filepath.Join(g.t.TempDir(), "lun.img")
	if err := os.WriteFile(img, make([]byte, 4<<20), 0o644); err != nil {
		g.t.Fatal(err)
	}
	id := strconv.Itoa(tid)
	g.adm("--op", "new", "--mode", "target", "--tid", id, "-T", name)
	g.adm("--op", "new", "--mode", "logicalunit", "--tid", id, "--lun", "1", "-b", img)
	g.adm("--op", "bind", "--mode", "target", "--tid", id, "-I", "ALL")
}

// userLogin logs in to target over TCP in user space (no kernel), then logs out.
func userLogin(t *testing.T, portal, target string, p Params) (*LoginResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dialFunc(ctx, portal)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tr := NewStreamTransport(conn)
	res, err := LoginOver(tr, LoginOptions{
		Initiator: p.Initiator, TargetName: target, Portal: portal, ISID: isidFor(42), PortalGroup: p.Group,
		Username: p.Username, Password: p.Password, InUsername: p.InUsername, InPassword: p.InPassword,
		Logf: t.Logf,
	})
	if err == nil {
		logout(tr, res)
	}
	return res, err
}

func TestTgtd(t *testing.T) {
	g := startTgtd(t)
	other := "iqn.2013-04.zone.sidus.target:10.0.2.150"
	g.target(1, tName)
	g.target(2, other)
	base := Params{Initiator: tInit, Port: DefaultPort, LUN: -1}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("None", func(t *testing.T) {
		ts, err := Discover(ctx, g.portal, base)
		if err != nil {
			t.Fatalf("Discover: %v", err)
		}
		t.Logf("targets: %v", ts)
		sel, err := SelectTarget(ts, "10.0.2.15")
		if err != nil || sel.Name != tName || sel.Portal != g.portal {
			t.Fatalf("SelectTarget(%v) = %v, %v", ts, sel, err)
		}
		res, err := userLogin(t, g.portal, tName, base)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if res.Auth != "None" || res.TSIH == 0 {
			t.Errorf("result %+v", res)
		}
		t.Logf("negotiated: %+v", res.Params)
		if _, err := userLogin(t, g.portal, "iqn.2013-04.zone.sidus.target:nope", base); err == nil || !strings.Contains(err.Error(), "target not found") {
			t.Errorf("login to missing target: %v", err)
		}
	})

	// tgtd puts its portals in portal group 1.
	t.Run("PortalGroup", func(t *testing.T) {
		in1 := base
		in1.Group = "1"
		if ts, err := Discover(ctx, g.portal, in1); err != nil || len(ts) != 2 || ts[0].Portal != g.portal {
			t.Errorf("Discover in group 1: %v, %v", ts, err)
		}
		if res, err := userLogin(t, g.portal, tName, in1); err != nil || res.TPGT != 1 {
			t.Errorf("login in group 1: %+v, %v", res, err)
		}
		in2 := base
		in2.Group = "2"
		var pe *PortalGroupError
		if _, err := userLogin(t, g.portal, tName, in2); !errors.As(err, &pe) || pe.Got != 1 {
			t.Errorf("login in group 2: %v, want a *PortalGroupError", err)
		} else {
			t.Logf("group 2: %v", err)
		}
	})

	withCHAP := base
	withCHAP.Username, withCHAP.Password = "node", secret
	t.Run("CHAP", func(t *testing.T) {
		g.adm("--op", "new", "--mode", "account", "--user", "node", "--password", secret)
		g.adm("--op", "bind", "--mode", "account", "--tid", "1", "--user", "node")
		res, err := userLogin(t, g.portal, tName, withCHAP)
		if err != nil {
			t.Fatalf("CHAP login: %v", err)
		}
		if res.Auth != "CHAP" {
			t.Errorf("auth %q", res.Auth)
		}
		wrong := withCHAP
		wrong.Password = "other-password"
		_, err = userLogin(t, g.portal, tName, wrong)
		if !IsAuthFailure(err) || !strings.Contains(err.Error(), "check ISCSI_USERNAME/ISCSI_PASSWORD") {
			t.Errorf("wrong password: %v", err)
		} else {
			t.Logf("wrong password: %v", err)
		}
		noSecrets(t, err.Error())
		if _, err := userLogin(t, g.portal, tName, base); err == nil {
			t.Error("login without CHAP succeeded on a CHAP target")
		} else {
			t.Logf("no credentials: %v", err)
		}
		// Discovery still works with credentials configured.
		if ts, err := Discover(ctx, g.portal, withCHAP); err != nil || len(ts) != 2 {
			t.Errorf("Discover with CHAP: %v, %v", ts, err)
		}
	})

	t.Run("MutualCHAP", func(t *testing.T) {
		g.adm("--op", "new", "--mode", "account", "--user", "tgt", "--password", inSec)
		g.adm("--op", "bind", "--mode", "account", "--tid", "1", "--user", "tgt", "--outgoing")
		mutual := withCHAP
		mutual.InUsername, mutual.InPassword = "tgt", inSec
		res, err := userLogin(t, g.portal, tName, mutual)
		if err != nil {
			t.Fatalf("mutual CHAP login: %v", err)
		}
		if res.Auth != "CHAP (mutual)" {
			t.Errorf("auth %q", res.Auth)
		}
		bad := mutual
		bad.InPassword = "wrong-secret-xx"
		_, err = userLogin(t, g.portal, tName, bad)
		if err == nil || !strings.Contains(err.Error(), "ISCSI_IN_USERNAME/ISCSI_IN_PASSWORD") {
			t.Errorf("wrong target secret: %v", err)
		} else {
			t.Logf("wrong target secret: %v", err)
			noSecrets(t, err.Error())
		}
	})
}
