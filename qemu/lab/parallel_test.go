package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sidus-go/sidus/qemu"
)

const hostRpcbindSock = "/run/rpcbind.sock"

// hostRpcbind makes sure a rpcbind serves the host's /run/rpcbind.sock: if
// none does, it starts `rpcbind -f -w` on the host, killed by PID (and its
// files removed) when the test ends.
func hostRpcbind(t *testing.T) {
	t.Helper()
	if c, err := net.DialTimeout("unix", hostRpcbindSock, time.Second); err == nil {
		c.Close()
		t.Logf("a rpcbind already serves %s on this host", hostRpcbindSock)
		return
	}
	var made []string
	// Its socket and lock, and -w's state files, written at exit.
	for _, f := range []string{hostRpcbindSock, "/run/rpcbind.lock", "/run/rpcbind/rpcbind.xdr", "/run/rpcbind/portmap.xdr", "/run/rpcbind"} {
		if _, err := os.Lstat(f); os.IsNotExist(err) {
			made = append(made, f)
		}
	}
	cmd := exec.Command("rpcbind", "-f", "-w")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("host rpcbind: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		for _, f := range made {
			os.Remove(f)
		}
		t.Logf("host rpcbind (pid %d) stopped", cmd.Process.Pid)
	})
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("unix", hostRpcbindSock, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the host rpcbind (pid %d) does not serve %s", cmd.Process.Pid, hostRpcbindSock)
		}
	}
	t.Logf("started a host rpcbind (pid %d)", cmd.Process.Pid)
}

// hostRpcinfo lists what the host's rpcbind knows, through its socket.
func hostRpcinfo(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("rpcinfo", "-p", "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("host rpcinfo -p: %v\n%s", err, out)
	}
	return string(out)
}

// TestLabBesideHostRpcbind: a lab starts, and its ganesha serves, while
// the host runs a rpcbind of its own; the lab's daemons register with the
// lab's rpcbind (in the lab's /run), and the host's is left alone.
func TestLabBesideHostRpcbind(t *testing.T) {
	qemu.Require(t)
	hostRpcbind(t)
	before := hostRpcinfo(t)
	root := busyboxRoot(t)
	t.Run("lab", func(t *testing.T) {
		lab := Start(t, Options{RootDir: root, Tgtd: true})
		checkServes(t, lab)
		out, err := lab.Exec(context.Background(), "rpcinfo", "-p", "127.0.0.1")
		if err != nil || !strings.Contains(string(out), "nfs") {
			t.Errorf("the lab's rpcbind does not list nfs: %v\n%s", err, out)
		}
		if s := hostRpcinfo(t); strings.Contains(s, "nfs") || strings.Contains(s, "mountd") {
			t.Errorf("the lab's ganesha registered with the host's rpcbind:\n%s", s)
		}
		// The lab's /run is its own: its rpcbind and tgtd sockets are
		// there, and the host's socket is not.
		ino := func(out []byte) string { return strings.TrimSpace(string(out)) }
		hostIno, err := exec.Command("stat", "-c", "%i", hostRpcbindSock).Output()
		if err != nil {
			t.Fatal(err)
		}
		labIno, err := lab.Exec(context.Background(), "stat", "-c", "%i", hostRpcbindSock)
		if err != nil {
			t.Fatal(err)
		}
		if ino(hostIno) == ino(labIno) {
			t.Errorf("the lab sees the host's %s (inode %s)", hostRpcbindSock, ino(hostIno))
		}
		if _, err := lab.Exec(context.Background(), "test", "-S", "/var/run/tgtd/socket.0"); err != nil {
			t.Errorf("no tgtd socket in the lab's /var/run: %v", err)
		}
		if _, err := os.Stat("/run/tgtd/socket.0"); err == nil {
			t.Logf("note: the host has a /run/tgtd/socket.0 of its own")
		}
	})
	// The host's rpcbind still serves, with what it had.
	if after := hostRpcinfo(t); after != before {
		t.Errorf("the host's rpcbind changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestTwoLabs: two labs start at once and run side by side, each with
// its own namespaces, servers and iSCSI targets; both are torn down.
func TestTwoLabs(t *testing.T) {
	qemu.Require(t)
	root := busyboxRoot(t)
	var nss []string
	var pids []int
	t.Run("labs", func(t *testing.T) {
		labs := make([]*Lab, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range labs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				labs[i], errs[i] = New(t, Options{RootDir: root, RootPath: NFSPseudo, Tgtd: true})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("two labs up in %v", time.Since(start))
		if labs[0].NS == labs[1].NS {
			t.Fatalf("both labs are in namespace %s", labs[0].NS)
		}
		for i, lab := range labs {
			nss = append(nss, lab.NS)
			pids = append(pids, lab.HolderPID())
			for _, d := range lab.Daemons() {
				pids = append(pids, d.PID())
			}
			checkServes(t, lab)
			addTarget(t, lab, 1, "iqn.2013-04.zone.sidus.target:lab"+string(rune('a'+i)))
		}
		// Each tgtd has its own target only.
		for i, lab := range labs {
			out, err := lab.ShowISCSITargets()
			if err != nil {
				t.Fatal(err)
			}
			own, other := "target:lab"+string(rune('a'+i)), "target:lab"+string(rune('b'-i))
			if !strings.Contains(out, own) || strings.Contains(out, other) {
				t.Errorf("%s: tgtd shows\n%s\nwant %s and not %s", lab.NS, out, own, other)
			}
		}
	})
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("pid %d still alive after teardown", pid)
		}
	}
	for _, ns := range nss {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s still exists", ns)
		}
	}
}

// TestLabStaleSlot: a namespace left in a free slot (its lab's process
// died without teardown) is removed by the next lab in that slot.
func TestLabStaleSlot(t *testing.T) {
	qemu.Require(t)
	// A slot space of the test's own: no other lab's namespace is touched.
	oldDir, oldPrefix := slotDir, nsPrefix
	slotDir, nsPrefix = t.TempDir(), fmt.Sprintf("sidus-labtest-%d-", os.Getpid())
	t.Cleanup(func() { slotDir, nsPrefix = oldDir, oldPrefix })
	stale := nsPrefix + "0"
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", stale, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", stale).Run() })
	var ns string
	t.Run("lab", func(t *testing.T) {
		lab := Start(t, Options{NoNFS: true})
		ns = lab.NS
		if ns != stale {
			t.Errorf("the lab took namespace %s, want the stale slot's %s", ns, stale)
		}
	})
	if _, err := os.Stat("/run/netns/" + ns); err == nil {
		t.Errorf("namespace %s still exists", ns)
	}
}
