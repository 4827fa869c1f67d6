package qemu

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLabTeardown checks that a lab leaves no namespace and no process.
func TestLabTeardown(t *testing.T) {
	Require(t)
	root := t.TempDir()
	if err := TestRoot(root); err != nil {
		t.Fatal(err)
	}
	var ns string
	var pids []int
	t.Run("lab", func(t *testing.T) {
		lab := StartLab(t, LabOptions{RootDir: root, Taps: 3, Tgtd: true})
		ns = lab.NS
		for _, d := range lab.Daemons() {
			pids = append(pids, d.PID())
		}
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
		img := filepath.Join(t.TempDir(), "rw.img")
		if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"--op", "new", "--mode", "target", "--tid", "1", "-T", "iqn.2013-04.zone.sidus.target:default"},
			{"--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", img},
			{"--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"},
		} {
			if err := lab.Tgtadm(args...); err != nil {
				t.Fatal(err)
			}
		}
		out, err = lab.Exec(context.Background(), "tgtadm", "--lld", "iscsi", "--op", "show", "--mode", "target")
		if err != nil || !bytes.Contains(out, []byte("LUN: 1")) {
			t.Errorf("tgtadm show: %v\n%s", err, out)
		}
	})
	if len(pids) != 4 {
		t.Errorf("lab started %d daemons, want 4 (tgtd rpcbind ganesha dnsmasq)", len(pids))
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("pid %d still alive after teardown", pid)
		}
	}
	if _, err := os.Stat("/run/netns/" + ns); err == nil {
		t.Errorf("namespace %s still exists", ns)
	}
}

// TestLabNFSStartDelay: ganesha comes up only after NFSStartDelay.
func TestLabNFSStartDelay(t *testing.T) {
	Require(t)
	root := t.TempDir()
	if err := TestRoot(root); err != nil {
		t.Fatal(err)
	}
	// The clock starts once the lab is up: StartLab may first wait for
	// another lab to end.
	lab := StartLab(t, LabOptions{RootDir: root, NFSStartDelay: 2 * time.Second, NoDHCP: true})
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
	Require(t)
	var buf bytes.Buffer
	p := NewProcess(&buf)
	lab, err := StartLabProcess(p, LabOptions{NoNFS: true})
	if err != nil {
		t.Fatal(err)
	}
	pid := lab.Daemons()[0].PID()
	p.Close()
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("dnsmasq (pid %d) alive after Close", pid)
	}
	if _, err := os.Stat("/run/netns/" + lab.NS); err == nil {
		t.Errorf("namespace %s still exists", lab.NS)
	}
	if !strings.Contains(buf.String(), "torn down") {
		t.Errorf("log:\n%s", buf.String())
	}
}
