package e2e

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/pxe"
	"github.com/sidus-go/sidus/qemu/roots"
	"github.com/sidus-go/sidus/qemu/vm"
	"golang.org/x/sys/unix"
)

// liveRootInit is the live-tree test root's /sbin/init: a probe that
// re-reads each path every second ("SIDUS-LIVE: NAME VALUE" on change),
// the NFS calls at rest, and a slow reader of a big file.
//
//go:embed testdata/live-root-init.sh
var liveRootInit string

// liveBound is the test's sidus.live=: the bound within which a node sees
// a change of the tree without the help of a stamp.
const liveBound = 10

// liveTree is the busybox test root with the files the probe reads,
// under usr/lib/sidus-live (shared from the tree) and etc/sidus-live (in
// the union), and returns the checksum of its big file.
func liveTree(t *testing.T, dir string) string {
	t.Helper()
	if err := roots.Busybox(dir); err != nil {
		t.Fatal(err)
	}
	sbin := filepath.Join(dir, "sbin")
	if err := os.Rename(filepath.Join(sbin, "init"), filepath.Join(sbin, "init.sidus-test")); err != nil {
		t.Fatal(err)
	}
	write := func(rel, data string, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("sbin/init", liveRootInit, 0o755)
	L := "usr/lib/sidus-live/"
	for _, f := range []string{"renamed", "inplace", "gone", "gonedir/x", "tree/a/b"} {
		write(L+f, "v1\n", 0o644)
	}
	write(L+"t1", "t1\n", 0o644)
	write(L+"t1b", "t1b\n", 0o644)
	write(L+"known/other", "x\n", 0o644)
	for link, target := range map[string]string{"link": "t1", "link2": "t1b"} {
		if err := os.Symlink(target, filepath.Join(dir, L+link)); err != nil {
			t.Fatal(err)
		}
	}
	// The stamp exists from the start, as sidus tree create makes it: a
	// node would cache the absence of a new one for a while.
	write("var/lib/sidus/generation", "0 2026-12-01T00:00:00Z\n", 0o644)
	write("etc/sidus-live/conf", "v1\n", 0o644)
	write("etc/sidus-live/mine", "tree-v1\n", 0o644)
	bb, err := os.ReadFile(roots.BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	write("usr/sbin/busybox-daemon", string(bb), 0o755)
	big := make([]byte, 48<<20)
	r := rand.NewChaCha8([32]byte{'s', 'i', 'd', 'u', 's'})
	r.Read(big)
	write(L+"big", string(big), 0o644)
	sum := sha256.Sum256(big)
	return hex.EncodeToString(sum[:])
}

// replace writes data to a new file and renames it over rel, as dpkg
// installs a file.
func replace(t *testing.T, dir, rel, data string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, rel)
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".dpkg-new")
	if err := os.WriteFile(tmp, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

// seen waits up to timeout for a console line matching re that came at
// or after since, and returns how long after since it came.
func seen(vm *vm.VM, re string, since time.Time, timeout time.Duration) (time.Duration, bool) {
	x := regexp.MustCompile(re)
	for {
		if at, _, ok := vm.Find(x, since); ok {
			return at.Sub(since), true
		}
		if time.Since(since) > timeout {
			return 0, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// liveValues returns the values the probe printed for name, in order.
func liveValues(vm *vm.VM, name string) []string {
	x := regexp.MustCompile(`SIDUS-LIVE: ` + name + ` (.*) uptime=`)
	var vals []string
	for _, l := range vm.Lines() {
		if m := x.FindStringSubmatch(l); m != nil {
			vals = append(vals, m[1])
		}
	}
	return vals
}

// TestLiveTree changes the shared tree on the server, dpkg-style, while
// two nodes run (NFSv4.2 and NFSv3, tmpfs upper), then SIGKILLs ganesha
// (grace period and recovery state on) and starts it again 20 s later.
func TestLiveTree(t *testing.T) {
	setup(t)
	// The failures again, last in the log (after the consoles and the
	// lab's teardown), where CI's tail of the output shows them.
	var failures []string
	fail := func(format string, a ...any) {
		t.Helper()
		failures = append(failures, fmt.Sprintf(format, a...))
		t.Errorf(format, a...)
	}
	t.Cleanup(func() {
		if len(failures) > 0 {
			t.Logf("TestLiveTree failed:\n- %s", strings.Join(failures, "\n- "))
		}
	})
	dir := filepath.Join(t.TempDir(), "root")
	sum := liveTree(t, dir)
	lab := lab.Start(t, lab.Options{RootDir: dir, RootPath: lab.NFSPseudo, Taps: 3, NFSGrace: 20 * time.Second})
	extra := fmt.Sprintf(" sidus.live=%d sidus.test=hold panic=-1", liveBound)
	a := bootNode(t, lab, 0, pxe.SerialConsole(cmdline.SeedTmpfs)+extra+" sidus.test.live=probe")
	b := bootNode(t, lab, 1, "console=ttyS0 "+pxe.SerialConsole("root=/dev/nfs nfsroot="+lab.ServerIP+":"+lab.NFSv3Path+",vers=3,tcp ip=dhcp aufs=tmpfs")+
		extra+" sidus.test.live=rest sidus.test.rest=60")
	// Node 3 has the seed's single union over the whole tree, to show
	// what the shared directories avoid.
	c := bootNode(t, lab, 2, pxe.SerialConsole(cmdline.SeedTmpfs)+extra+" sidus.shared=none sidus.test.live=probe")
	for _, n := range []*vm.VM{a, b} {
		if _, err := n.ExpectAll(bootTimeout, `sidus: shared from the tree, read-only: /usr, /bin, /sbin \(sidus.shared; changes of the tree seen within 10 s, or 5 s after`,
			`sidus: node agent started`, `SIDUS-ROOT: hold`); err != nil {
			return
		}
	}
	for _, n := range []*vm.VM{a, c} {
		if _, err := n.Expect(`SIDUS-LIVE: probe ready`, bootTimeout); err != nil {
			return
		}
	}
	if matchLine(c, `sidus: shared from the tree`) {
		fail("node 3 (sidus.shared=none) shared directories")
	}
	for _, want := range []string{"renamed v1", "inplace v1", "tree v1", "link t1=t1", "conf v1", "mine node-own", "daemon daemon-v1", "alive yes"} {
		if !matchLine(a, `SIDUS-LIVE: `+regexp.QuoteMeta(want)+` uptime=`) {
			fail("the probe did not start with %q", want)
		}
	}
	L := "usr/lib/sidus-live/"
	p := func(rel string) string { return filepath.Join(dir, rel) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	type change struct{ name, re string }
	// check waits for each change: the node must see it, and within the
	// promised bound (sidus.live=, or the stamp's poll); a later sighting
	// is logged, not failed (TCG under load is no clock to hold a node
	// to), and the times go to the report.
	check := func(phase string, at time.Time, bound time.Duration, changes []change) {
		t.Helper()
		var took, late []string
		for _, c := range changes {
			d, ok := seen(a, `SIDUS-LIVE: `+c.name+` `+c.re+` uptime=`, at, 3*bound+time.Minute)
			if !ok {
				fail("%s: the node did not see %s change to %q within %v (values %q)", phase, c.name, c.re, 3*bound+time.Minute, liveValues(a, c.name))
				continue
			}
			took = append(took, fmt.Sprintf("%s %.1fs", c.name, d.Seconds()))
			if d > bound+5*time.Second {
				late = append(late, c.name)
			}
		}
		t.Logf("%s: seen after %s", phase, strings.Join(took, ", "))
		if len(late) > 0 {
			t.Logf("%s: seen later than the bound %v (+5 s for the probe's round): %s", phase, bound, strings.Join(late, ", "))
		}
	}

	// Phase 1, no stamp: each dpkg-style change under /usr (shared).
	t1 := time.Now()
	replace(t, dir, L+"renamed", "v2\n", 0o644)
	must(os.WriteFile(p(L+"inplace"), []byte("v2\n"), 0o644)) // same inode
	must(os.MkdirAll(p(L+"newdir"), 0o755))
	must(os.WriteFile(p(L+"newdir/new"), []byte("v2\n"), 0o644))
	must(os.Remove(p(L + "gone")))
	must(os.RemoveAll(p(L + "gonedir")))
	must(os.WriteFile(p(L+"t2"), []byte("t2\n"), 0o644))
	must(os.Symlink("t2", p(L+".link.new")))
	must(os.Rename(p(L+".link.new"), p(L+"link")))
	must(os.MkdirAll(p(L+"tree.new/a"), 0o755))
	must(os.WriteFile(p(L+"tree.new/a/b"), []byte("v2\n"), 0o644))
	must(unix.Renameat2(unix.AT_FDCWD, p(L+"tree.new"), unix.AT_FDCWD, p(L+"tree"), unix.RENAME_EXCHANGE)) // one atomic swap
	must(os.RemoveAll(p(L + "tree.new")))
	replace(t, dir, "usr/sbin/busybox-daemon", "#!/bin/sh\necho daemon-v2\n", 0o755)
	enoent := `cat: can't open '[^']*': No such file or directory`
	check("without a stamp", t1, liveBound*time.Second, []change{
		{"renamed", "v2"}, {"inplace", "v2"}, {"new", "v2"}, {"gone", enoent}, {"gonedir", enoent},
		{"link", "t2=t2"}, {"tree", "v2"}, {"daemon", "daemon-v2"}})

	// Phase 2, with the stamp: a new file in a directory the node had
	// looked in, a symlink, and in the union (/etc) a file replaced and
	// one the node had copied up.
	t2 := time.Now()
	must(os.WriteFile(p(L+"known/new2"), []byte("v2\n"), 0o644))
	must(os.WriteFile(p(L+"t2b"), []byte("t2b\n"), 0o644))
	must(os.Symlink("t2b", p(L+".link2.new")))
	must(os.Rename(p(L+".link2.new"), p(L+"link2")))
	replace(t, dir, "etc/sidus-live/conf", "v2\n", 0o644)
	replace(t, dir, "etc/sidus-live/mine", "tree-v2\n", 0o644)
	replace(t, dir, "var/lib/sidus/generation", "1 "+time.Now().UTC().Format(time.RFC3339)+"\n", 0o644)
	check("with the stamp", t2, 5*time.Second, []change{{"new2", "v2"}, {"link2", "t2b=t2b"}, {"conf", "v2"}})
	if _, ok := seen(a, `sidus: agent: tree: .*generation 1`, t2, 30*time.Second); !ok {
		fail("the agent did not log the new generation")
	}

	// Phase 3: the NFS server is SIGKILLed under two readers of a big
	// file (one per node, NFSv4.2 and NFSv3) and comes back 20 s later;
	// a file replaced meanwhile is seen after.
	if _, ok := seen(b, `SIDUS-LIVE: rest `, b.Start, 6*time.Minute); !ok {
		fail("node 2 did not report its NFS calls at rest")
	}
	must(os.WriteFile(p(L+"go-read"), nil, 0o644))
	for _, n := range []*vm.VM{a, b} {
		if _, err := n.TryExpect(`SIDUS-LIVE: bigread start`, 2*time.Minute); err != nil {
			fail("%v; last lines:\n%s", err, n.Tail(20))
			return
		}
	}
	time.Sleep(8 * time.Second)
	must(lab.Kill(lab.Daemon("ganesha")))
	killed := time.Now()
	replace(t, dir, L+"renamed", "v3\n", 0o644)
	time.Sleep(20 * time.Second)
	must(lab.StartGanesha())
	back := time.Now()
	for i, n := range []*vm.VM{a, b} {
		if d, ok := seen(n, `sidus: agent: tree: the NFS server answers again`, back, 5*time.Minute); ok {
			t.Logf("node %d: reads resumed %.1fs after the server's return (the agent's blocked poll returned)", i+1, d.Seconds())
		} else {
			fail("node %d: the agent did not see the NFS server again", i+1)
		}
		_, m, ok := n.Find(regexp.MustCompile(`SIDUS-LIVE: bigread done sha=(\S+)`), back)
		for wait := time.Now(); !ok && time.Since(wait) < 6*time.Minute; {
			time.Sleep(time.Second)
			_, m, ok = n.Find(regexp.MustCompile(`SIDUS-LIVE: bigread done sha=(\S+)`), back)
		}
		if !ok {
			fail("node %d: the read of the big file across the restart did not end; last lines:\n%s", i+1, n.Tail(20))
			return
		}
		if m[1] != sum {
			fail("node %d: the big file read across the restart has sha256 %s, want %s", i+1, m[1], sum)
		}
	}
	if d, ok := seen(a, `SIDUS-LIVE: renamed v3 uptime=`, back, 3*time.Minute); ok {
		t.Logf("a file replaced during the outage (%v): seen %.1fs after the server's return", back.Sub(killed).Round(time.Second), d.Seconds())
	} else {
		fail("the node did not see the file replaced during the outage (values %q)", liveValues(a, "renamed"))
	}

	// No error in the shared tree, the node's own file stays its own,
	// and the node is up whatever became of the daemon.
	time.Sleep(3 * time.Second)
	// Under the shared /usr: no error that lasts. Under load (make test's
	// 5+ VMs on 2 cores), ganesha has answered a read racing a swap or a
	// removal made behind its back with a transient EIO or ESTALE: those
	// are counted and logged (an open issue), a lasting one fails.
	bad := regexp.MustCompile(`Stale file handle|I/O error|Input/output`)
	transient := 0
	for _, name := range []string{"renamed", "inplace", "tree", "link", "link2", "daemon", "new", "new2", "gone", "gonedir"} {
		vals := liveValues(a, name)
		for k, v := range vals {
			if !bad.MatchString(v) {
				continue
			}
			if k == len(vals)-1 {
				fail("the probe still reads %s as %q at the end", name, v)
			} else {
				transient++
				t.Logf("transient error under the shared /usr: %s read as %q (then %q)", name, v, vals[k+1])
			}
		}
	}
	t.Logf("shared /usr: %d transient error reads", transient)
	// In the union (/etc): the node's own copy stays its own; a file the
	// tree replaced may read as a stale handle until the agent's cache
	// drop, also a copied-up one (overlayfs revalidates its origin in the
	// tree): the limit of overlayfs on 6.1, counted here.
	stale := 0
	for _, name := range []string{"conf", "mine"} {
		vals := liveValues(a, name)
		for _, v := range vals {
			switch {
			case bad.MatchString(v):
				stale++
			case name == "mine" && v != "node-own", name == "conf" && v != "v1" && v != "v2":
				fail("the probe read %s as %q", name, v)
			}
		}
		if want := map[string]string{"conf": "v2", "mine": "node-own"}[name]; len(vals) == 0 || vals[len(vals)-1] != want {
			fail("/etc/sidus-live/%s: the probe read %q, want it to end with %q", name, vals, want)
		}
	}
	t.Logf("/etc (in the union): %d probe reads of a stale handle (or an I/O error) between a change and the agent's cache drop (conf %q, mine %q)",
		stale, liveValues(a, "conf"), liveValues(a, "mine"))
	// With one union over the whole tree (node 3), the replaced binary
	// that a daemon still runs gives "Stale file handle" (or, while the
	// client retries, an I/O error) for good: its overlay dentry is
	// pinned, no cache drop removes it.
	if v := liveValues(c, "daemon"); len(v) == 0 || !bad.MatchString(v[len(v)-1]) {
		fail("node 3 (sidus.shared=none): a new exec of the daemon's replaced binary read %q; the shared directories exist for the stale handle this used to give", v)
	} else {
		t.Logf("node 3 (sidus.shared=none, one union): the daemon's replaced binary: %q", v)
	}
	t.Logf("the daemon whose binary was replaced: %q", liveValues(a, "alive"))
	if m := regexp.MustCompile(`SIDUS-LIVE: (rest .*)`).FindStringSubmatch(b.Console()); m != nil {
		t.Logf("node 2 (NFSv3, idle): %s", m[1])
	}
	if _, ok := seen(a, `SIDUS-LIVE: probe alive uptime=`, time.Now(), 2*time.Minute); !ok {
		fail("node 1 stopped probing")
	}
}
