package tree

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/server/runner"
	"golang.org/x/sys/unix"
)

// busyboxTree makes a tiny tree from the host's static busybox.
func busyboxTree(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount namespaces, chroot)")
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("no static busybox (apt-get install busybox-static): %v", err)
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "usr/sbin", "tmp", "var/lib"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"sh", "sleep", "test", "cat", "grep", "echo", "false", "ls"} {
		os.Symlink("busybox", filepath.Join(root, "bin", app))
	}
	return root
}

// TestRunRealTree runs commands in a busybox tree: the command sees
// /proc and policy-rc.d, a background process it starts is killed
// afterwards, no mount of the tree is left, the generation is bumped, also
// when the command fails.
func TestRunRealTree(t *testing.T) {
	root := busyboxTree(t)
	var log, out bytes.Buffer
	script := `test -r /proc/self/stat || { echo no proc; exit 3; }
test -x /usr/sbin/policy-rc.d || { echo no policy; exit 4; }
test -c /dev/null || { echo no dev; exit 5; }
test -d /dev/pts || { echo no pts; exit 6; }
grep -q ' /run ' /proc/self/mountinfo || { echo no run; exit 7; }
sleep 300 &
echo $! > /tmp/bg.pid
echo ok`
	o := RunOptions{Runner: &runner.Exec{}, Stdout: &out, Stderr: &out, Log: &log,
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	res, err := Run(context.Background(), root, [][]string{{"sh", "-c", script}}, o)
	if err != nil {
		t.Fatalf("Run: %v\noutput: %s\nlog: %s", err, out.String(), log.String())
	}
	if strings.TrimSpace(out.String()) != "ok" {
		t.Errorf("output = %q", out.String())
	}
	if res.Generation != 1 {
		t.Errorf("generation = %d, want 1", res.Generation)
	}
	b, _ := os.ReadFile(filepath.Join(root, "tmp/bg.pid"))
	bg := strings.TrimSpace(string(b))
	if bg == "" {
		t.Fatal("no background pid recorded")
	}
	if !containsPID(res.Killed, bg) {
		t.Errorf("killed %v, want the background sleep %s among them", res.Killed, bg)
	}
	if _, err := os.Stat("/proc/" + bg + "/root"); err == nil {
		if st, _ := os.ReadFile("/proc/" + bg + "/stat"); !strings.Contains(string(st), ") Z ") {
			t.Errorf("background process %s still alive", bg)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, PolicyRCD)); err == nil {
		t.Error("policy-rc.d left in the tree")
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), root) {
		t.Errorf("mounts of the tree left in /proc/self/mountinfo:\n%s", mi)
	}

	// A failing command still bumps, and an admin's own policy-rc.d comes back.
	own := "#!/bin/sh\nexit 0\n"
	os.WriteFile(filepath.Join(root, PolicyRCD), []byte(own), 0o755)
	res, err = Run(context.Background(), root, [][]string{{"false"}, {"echo", "not reached"}}, o)
	if err == nil {
		t.Fatal("Run(false) succeeded")
	}
	if res.Generation != 2 {
		t.Errorf("generation after failure = %d, want 2", res.Generation)
	}
	if b, _ := os.ReadFile(filepath.Join(root, PolicyRCD)); string(b) != own {
		t.Errorf("own policy-rc.d = %q, want it restored", b)
	}
	if n, _, _ := ReadGeneration(root); n != 2 {
		t.Errorf("ReadGeneration = %d", n)
	}
}

// TestRunInterrupted: cancelling (Ctrl-C) stops the command; cleanup runs.
func TestRunInterrupted(t *testing.T) {
	root := busyboxTree(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res, err := Run(ctx, root, [][]string{{"sh", "-c", "sleep 200 & sleep 100"}}, RunOptions{Runner: &runner.Exec{}})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("err = %v, want interrupted", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
	if res.Generation != 1 {
		t.Errorf("generation = %d", res.Generation)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), root) {
		t.Error("mounts left")
	}
	var st unix.Stat_t
	unix.Stat(root, &st)
	if pids := procsWithRoot(root, st.Dev, st.Ino, os.Getpid()); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
}

func containsPID(pids []int, s string) bool {
	for _, p := range pids {
		if strconv.Itoa(p) == s {
			return true
		}
	}
	return false
}
