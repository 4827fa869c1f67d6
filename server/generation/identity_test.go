package generation

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/server/boot"
	"github.com/sidus-go/sidus/server/internal/golden"
	"github.com/sidus-go/sidus/server/runner"
)

const rbdGens = "backend = \"rbd\"\nrbd_pool = \"sidus\"\nceph_monitors = [\"10.5.0.10\"]\n"

// sampleSessions is `ceph tell mon.0 sessions` in the lab (trimmed), a
// node 192.168.77.62 mapping an image as USER.
func sampleSessions(user string) string {
	return `[
    {"name": "mon.0", "entity_name": "", "addrs": {"addrvec": [{"type": "v2","addr": "192.168.77.1:3300","nonce": 0},{"type": "v1","addr": "192.168.77.1:6789","nonce": 0}]}, "socket_addr": {"type": "none","addr": "(unrecognized address family 0)","nonce": 0}, "con_type": "mon", "open": true, "caps": {"text": "allow *"}, "authenticated": true, "global_id": 0, "remote_host": ""},
    {"name": "client.?", "entity_name": "mgr.x", "addrs": {"addrvec": [{"type": "any","addr": "192.168.77.1:0","nonce": 1234}]}, "socket_addr": {"type": "any","addr": "192.168.77.1:0","nonce": 1234}, "con_type": "client", "caps": {"text": "allow profile mgr"}},
    {"name": "unknown.0", "entity_name": "` + user + `", "addrs": {"addrvec": [{"type": "any","addr": "192.168.77.62:0","nonce": 3561029}]}, "socket_addr": {"type": "any","addr": "192.168.77.62:0","nonce": 3561029}, "con_type": "client", "open": true, "caps": {"text": "profile rbd"}, "authenticated": true, "global_id": 4178}
]
`
}

func TestParseSessions(t *testing.T) {
	s, err := ParseSessions([]byte(sampleSessions("client.node")))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 2 || !slices.Equal(s["client.node"], []string{"192.168.77.62"}) || !slices.Equal(s["mgr.x"], []string{"192.168.77.1"}) {
		t.Errorf("sessions = %v", s)
	}
	// IPv6, the addrvec when socket_addr has no address, repeats, neither.
	s, err = ParseSessions([]byte(`[
		{"entity_name": "client.sidus-gen-0001", "socket_addr": {"addr": "[::1]:0"}},
		{"entity_name": "client.sidus-gen-0001", "socket_addr": {"addr": "[fd00::62]:0"}, "addrs": {"addrvec": [{"addr": "10.0.0.9:0"}]}},
		{"entity_name": "client.sidus-gen-0001", "socket_addr": {"addr": "::1"}, "addrs": {"addrvec": [{"addr": "[::1]:0"}]}},
		{"entity_name": "client.sidus-gen-0002", "socket_addr": {"type": "none", "addr": "(unrecognized address family 0)"}, "addrs": {"addrvec": [{"addr": "10.5.0.22:0/3561"}]}},
		{"entity_name": "client.sidus-gen-0003", "socket_addr": {"addr": "0.0.0.0:0"}}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s["client.sidus-gen-0001"], []string{"::1", "fd00::62"}) || !slices.Equal(s["client.sidus-gen-0002"], []string{"10.5.0.22"}) ||
		!slices.Equal(s["client.sidus-gen-0003"], []string{"unknown address"}) {
		t.Errorf("sessions = %v", s)
	}
	for _, bad := range []string{"", "garbage", `{"sessions": []}`, `[{"entity_name": 3}]`, "[\n    {\"name\": \"mon.0\",\n"} {
		if _, err := ParseSessions([]byte(bad)); err == nil || !strings.Contains(err.Error(), "ceph tell mon.ID sessions") {
			t.Errorf("ParseSessions(%q) = %v", bad, err)
		}
	}
	if s, err := ParseSessions([]byte("[]\n")); err != nil || len(s) != 0 || s == nil {
		t.Errorf("no session: %v, %v", s, err)
	}
}

func TestParseMonNames(t *testing.T) {
	m, err := ParseMonNames([]byte(`{"epoch":1,"fsid":"x","mons":[{"rank":0,"name":"0","public_addrs":{"addrvec":[]}},{"rank":1,"name":"b"}],"quorum":[0,1]}`))
	if err != nil || !slices.Equal(m, []string{"0", "b"}) {
		t.Errorf("ParseMonNames = %v, %v", m, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"garbage", "ceph mon dump` printed"},
		{`{"mons":[]}`, "lists no monitor"},
		{`{"mons":[{"name":""}]}`, "named"},
		{`{"mons":[{"name":"*"}]}`, "named"},
	} {
		if _, err := ParseMonNames([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseMonNames(%s) = %v; want %q", tc.in, err, tc.want)
		}
	}
}

// TestReadSessions asks both monitors and merges their sessions.
func TestReadSessions(t *testing.T) {
	e := newEnv(t, rbdGens)
	e.sessions["a"] = sampleSessions("client.sidus-gen-0001")
	e.sessions["b"] = `[{"entity_name": "client.sidus-gen-0001", "socket_addr": {"addr": "10.5.0.21:0"}}, {"entity_name": "client.sidus-gen-0002", "socket_addr": {"addr": "[fd00::7]:0"}}]`
	s, err := ReadSessions(context.Background(), e.c, e.fr)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s["client.sidus-gen-0001"], []string{"10.5.0.21", "192.168.77.62"}) || !slices.Equal(s["client.sidus-gen-0002"], []string{"fd00::7"}) {
		t.Errorf("sessions %v", s)
	}
	for _, c := range e.fr.Calls {
		if !c.ReadOnly {
			t.Errorf("%s is not ReadOnly (it must run in dry-run mode)", c)
		}
	}
	want := [][]string{
		{"ceph", "--id", "admin", "--keyring", "/etc/ceph/ceph.client.admin.keyring", "--conf", "/etc/ceph/ceph.conf", "mon", "dump", "--format", "json"},
		{"ceph", "--id", "admin", "--keyring", "/etc/ceph/ceph.client.admin.keyring", "--conf", "/etc/ceph/ceph.conf", "tell", "mon.a", "sessions", "--format", "json"},
		{"ceph", "--id", "admin", "--keyring", "/etc/ceph/ceph.client.admin.keyring", "--conf", "/etc/ceph/ceph.conf", "tell", "mon.b", "sessions", "--format", "json"},
	}
	if len(e.fr.Calls) != len(want) {
		t.Fatalf("calls %v", e.fr.Lines())
	}
	for i, c := range e.fr.Calls {
		if !slices.Equal(c.Args, want[i]) {
			t.Errorf("call %d: %q, want %q", i, c.Args, want[i])
		}
	}
	// One monitor that does not answer, or answers garbage: an error.
	e.fail[cephPrefix+"tell mon.b"] = errors.New("exit status 110")
	if _, err := ReadSessions(context.Background(), e.c, e.fr); err == nil || !strings.Contains(err.Error(), "sessions of mon.b: exit status 110") || !strings.Contains(err.Error(), "monitors are up") {
		t.Errorf("err = %v", err)
	}
	delete(e.fail, cephPrefix+"tell mon.b")
	e.sessions["b"] = "Error EINVAL: garbage"
	if _, err := ReadSessions(context.Background(), e.c, e.fr); err == nil || !strings.Contains(err.Error(), "mon.b: `ceph tell mon.ID sessions` printed") {
		t.Errorf("err = %v", err)
	}
}

func TestKeyringInitrd(t *testing.T) {
	kr := fakeKeyring("client.sidus-gen-0007")
	img, err := KeyringInitrd([]byte(kr))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := KeyringInitrd([]byte(kr))
	if !bytes.Equal(img, again) {
		t.Error("not reproducible")
	}
	p := filepath.Join(t.TempDir(), "gen-0007.img")
	os.WriteFile(p, img, 0o644)
	checkKeyringInitrd(t, p, kr)
}

func TestPublishRBDUserErrors(t *testing.T) {
	ctx := context.Background()
	undo := []string{
		rbdPrefix + "snap unprotect sidus/gen-0001@gen",
		rbdPrefix + "snap rm --no-progress sidus/gen-0001@gen",
		rbdPrefix + "rm --no-progress sidus/gen-0001",
	}
	t.Run("get-or-create fails: the image is removed, not the user", func(t *testing.T) {
		e := newEnv(t, rbdGens)
		e.fail[cephPrefix+"auth get-or-create"] = &runner.Error{Cmd: "ceph auth get-or-create", Err: errors.New("exit status 22"),
			Output: "Error EINVAL: key for client.sidus-gen-0001 exists but cap osd does not match"}
		_, err := Publish(ctx, e.c, e.opts())
		for _, w := range []string{"generation 1: create the cephx user client.sidus-gen-0001", "cap osd does not match", "ceph-common"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("err = %v; want %q", err, w)
			}
		}
		l := e.lines()
		diffLines(t, "cleanup", l[len(l)-4:], append([]string{cephPrefix + "auth get-or-create client.sidus-gen-0001 mon 'profile rbd' osd 'profile rbd-read-only pool=sidus'"}, undo...))
		if len(e.state().Generations) != 0 {
			t.Error("failed generation recorded")
		}
		for _, f := range []string{"gen-0001.img", boot.DefaultFile} {
			if _, err := os.Stat(filepath.Join(e.d, "tftp", f)); err == nil {
				t.Errorf("%s written", f)
			}
		}
	})
	t.Run("no keyring printed: user and image removed", func(t *testing.T) {
		e := newEnv(t, rbdGens)
		garbage := "nothing useful\n"
		e.keyring = &garbage
		_, err := Publish(ctx, e.c, e.opts())
		if err == nil || !strings.Contains(err.Error(), "printed no keyring with a key for client.sidus-gen-0001") {
			t.Errorf("err = %v", err)
		}
		l := e.lines()
		diffLines(t, "cleanup", l[len(l)-4:], append([]string{cephPrefix + "auth rm client.sidus-gen-0001"}, undo...))
		if len(e.state().Generations) != 0 {
			t.Error("failed generation recorded")
		}
	})
}

func TestPublishRBDDryRun(t *testing.T) {
	e := newEnv(t, rbdGens)
	e.fr.Respond = nil // as runner.Exec in dry-run mode: nothing runs
	o := e.opts()
	o.DryRun = true
	g, err := Publish(context.Background(), e.c, o)
	if err != nil {
		t.Fatal(err)
	}
	if l := e.lines(); len(l) != 5 || l[4] != cephPrefix+"auth get-or-create client.sidus-gen-0001 mon 'profile rbd' osd 'profile rbd-read-only pool=sidus'" {
		t.Errorf("commands %v", l)
	}
	if g.CephUser != "client.sidus-gen-0001" || g.Initrd != "gen-0001.img" {
		t.Errorf("generation %+v", g)
	}
	for _, p := range []string{StatePath(e.c), filepath.Join(e.d, "tftp/gen-0001.img"), filepath.Join(e.d, "tftp", boot.DefaultFile)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("dry run wrote %s", p)
		}
	}
	for _, w := range []string{"would create the cephx user client.sidus-gen-0001", "would write " + e.d + "/tftp/gen-0001.img", "would publish generation 1"} {
		if !strings.Contains(e.log.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, e.log.String())
		}
	}
}

func TestRollbackRestoresInitrd(t *testing.T) {
	e := newEnv(t, rbdGens)
	ctx := context.Background()
	Publish(ctx, e.c, e.opts())
	Publish(ctx, e.c, e.opts())
	p := filepath.Join(e.d, "tftp/gen-0001.img")
	os.Remove(p)
	e.lines()
	if _, err := Rollback(ctx, e.c, e.opts()); err != nil {
		t.Fatal(err)
	}
	diffLines(t, "rollback", e.lines(), []string{rbdPrefix + "info sidus/gen-0001@gen", cephPrefix + "auth get client.sidus-gen-0001"})
	checkKeyringInitrd(t, p, fakeKeyring("client.sidus-gen-0001")+"\tcaps mon = \"profile rbd\"\n")
	if got := e.appendLines(boot.DefaultFile)[0]; !strings.Contains(got, " initrd=initrd.img-Sidus,gen-0001.img ") || !strings.HasSuffix(got, " sidus.ceph.user=sidus-gen-0001") {
		t.Errorf("default APPEND %s", got)
	}
	// There: not fetched again.
	o := e.opts()
	o.To = 1
	if _, err := Rollback(ctx, e.c, o); err != nil {
		t.Fatal(err)
	}
	diffLines(t, "rollback again", e.lines(), []string{rbdPrefix + "info sidus/gen-0001@gen"})
}

// TestPruneSessions keeps a generation a node runs, however old, and
// removes an unused one with its user and initrd.
func TestPruneSessions(t *testing.T) {
	e := newEnv(t, rbdGens+"keep = 1\n")
	ctx := context.Background()
	for range 3 {
		if _, err := Publish(ctx, e.c, e.opts()); err != nil {
			t.Fatal(err)
		}
	}
	e.lines()
	e.sessions["a"] = sampleSessions("client.sidus-gen-0001")
	e.sessions["b"] = `[{"entity_name": "client.sidus-gen-0001", "socket_addr": {"addr": "10.5.0.22:0"}}, {"entity_name": "client.sidus-gen-0003", "socket_addr": {"addr": "10.5.0.21:0"}}]`
	res, err := Prune(ctx, e.c, e.opts())
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "prune", e.lines(), []string{
		cephPrefix + "mon dump --format json",
		cephPrefix + "tell mon.a sessions --format json",
		cephPrefix + "tell mon.b sessions --format json",
		rbdPrefix + "status sidus/gen-0002 --format json",
		rbdPrefix + "snap ls sidus/gen-0002 --format json",
		rbdPrefix + "snap unprotect sidus/gen-0002@gen",
		rbdPrefix + "snap rm --no-progress sidus/gen-0002@gen",
		rbdPrefix + "rm --no-progress sidus/gen-0002",
		cephPrefix + "auth rm client.sidus-gen-0002",
	})
	if len(res.Removed) != 1 || res.Removed[0] != 2 || len(res.Kept) != 1 || res.Kept[0].Number != 1 ||
		res.Kept[0].Reason != "in use by 10.5.0.22, 192.168.77.62" || !slices.Equal(res.Kept[0].InUseBy, []string{"10.5.0.22", "192.168.77.62"}) {
		t.Errorf("res = %+v", res)
	}
	if e.state().numbers() != "1, 3" {
		t.Errorf("state %s", e.state().numbers())
	}
	for f, want := range map[string]bool{"gen-0001.img": true, "gen-0002.img": false, "gen-0003.img": true} {
		if _, err := os.Stat(filepath.Join(e.d, "tftp", f)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", f, err == nil, want)
		}
	}
	// Dry run: asks the monitors, removes nothing.
	delete(e.sessions, "a")
	delete(e.sessions, "b")
	o := e.opts()
	o.DryRun = true
	if res, err := Prune(ctx, e.c, o); err != nil || len(res.Removed) != 1 || e.state().numbers() != "1, 3" {
		t.Errorf("dry prune = %+v, %v, state %s", res, err, e.state().numbers())
	}
	if _, err := os.Stat(filepath.Join(e.d, "tftp/gen-0001.img")); err != nil || !strings.Contains(e.log.String(), "would remove "+e.d+"/tftp/gen-0001.img") {
		t.Errorf("dry run: %v, log:\n%s", err, e.log.String())
	}
	// The node is gone: generation 1 goes, its user already removed by
	// hand is no error.
	e.lines()
	e.fail[cephPrefix+"auth rm client.sidus-gen-0001"] = &runner.Error{Cmd: "ceph auth rm", Err: errors.New("exit status 2"), Output: "Error ENOENT: entity client.sidus-gen-0001 does not exist"}
	if res, err := Prune(ctx, e.c, e.opts()); err != nil || len(res.Removed) != 1 || res.Removed[0] != 1 || len(res.Kept) != 0 {
		t.Errorf("prune = %+v, %v", res, err)
	}
	if e.state().numbers() != "3" {
		t.Errorf("state %s", e.state().numbers())
	}
	if _, err := os.Stat(filepath.Join(e.d, "tftp/gen-0001.img")); err == nil {
		t.Error("gen-0001.img left")
	}
	// A user that cannot be removed: the generation stays recorded, and
	// the next prune finishes the job (the image is gone already).
	Publish(ctx, e.c, e.opts())
	e.fail[cephPrefix+"auth rm client.sidus-gen-0003"] = errors.New("exit status 13")
	if _, err := Prune(ctx, e.c, e.opts()); err == nil || !strings.Contains(err.Error(), "prune generation 3: remove the cephx user client.sidus-gen-0003") {
		t.Errorf("err = %v", err)
	}
	if e.state().numbers() != "3, 4" {
		t.Errorf("state %s", e.state().numbers())
	}
	delete(e.fail, cephPrefix+"auth rm client.sidus-gen-0003")
	e.fail[rbdPrefix+"status sidus/gen-0003"] = &runner.Error{Cmd: "rbd status", Err: errors.New("exit status 2"), Output: "rbd: error opening image gen-0003: (2) No such file or directory"}
	e.lines()
	if res, err := Prune(ctx, e.c, e.opts()); err != nil || len(res.Removed) != 1 || e.state().numbers() != "4" {
		t.Errorf("prune = %+v, %v, state %s", res, err, e.state().numbers())
	}
	if l := e.lines(); l[len(l)-1] != cephPrefix+"auth rm client.sidus-gen-0003" {
		t.Errorf("commands %v", l)
	}
}

// TestPruneSessionsUnreadable: the monitors cannot be asked, so no rbd
// generation goes; the nfs one does.
func TestPruneSessionsUnreadable(t *testing.T) {
	e := newEnv(t, rbdGens+"keep = 1\n")
	ctx := context.Background()
	o := e.opts()
	o.Backend = "nfs"
	Publish(ctx, e.c, o)
	Publish(ctx, e.c, e.opts())
	Publish(ctx, e.c, e.opts())
	e.lines()
	e.fail[cephPrefix+"mon dump"] = &runner.Error{Cmd: "ceph mon dump", Err: errors.New("exit status 1"), Output: "[errno 13] RADOS permission denied"}
	res, err := Prune(ctx, e.c, e.opts())
	for _, w := range []string{"kept rbd generation(s) 2: cannot tell whether running nodes use them", "list the monitors", "permission denied"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v; want %q", err, w)
		}
	}
	diffLines(t, "commands", e.lines(), []string{cephPrefix + "mon dump --format json"})
	if len(res.Removed) != 1 || res.Removed[0] != 1 || len(res.Kept) != 1 || res.Kept[0].Number != 2 || !strings.Contains(res.Kept[0].Reason, "sessions could not be read") {
		t.Errorf("res = %+v", res)
	}
	if e.state().numbers() != "2, 3" {
		t.Errorf("state %s", e.state().numbers())
	}
	if _, err := os.Stat(filepath.Join(e.d, "tftp/gen-0002.img")); err != nil {
		t.Error(err)
	}
}

func TestWriteTableInUse(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := &State{Current: 3, Last: 4, Generations: []Generation{
		{Number: 1, Created: at, Backend: "nfs", Location: "/t/gen-0001.squashfs", Size: 4096},
		{Number: 2, Created: at, Backend: "rbd", Location: "sidus/gen-0002@gen", Size: 4096},
		{Number: 3, Created: at, Backend: "rbd", Location: "sidus/gen-0003@gen", Size: 4096, CephUser: "client.sidus-gen-0003", Initrd: "gen-0003.img"},
		{Number: 4, Created: at, Backend: "rbd", Location: "sidus/gen-0004@gen", Size: 4096, CephUser: "client.sidus-gen-0004", Initrd: "gen-0004.img"},
	}}
	column := func(to TableOptions) []string {
		var b bytes.Buffer
		if err := WriteTable(&b, st, to); err != nil {
			t.Fatal(err)
		}
		var col []string
		lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		i := strings.Index(lines[0], "IN USE")
		for _, l := range lines[1:] {
			if i < 0 {
				col = append(col, "")
			} else {
				col = append(col, strings.TrimSpace(l[i:]))
			}
		}
		return col
	}
	s := Sessions{"client.sidus-gen-0003": {"10.5.0.21", "10.5.0.22"}, "client.node": {"10.5.0.30"}}
	diffLines(t, "sessions", column(TableOptions{InUse: true, Sessions: s}), []string{"?", "?", "10.5.0.21,10.5.0.22", "-"})
	diffLines(t, "not read", column(TableOptions{InUse: true}), []string{"?", "?", "?", "?"})
	diffLines(t, "--no-sessions", column(TableOptions{}), []string{"", "", "", ""})
	var b bytes.Buffer
	WriteTable(&b, st, TableOptions{InUse: true, Sessions: s})
	if l := strings.Split(b.String(), "\n"); !strings.HasPrefix(l[0], "   GEN  CREATED  ") || !strings.HasSuffix(l[0], "TREE  IN USE") || !strings.HasPrefix(l[3], "*  3 ") {
		t.Errorf("table:\n%s", b.String())
	}
	// nfs only: no column (no signal at all).
	st.Generations = st.Generations[:1]
	st.Current = 1
	diffLines(t, "nfs only", column(TableOptions{InUse: true, Sessions: s}), []string{""})
	if NeedsSessions(st.Generations) {
		t.Error("NeedsSessions(nfs)")
	}
}

func TestBootLineGenerationInitrd(t *testing.T) {
	c := golden.Config(t, "[generations]\nceph_monitors = [\"192.168.1.10\"]\n")
	g := &Generation{Number: 8, Backend: "rbd", Location: "p/gen-0008@gen", CephUser: "client.sidus-gen-0008", Initrd: "gen-0008.img"}
	nfs := &Generation{Number: 9, Backend: "nfs", Image: "img/gen-0009.squashfs"}
	mon := " sidus.ceph.mon=192.168.1.10:6789"
	for _, tc := range []struct {
		line string
		g    *Generation
		want string
	}{
		{"root=/dev/nfs initrd=initrd.img-Sidus nfsroot=auto ip=dhcp", g, "root=rbd:p/gen-0008@gen initrd=initrd.img-Sidus,gen-0008.img ip=dhcp" + mon + " sidus.ceph.user=sidus-gen-0008"},
		// A node's CHAP initrd stays before the generation's.
		{"root=/dev/nfs initrd=initrd.img-Sidus,sidus-gen-0001.img ip=dhcp", g, "root=rbd:p/gen-0008@gen initrd=initrd.img-Sidus,sidus-gen-0001.img,gen-0008.img ip=dhcp" + mon + " sidus.ceph.user=sidus-gen-0008"},
		// An earlier generation's initrd and user are replaced, boot.append's user too.
		{"root=rbd:p/gen-0007@gen initrd=initrd.img-Sidus,sidus-n1.img,gen-0007.img ip=dhcp sidus.ceph.mon=1.1.1.1 sidus.ceph.user=sidus-gen-0007", g,
			"root=rbd:p/gen-0008@gen initrd=initrd.img-Sidus,sidus-n1.img,gen-0008.img ip=dhcp" + mon + " sidus.ceph.user=sidus-gen-0008"},
		{"root=/dev/nfs initrd=initrd.img-Sidus ip=dhcp sidus.ceph.user=node", g, "root=rbd:p/gen-0008@gen initrd=initrd.img-Sidus,gen-0008.img ip=dhcp" + mon + " sidus.ceph.user=sidus-gen-0008"},
		// Without a user of its own: the initrd and user of an earlier
		// generation go, boot.append's user stays.
		{"root=rbd:p/gen-0007@gen initrd=initrd.img-Sidus,gen-0007.img ip=dhcp sidus.ceph.user=sidus-gen-0007 sidus.ceph.user=node", nfs,
			"root=/dev/nfs initrd=initrd.img-Sidus ip=dhcp sidus.ceph.user=node nfsroot=192.168.1.1:/srv/nfsroot/sidus sidus.image=img/gen-0009.squashfs"},
	} {
		got, err := BootLine(c, tc.line, tc.g)
		if err != nil || got != tc.want {
			t.Errorf("BootLine(%q, %d) =\n%q, %v\nwant\n%q", tc.line, tc.g.Number, got, err, tc.want)
		}
	}
	for _, bad := range []*Generation{
		{Number: 8, Backend: "rbd", Location: "p/gen-0008@gen", Initrd: "../x.img"},
		{Number: 8, Backend: "rbd", Location: "p/gen-0008@gen", CephUser: "client.a b"},
	} {
		if _, err := BootLine(c, "root=/dev/nfs initrd=initrd.img-Sidus", bad); err == nil || !strings.Contains(err.Error(), "fix the state file") {
			t.Errorf("BootLine(%+v) = %v", bad, err)
		}
	}
}
