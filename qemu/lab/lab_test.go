package lab

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/roots"
)

// busyboxRoot is a root to export, for the tests that need one.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := roots.Busybox(root); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestLabTeardown checks that a lab leaves no namespace and no process.
func TestLabTeardown(t *testing.T) {
	qemu.Require(t)
	root := busyboxRoot(t)
	var ns string
	var pids []int
	var holder int
	t.Run("lab", func(t *testing.T) {
		lab := Start(t, Options{RootDir: root, Taps: 3, Tgtd: true})
		ns = lab.NS
		for _, d := range lab.Daemons() {
			pids = append(pids, d.PID())
		}
		holder = lab.HolderPID()
		out, err := lab.Exec(context.Background(), "ip", "-br", "link")
		if err != nil {
			t.Fatal(err)
		}
		for _, tap := range []string{"tap0", "tap1", "tap2", Bridge} {
			if !strings.Contains(string(out), tap) {
				t.Errorf("no %s in the namespace:\n%s", tap, out)
			}
		}
		// tgtd: a target with one LUN on a file.
		addTarget(t, lab, 1, "iqn.2013-04.zone.sidus.target:default")
		out, err = lab.Exec(context.Background(), "tgtadm", "--lld", "iscsi", "--op", "show", "--mode", "target")
		if err != nil || !bytes.Contains(out, []byte("LUN: 1")) {
			t.Errorf("tgtadm show: %v\n%s", err, out)
		}
	})
	if len(pids) != 4 {
		t.Errorf("lab started %d daemons, want 4 (tgtd rpcbind ganesha dnsmasq)", len(pids))
	}
	for _, pid := range append(pids, holder) {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("pid %d still alive after teardown", pid)
		}
	}
	if _, err := os.Stat("/run/netns/" + ns); err == nil {
		t.Errorf("namespace %s still exists", ns)
	}
}

// addTarget adds target tid, named iqn, with a 1 MiB LUN.
func addTarget(t *testing.T, lab *Lab, tid int, iqn string) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "rw.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := lab.AddISCSITarget(ISCSITarget{TID: tid, Name: iqn, Image: img}); err != nil {
		t.Fatal(err)
	}
}

// TestLabNFSStartDelay: ganesha comes up only after NFSStartDelay.
func TestLabNFSStartDelay(t *testing.T) {
	qemu.Require(t)
	root := busyboxRoot(t)
	lab := Start(t, Options{RootDir: root, NFSStartDelay: 2 * time.Second, NoDHCP: true})
	start := time.Now()
	ctx := context.Background()
	if _, err := lab.Exec(ctx, "rpcinfo", "-t", lab.ServerIP, "nfs", "4"); err == nil {
		t.Fatalf("NFS answers at once, despite NFSStartDelay")
	}
	for {
		if _, err := lab.Exec(ctx, "rpcinfo", "-t", lab.ServerIP, "nfs", "4"); err == nil {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatal("NFS never came up")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("NFS up %v after the lab, too soon for a 2s delay", d)
	}
	t.Logf("NFS up after %v", time.Since(start))
}

// TestLabProcess: the non-testing variant tears down at Close.
func TestLabProcess(t *testing.T) {
	qemu.Require(t)
	var buf bytes.Buffer
	p := qemu.NewProcess(&buf)
	lab, err := StartProcess(p, Options{NoNFS: true})
	if err != nil {
		t.Fatal(err)
	}
	pid, holder := lab.Daemons()[0].PID(), lab.HolderPID()
	p.Close()
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("dnsmasq (pid %d) alive after Close", pid)
	}
	if syscall.Kill(holder, 0) == nil {
		t.Errorf("the namespace holder (pid %d) is alive after Close", holder)
	}
	if _, err := os.Stat("/run/netns/" + lab.NS); err == nil {
		t.Errorf("namespace %s still exists", lab.NS)
	}
	if !strings.Contains(buf.String(), "torn down") {
		t.Errorf("log:\n%s", buf.String())
	}
}

// checkServes checks that the lab's NFS server answers NFSv3, NFSv4 and
// mountd v3, and that dnsmasq listens on :67.
func checkServes(t *testing.T, lab *Lab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, v := range []string{"3", "4"} {
		out, err := lab.Exec(ctx, "rpcinfo", "-t", lab.ServerIP, "nfs", v)
		if err != nil {
			t.Errorf("%s: NFSv%s does not answer: %v", lab.NS, v, err)
		} else {
			t.Logf("%s: rpcinfo nfs %s: %s", lab.NS, v, strings.TrimSpace(string(out)))
		}
	}
	if out, err := lab.Exec(ctx, "rpcinfo", "-t", lab.ServerIP, "mountd", "3"); err != nil {
		t.Errorf("%s: mountd v3 does not answer: %v", lab.NS, err)
	} else {
		t.Logf("%s: rpcinfo mountd 3: %s", lab.NS, strings.TrimSpace(string(out)))
	}
	if lab.Opts.NoDHCP {
		return
	}
	out, err := lab.Exec(ctx, "ss", "-lnup")
	if err != nil || !strings.Contains(string(out), "dnsmasq") || !strings.Contains(string(out), ":67") {
		t.Errorf("%s: dnsmasq is not listening on :67: %v\n%s", lab.NS, err, out)
	}
}

// TestLabServes: the servers a node boots from answer (the lab half of
// e2e's TestLabSmoke).
func TestLabServes(t *testing.T) {
	qemu.Require(t)
	root := busyboxRoot(t)
	start := time.Now()
	lab := Start(t, Options{RootDir: root, RootPath: DefaultServerIP + ":" + NFSPseudo})
	t.Logf("lab up in %v", time.Since(start))
	checkServes(t, lab)
}

func TestGaneshaConfig(t *testing.T) {
	c := GaneshaConfig("192.168.77.1", `/srv/a "b"`, "/tmp/state", 0)
	for _, want := range []string{
		"\tBind_addr = 192.168.77.1;\n",
		"\tRecoveryRoot = \"/tmp/state/recovery\";\n",
		"\tPath = \"/srv/a \\\"b\\\"\";\n",
		"\tPseudo = \"/srv/nfsroot/sidus\";\n",
		"\tAccess_Type = RO;\n",
		"\tGraceless = true;\n",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("ganesha.conf has no line %q:\n%s", want, c)
		}
	}
	g := GaneshaConfig("192.168.77.1", "/srv/x", "/tmp/state", 20)
	for _, want := range []string{"\tGraceless = false;\n", "\tGrace_Period = 20;\n", "\tLease_Lifetime = 20;\n"} {
		if !strings.Contains(g, want) || strings.Contains(g, "Graceless = true") {
			t.Errorf("ganesha.conf with a grace period has no line %q:\n%s", want, g)
		}
	}
}
