package generation

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cephrbd "github.com/sidus-go/sidus/blockdev/rbd"
	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/initramfs/layout"
	"github.com/sidus-go/sidus/server/boot"
	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/internal/golden"
	"github.com/sidus-go/sidus/server/runner"
	"github.com/sidus-go/sidus/server/tree"
	"github.com/u-root/mkuimage/cpio"
)

const hash1 = "d28501de0c236246607e804c40868e260af3ad05fd10d2c742d91e1692ebfdad"

// env is a server in a temp dir: a tree with a generation stamp, a state
// dir with one node, a TFTP root.
type env struct {
	t    *testing.T
	d    string
	c    *config.Config
	fr   *runner.Fake
	log  bytes.Buffer
	now  time.Time
	fail map[string]error // argv prefix -> error
	// watchers: image spec -> rbd status output
	watchers map[string]string
	// monDump is ceph mon dump's output; sessions: mon name -> ceph tell
	// mon.NAME sessions output (default "[]").
	monDump  string
	sessions map[string]string
	// keyring, if set, is ceph auth get-or-create's output (default
	// fakeKeyring of the user).
	keyring *string
}

const (
	rbdPrefix  = "rbd --id admin --keyring /etc/ceph/ceph.client.admin.keyring --conf /etc/ceph/ceph.conf "
	cephPrefix = "ceph --id admin --keyring /etc/ceph/ceph.client.admin.keyring --conf /etc/ceph/ceph.conf "
)

// fakeKeyring is the keyring the fake ceph prints for user.
func fakeKeyring(user string) string {
	return "[" + user + "]\n\tkey = " + base64.StdEncoding.EncodeToString([]byte("secret of "+user)) + "\n"
}

func newEnv(t *testing.T, gens string) *env {
	e := &env{t: t, d: t.TempDir(), fail: map[string]error{}, watchers: map[string]string{}, sessions: map[string]string{},
		monDump: `{"epoch":3,"mons":[{"rank":0,"name":"a","public_addr":"10.5.0.10:6789/0"},{"rank":1,"name":"b","public_addr":"10.5.0.11:6789/0"}]}`,
		now:     time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	d := e.d
	for _, p := range []string{"tree/usr/bin", "tree/etc", "state", "tftp"} {
		os.MkdirAll(filepath.Join(d, p), 0o755)
	}
	os.WriteFile(filepath.Join(d, "tree/etc/hostname-free"), []byte("x\n"), 0o644)
	if _, err := tree.BumpGeneration(filepath.Join(d, "tree"), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, "state/nodes.toml"), []byte("[[node]]\nname = \"n1\"\nmac = \"52:54:00:00:00:01\"\nip = \"10.5.0.21\"\nlabel = \"iscsi\"\nlun_size = 1073741824\n"), 0o644)
	c, err := config.Parse(strings.NewReader(`tree = "` + d + `/tree"
state_dir = "` + d + `/state"
[network]
cidr = "10.5.0.0/16"
server_ip = "10.5.0.1"
[tftp]
root = "` + d + `/tftp"
[generations]
` + gens))
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	e.fr = &runner.Fake{Respond: e.respond}
	return e
}

func (e *env) respond(c runner.Cmd) (string, error) {
	line := strings.Join(c.Args, " ")
	for p, err := range e.fail {
		if strings.HasPrefix(line, p) {
			return "", err
		}
	}
	switch c.Args[0] {
	case "mksquashfs":
		// 5000 bytes: not a multiple of 4096, so verity pads it.
		return "", os.WriteFile(c.Args[2], bytes.Repeat([]byte{'s'}, 5000), 0o644)
	case "veritysetup":
		f, err := os.OpenFile(c.Args[3], os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return "", err
		}
		f.Write(make([]byte, 4096))
		f.Close()
		return "VERITY header information for " + c.Args[3] + "\nHash type:       \t1\nRoot hash:      \t" + hash1 + "\n", nil
	case "ceph":
		args := c.Args[7:]
		switch {
		case args[0] == "auth" && args[1] == "get-or-create":
			if e.keyring != nil {
				return *e.keyring, nil
			}
			return fakeKeyring(args[2]), nil
		case args[0] == "auth" && args[1] == "get":
			return fakeKeyring(args[2]) + "\tcaps mon = \"profile rbd\"\n", nil
		case args[0] == "mon" && args[1] == "dump":
			return e.monDump, nil
		case args[0] == "tell":
			if out, ok := e.sessions[strings.TrimPrefix(args[1], "mon.")]; ok {
				return out, nil
			}
			return "[]", nil
		}
	case "rbd":
		args := c.Args[7:]
		switch args[0] {
		case "status":
			if w, ok := e.watchers[args[1]]; ok {
				return w, nil
			}
			return `{"watchers":[]}`, nil
		case "snap":
			if args[1] == "ls" {
				return `[{"id":4,"name":"gen","size":12288,"protected":"true","timestamp":"Sun Mar  1 12:00:00 2026"}]`, nil
			}
		}
	}
	return "", nil
}

func (e *env) opts() Options {
	return Options{Runner: e.fr, Log: &e.log, Now: func() time.Time { return e.now }}
}

func (e *env) lines() []string {
	l := e.fr.Lines()
	e.fr.Calls = nil
	return l
}

func (e *env) state() *State {
	st, err := LoadState(StatePath(e.c))
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) appendLines(file string) []string {
	b, err := os.ReadFile(filepath.Join(e.d, "tftp", file))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "APPEND ") || strings.HasPrefix(l, "kernel ") {
			out = append(out, l)
		}
	}
	return out
}

func (e *env) r(s string) string { return strings.ReplaceAll(s, "$D", e.d) }

func diffLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot\n\t%s\nwant\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestPublishNFS(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	g, err := Publish(ctx, e.c, e.opts())
	if err != nil {
		t.Fatal(err)
	}
	diffLines(t, "first publish", e.lines(), []string{
		e.r("mksquashfs $D/tree $D/tree/var/lib/sidus/generations/.gen-0001.squashfs.tmp -comp zstd -noappend -no-progress -quiet -e var/lib/sidus/generations"),
	})
	if g.Number != 1 || g.Size != 5000 || g.RootHash != "" || g.TreeGeneration != 1 || g.Image != "var/lib/sidus/generations/gen-0001.squashfs" {
		t.Errorf("generation = %+v", g)
	}
	diffLines(t, "default after 1", e.appendLines(boot.DefaultFile), []string{
		e.r("APPEND console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=10.5.0.1:$D/tree,rsize=8192,wsize=8192,tcp ip=dhcp aufs=tmpfs sidus.image=var/lib/sidus/generations/gen-0001.squashfs"),
		e.r("APPEND console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=10.5.0.1:$D/tree,rsize=8192,wsize=8192,tcp ip=dhcp aufs=iscsi ISCSI_TARGET_IP= ISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default root=LABEL=ISCSI sidus.image=var/lib/sidus/generations/gen-0001.squashfs"),
	})

	// The second, with verity: padded to 8192, hash tree appended there.
	v := true
	o := e.opts()
	o.Verity = &v
	e.now = e.now.Add(time.Hour)
	if _, err := Publish(ctx, e.c, o); err != nil {
		t.Fatal(err)
	}
	diffLines(t, "second publish", e.lines(), []string{
		e.r("mksquashfs $D/tree $D/tree/var/lib/sidus/generations/.gen-0002.squashfs.tmp -comp zstd -noappend -no-progress -quiet -e var/lib/sidus/generations"),
		e.r("veritysetup format --hash-offset=8192 $D/tree/var/lib/sidus/generations/.gen-0002.squashfs.tmp $D/tree/var/lib/sidus/generations/.gen-0002.squashfs.tmp"),
	})
	st := e.state()
	if st.Current != 2 || st.Last != 2 || len(st.Generations) != 2 {
		t.Fatalf("state = %+v", st)
	}
	g2 := st.Generations[1]
	want := Generation{Number: 2, Created: e.now, Backend: "nfs", Location: e.r("$D/tree/var/lib/sidus/generations/gen-0002.squashfs"),
		Image: "var/lib/sidus/generations/gen-0002.squashfs", Size: 8192 + 4096, RootHash: hash1, HashOffset: 8192,
		TreeGeneration: 1, TreeStamped: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	if g2 != want {
		t.Errorf("generation 2 = %+v\nwant %+v", g2, want)
	}
	ents, _ := os.ReadDir(filepath.Join(e.d, "tree/var/lib/sidus/generations"))
	var names []string
	for _, en := range ents {
		names = append(names, en.Name())
	}
	if strings.Join(names, " ") != "gen-0001.squashfs gen-0002.squashfs" {
		t.Errorf("generations dir = %v (temp files left?)", names)
	}
	if st, _ := os.Stat(g2.Location); st == nil || st.Size() != 12288 || st.Mode().Perm() != 0o444 {
		t.Errorf("image %s: %v", g2.Location, st)
	}
	tmpfs := e.r("console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=10.5.0.1:$D/tree,rsize=8192,wsize=8192,tcp ip=dhcp aufs=tmpfs sidus.image=var/lib/sidus/generations/gen-0002.squashfs sidus.verity=" + hash1)
	iscsi := e.r("console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=10.5.0.1:$D/tree,rsize=8192,wsize=8192,tcp ip=dhcp aufs=iscsi ISCSI_TARGET_IP= ISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default root=LABEL=ISCSI sidus.image=var/lib/sidus/generations/gen-0002.squashfs sidus.verity=" + hash1)
	diffLines(t, "default after 2", e.appendLines(boot.DefaultFile), []string{"APPEND " + tmpfs, "APPEND " + iscsi})
	diffLines(t, "node file", e.appendLines("pxelinux.cfg/01-52-54-00-00-00-01"), []string{"APPEND " + iscsi})
	diffLines(t, "ipxe", e.appendLines(boot.IPXEFile), []string{
		"kernel vmlinuz-Sidus " + strings.Replace(tmpfs, " sidus.image", " BOOTIF=01-${net0/mac:hexhyp} sidus.image", 1),
		"kernel vmlinuz-Sidus " + strings.Replace(iscsi, " sidus.image", " BOOTIF=01-${net0/mac:hexhyp} sidus.image", 1),
	})
	if def, _ := os.ReadFile(filepath.Join(e.d, "tftp", boot.DefaultFile)); !strings.Contains(string(def), "# Boots generation 2 of the tree (nfs ") {
		t.Errorf("no generation note in:\n%s", def)
	}
}

func TestPublishRBD(t *testing.T) {
	e := newEnv(t, "backend = \"rbd\"\nrbd_pool = \"sidus\"\nceph_monitors = [\"10.5.0.10\", \"10.5.0.11:3300\"]\nverity = true\n")
	if _, err := Publish(context.Background(), e.c, e.opts()); err != nil {
		t.Fatal(err)
	}
	rbd := rbdPrefix
	tmp := e.r("$D/state/gen-build/gen-0001.squashfs")
	diffLines(t, "publish", e.fr.Lines(), []string{
		e.r("mksquashfs $D/tree " + tmp + " -comp zstd -noappend -no-progress -quiet -e var/lib/sidus/generations"),
		"veritysetup format --hash-offset=8192 " + tmp + " " + tmp,
		rbd + "import --no-progress --image-feature layering --object-size 1M --dest-pool sidus " + tmp + " gen-0001",
		rbd + "snap create sidus/gen-0001@gen",
		rbd + "snap protect sidus/gen-0001@gen",
		cephPrefix + "auth get-or-create client.sidus-gen-0001 mon 'profile rbd' osd 'profile rbd-read-only pool=sidus'",
	})
	last := e.fr.Calls[len(e.fr.Calls)-1]
	want := []string{"ceph", "--id", "admin", "--keyring", "/etc/ceph/ceph.client.admin.keyring", "--conf", "/etc/ceph/ceph.conf",
		"auth", "get-or-create", "client.sidus-gen-0001", "mon", "profile rbd", "osd", "profile rbd-read-only pool=sidus"}
	if !slices.Equal(last.Args, want) || last.ReadOnly {
		t.Errorf("user creation argv %q (read-only %v)\nwant %q", last.Args, last.ReadOnly, want)
	}
	e.lines()
	if _, err := os.Stat(tmp); err == nil {
		t.Error("build file left behind")
	}
	st := e.state()
	if g := st.CurrentGeneration(); g == nil || g.Location != "sidus/gen-0001@gen" || g.Backend != "rbd" || g.RootHash != hash1 || g.Size != 12288 ||
		g.CephUser != "client.sidus-gen-0001" || g.Initrd != "gen-0001.img" {
		t.Errorf("state = %+v", st)
	}
	if b, _ := os.ReadFile(StatePath(e.c)); !strings.Contains(string(b), `"ceph_user": "client.sidus-gen-0001"`) || !strings.Contains(string(b), `"initrd": "gen-0001.img"`) {
		t.Errorf("state file:\n%s", b)
	}
	checkKeyringInitrd(t, filepath.Join(e.d, "tftp/gen-0001.img"), fakeKeyring("client.sidus-gen-0001"))
	tail := " sidus.ceph.mon=10.5.0.10:6789,10.5.0.11:3300 sidus.ceph.user=sidus-gen-0001 sidus.verity=" + hash1
	tmpfs := "console=tty1 root=rbd:sidus/gen-0001@gen initrd=initrd.img-Sidus,gen-0001.img ip=dhcp aufs=tmpfs"
	iscsi := "console=tty1 root=rbd:sidus/gen-0001@gen initrd=initrd.img-Sidus,gen-0001.img ip=dhcp aufs=iscsi ISCSI_TARGET_IP= ISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default root=LABEL=ISCSI"
	diffLines(t, "default", e.appendLines(boot.DefaultFile), []string{"APPEND " + tmpfs + tail, "APPEND " + iscsi + tail})
	diffLines(t, "node file", e.appendLines("pxelinux.cfg/01-52-54-00-00-00-01"), []string{"APPEND " + iscsi + tail})
	diffLines(t, "ipxe", e.appendLines(boot.IPXEFile), []string{
		"kernel vmlinuz-Sidus " + tmpfs + " BOOTIF=01-${net0/mac:hexhyp}" + tail,
		"kernel vmlinuz-Sidus " + iscsi + " BOOTIF=01-${net0/mac:hexhyp}" + tail,
	})
	if b, _ := os.ReadFile(filepath.Join(e.d, "tftp", boot.IPXEFile)); strings.Count(string(b), "\ninitrd initrd.img-Sidus\ninitrd gen-0001.img\nboot\n") != 2 {
		t.Errorf("ipxe initrd lines:\n%s", b)
	}
	if !strings.Contains(e.log.String(), "warning: boot.modules lacks rbd, dm_verity") {
		t.Errorf("no module warning in log:\n%s", e.log.String())
	}

	// A node with CHAP: its own initrd, then the generation's. The next
	// generation replaces the first one's initrd and user everywhere.
	os.WriteFile(filepath.Join(e.d, "state/nodes.toml"), []byte("[[node]]\nname = \"n1\"\nmac = \"52:54:00:00:00:01\"\nip = \"10.5.0.21\"\nlabel = \"iscsi\"\nlun_size = 1073741824\nchap = true\n"), 0o644)
	if _, err := Publish(context.Background(), e.c, e.opts()); err != nil {
		t.Fatal(err)
	}
	tail = strings.ReplaceAll(tail, "gen-0001", "gen-0002")
	diffLines(t, "CHAP node file", e.appendLines("pxelinux.cfg/01-52-54-00-00-00-01"), []string{
		"APPEND console=tty1 root=rbd:sidus/gen-0002@gen initrd=initrd.img-Sidus,sidus-n1.img,gen-0002.img ip=dhcp aufs=iscsi ISCSI_TARGET_IP= ISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default root=LABEL=ISCSI" + tail,
	})
	if l := e.appendLines(boot.DefaultFile); len(l) != 2 || !strings.Contains(l[0], " initrd=initrd.img-Sidus,gen-0002.img ") || strings.Contains(l[0], "gen-0001") {
		t.Errorf("default after 2: %q", l)
	}
	// Each generation keeps its initrd (rollback boots it).
	checkKeyringInitrd(t, filepath.Join(e.d, "tftp/gen-0001.img"), fakeKeyring("client.sidus-gen-0001"))
	checkKeyringInitrd(t, filepath.Join(e.d, "tftp/gen-0002.img"), fakeKeyring("client.sidus-gen-0002"))
}

// checkKeyringInitrd checks that the file at p is a generation's initrd:
// mode 0644, a newc archive of etc, etc/sidus and etc/sidus/ceph.keyring
// (0600, holding keyring), which the init's keyring parser reads.
func checkKeyringInitrd(t *testing.T, p, keyring string) {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("%s: mode %v", p, st.Mode())
	}
	b, _ := os.ReadFile(p)
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s %o", r.Name, r.Mode))
		if r.Name == layout.CephKeyring {
			data, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			if string(data) != keyring {
				t.Errorf("%s: keyring %q, want %q", p, data, keyring)
			}
			want := strings.TrimPrefix(strings.TrimSuffix(strings.SplitN(keyring, "]", 2)[0], "]"), "[client.")
			if u, _, err := cephrbd.ParseKeyring(data, ""); err != nil || u != want {
				t.Errorf("the init reads user %q, %v; want %q", u, err, want)
			}
		}
	}
	diffLines(t, p+" records", got, []string{"etc 40755", "etc/sidus 40755", "etc/sidus/ceph.keyring 100600"})
}

func TestPublishErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("mksquashfs missing", func(t *testing.T) {
		e := newEnv(t, "")
		e.fail["mksquashfs"] = &runner.Error{Cmd: "mksquashfs ...", Err: errors.New("mksquashfs not found in PATH, /usr/sbin or /sbin: is its Debian package installed?")}
		_, err := Publish(ctx, e.c, e.opts())
		if err == nil || !strings.Contains(err.Error(), "build generation 1") || !strings.Contains(err.Error(), "mksquashfs not found") || !strings.Contains(err.Error(), "is squashfs-tools installed") {
			t.Errorf("err = %v", err)
		}
		if _, err := os.Stat(StatePath(e.c)); err == nil {
			t.Error("state written")
		}
		if _, err := os.Stat(filepath.Join(e.d, "tftp", boot.DefaultFile)); err == nil {
			t.Error("boot files written")
		}
	})
	t.Run("veritysetup fails", func(t *testing.T) {
		e := newEnv(t, "verity = true\n")
		e.fail["veritysetup"] = errors.New("exit status 1")
		_, err := Publish(ctx, e.c, e.opts())
		if err == nil || !strings.Contains(err.Error(), "cryptsetup-bin") {
			t.Errorf("err = %v", err)
		}
		if ents, _ := os.ReadDir(filepath.Join(e.d, "tree/var/lib/sidus/generations")); len(ents) != 0 {
			t.Errorf("left %v", ents)
		}
	})
	t.Run("rbd import fails", func(t *testing.T) {
		e := newEnv(t, "backend = \"rbd\"\nrbd_pool = \"sidus\"\nceph_monitors = [\"10.5.0.10\"]\n")
		e.fail["rbd --id admin --keyring /etc/ceph/ceph.client.admin.keyring --conf /etc/ceph/ceph.conf import"] = errors.New("exit status 2")
		_, err := Publish(ctx, e.c, e.opts())
		for _, w := range []string{"generation 1: import into sidus/gen-0001", "ceph_keyring /etc/ceph/ceph.client.admin.keyring", "pool sidus exists", "ceph-common"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("err = %v; want %q", err, w)
			}
		}
		if len(e.state().Generations) != 0 {
			t.Error("failed generation recorded")
		}
	})
	t.Run("snap protect fails: the image is removed", func(t *testing.T) {
		e := newEnv(t, "backend = \"rbd\"\nrbd_pool = \"sidus\"\nceph_monitors = [\"10.5.0.10\"]\n")
		rbd := "rbd --id admin --keyring /etc/ceph/ceph.client.admin.keyring --conf /etc/ceph/ceph.conf "
		e.fail[rbd+"snap protect"] = errors.New("exit status 1")
		if _, err := Publish(ctx, e.c, e.opts()); err == nil || !strings.Contains(err.Error(), "protect sidus/gen-0001@gen") {
			t.Errorf("err = %v", err)
		}
		l := e.lines()
		diffLines(t, "cleanup", l[len(l)-2:], []string{rbd + "snap rm --no-progress sidus/gen-0001@gen", rbd + "rm --no-progress sidus/gen-0001"})
	})
	t.Run("rbd without pool", func(t *testing.T) {
		e := newEnv(t, "")
		o := e.opts()
		o.Backend = "rbd"
		_, err := Publish(ctx, e.c, o)
		if err == nil || !strings.Contains(err.Error(), "generations.rbd_pool: missing") {
			t.Errorf("err = %v", err)
		}
		if len(e.fr.Calls) != 0 {
			t.Errorf("ran %v", e.fr.Lines())
		}
	})
	t.Run("leftover image", func(t *testing.T) {
		e := newEnv(t, "")
		os.MkdirAll(filepath.Join(e.d, "tree/var/lib/sidus/generations"), 0o755)
		os.WriteFile(filepath.Join(e.d, "tree/var/lib/sidus/generations/gen-0001.squashfs"), nil, 0o644)
		if _, err := Publish(ctx, e.c, e.opts()); err == nil || !strings.Contains(err.Error(), "exists but is not in") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestPublishDryRun(t *testing.T) {
	e := newEnv(t, "verity = true\n")
	e.fr.Respond = nil // as runner.Exec in dry-run mode: nothing runs
	o := e.opts()
	o.DryRun = true
	if _, err := Publish(context.Background(), e.c, o); err != nil {
		t.Fatal(err)
	}
	// The fake stands for runner.Exec in dry-run mode: it got the commands.
	if l := e.lines(); len(l) != 2 || !strings.Contains(l[1], "--hash-offset=<padded image size>") {
		t.Errorf("commands %v", l)
	}
	for _, p := range []string{StatePath(e.c), filepath.Join(e.d, "tftp", boot.DefaultFile), filepath.Join(e.d, "tree/var/lib/sidus/generations")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("dry run wrote %s", p)
		}
	}
	if !strings.Contains(e.log.String(), "would write "+e.d+"/tftp/pxelinux.cfg/default") || !strings.Contains(e.log.String(), "would publish generation 1") {
		t.Errorf("log:\n%s", e.log.String())
	}
}

func TestRollback(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	for range 3 {
		if _, err := Publish(ctx, e.c, e.opts()); err != nil {
			t.Fatal(err)
		}
	}
	img := func(n int) string {
		return e.r("APPEND console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=10.5.0.1:$D/tree,rsize=8192,wsize=8192,tcp ip=dhcp aufs=tmpfs sidus.image=var/lib/sidus/generations/" + FileName(n))
	}
	step := func(to, want int) {
		t.Helper()
		o := e.opts()
		o.To = to
		g, err := Rollback(ctx, e.c, o)
		if err != nil {
			t.Fatal(err)
		}
		if g.Number != want || e.state().Current != want {
			t.Errorf("rollback --to %d: now %d, state %d; want %d", to, g.Number, e.state().Current, want)
		}
		if got := e.appendLines(boot.DefaultFile)[0]; got != img(want) {
			t.Errorf("rollback --to %d: default APPEND\n%s\nwant\n%s", to, got, img(want))
		}
	}
	e.lines()
	step(0, 2)
	step(0, 1)
	o := e.opts()
	if _, err := Rollback(ctx, e.c, o); err == nil || !strings.Contains(err.Error(), "generation 1 is the oldest one kept") {
		t.Errorf("err = %v", err)
	}
	step(3, 3)
	o.To = 9
	if _, err := Rollback(ctx, e.c, o); err == nil || !strings.Contains(err.Error(), "no generation 9 (there are 1, 2, 3") {
		t.Errorf("err = %v", err)
	}
	os.Remove(e.state().Find(2).Location)
	o.To = 2
	if _, err := Rollback(ctx, e.c, o); err == nil || !strings.Contains(err.Error(), "generation 2: image") || e.state().Current != 3 {
		t.Errorf("err = %v, current %d", err, e.state().Current)
	}
	if e.lines() != nil {
		t.Error("nfs rollback ran commands")
	}
}

func TestRollbackRBDChecksImage(t *testing.T) {
	e := newEnv(t, "backend = \"rbd\"\nrbd_pool = \"sidus\"\nceph_monitors = [\"10.5.0.10\"]\n")
	ctx := context.Background()
	Publish(ctx, e.c, e.opts())
	Publish(ctx, e.c, e.opts())
	e.lines()
	rbd := "rbd --id admin --keyring /etc/ceph/ceph.client.admin.keyring --conf /etc/ceph/ceph.conf "
	e.fail[rbd+"info sidus/gen-0001@gen"] = &runner.Error{Cmd: "rbd info", Err: errors.New("exit status 2"), Output: "rbd: error opening image gen-0001: (2) No such file or directory"}
	if _, err := Rollback(ctx, e.c, e.opts()); err == nil || !strings.Contains(err.Error(), "generation 1: image sidus/gen-0001@gen") || e.state().Current != 2 {
		t.Errorf("err = %v", err)
	}
	delete(e.fail, rbd+"info sidus/gen-0001@gen")
	if _, err := Rollback(ctx, e.c, e.opts()); err != nil {
		t.Fatal(err)
	}
	if e.fr.Calls[len(e.fr.Calls)-1].ReadOnly != true {
		t.Error("rbd info is not ReadOnly")
	}
	diffLines(t, "rollback", e.lines(), []string{rbd + "info sidus/gen-0001@gen", rbd + "info sidus/gen-0001@gen"})
	if got := e.appendLines(boot.DefaultFile)[0]; !strings.Contains(got, " root=rbd:sidus/gen-0001@gen ") {
		t.Errorf("default APPEND %s", got)
	}
}

func TestPruneNFS(t *testing.T) {
	e := newEnv(t, "keep = 2\n")
	ctx := context.Background()
	for range 4 {
		Publish(ctx, e.c, e.opts())
	}
	o := e.opts()
	o.To = 1
	Rollback(ctx, e.c, o)
	// Dry run: nothing removed.
	o = e.opts()
	o.DryRun = true
	if res, err := Prune(ctx, e.c, o); err != nil || len(res.Removed) != 1 || len(e.state().Generations) != 4 {
		t.Fatalf("dry prune = %+v, %v", res, err)
	}
	res, err := Prune(ctx, e.c, e.opts())
	if err != nil || len(res.Removed) != 1 || res.Removed[0] != 2 {
		t.Fatalf("prune = %+v, %v", res, err)
	}
	st := e.state()
	if st.numbers() != "1, 3, 4" || st.Current != 1 || st.Last != 4 {
		t.Errorf("state %+v", st)
	}
	if _, err := os.Stat(filepath.Join(e.d, "tree/var/lib/sidus/generations/gen-0002.squashfs")); err == nil {
		t.Error("gen-0002 left")
	}
	// Numbers are not reused.
	g, _ := Publish(ctx, e.c, e.opts())
	if g == nil || g.Number != 5 {
		t.Errorf("next = %+v", g)
	}
	o = e.opts()
	o.Keep = 1
	if res, err := Prune(ctx, e.c, o); err != nil || len(res.Removed) != 3 {
		t.Errorf("prune --keep 1 = %+v %v", res, err)
	}
	if e.state().numbers() != "5" {
		t.Errorf("left %s", e.state().numbers())
	}
}

// stripUsers makes the recorded generations look published before they
// had a cephx user of their own.
func (e *env) stripUsers() {
	st := e.state()
	for i := range st.Generations {
		st.Generations[i].CephUser, st.Generations[i].Initrd = "", ""
	}
	if err := os.WriteFile(StatePath(e.c), st.Encode(), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// TestPruneRBD prunes generations published without a user of their own:
// as before, only rbd status can keep them, and the monitors are not asked.
func TestPruneRBD(t *testing.T) {
	e := newEnv(t, "backend = \"rbd\"\nrbd_pool = \"sidus\"\nceph_monitors = [\"10.5.0.10\"]\nkeep = 1\n")
	ctx := context.Background()
	for range 3 {
		Publish(ctx, e.c, e.opts())
	}
	e.stripUsers()
	e.lines()
	e.watchers["sidus/gen-0001"] = `{"watchers":[{"address":"10.5.0.21:0/3221","client":4171,"cookie":18446462598732840961}]}`
	res, err := Prune(ctx, e.c, e.opts())
	if err != nil {
		t.Fatal(err)
	}
	rbd := "rbd --id admin --keyring /etc/ceph/ceph.client.admin.keyring --conf /etc/ceph/ceph.conf "
	diffLines(t, "prune", e.lines(), []string{
		rbd + "status sidus/gen-0001 --format json",
		rbd + "status sidus/gen-0002 --format json",
		rbd + "snap ls sidus/gen-0002 --format json",
		rbd + "snap unprotect sidus/gen-0002@gen",
		rbd + "snap rm --no-progress sidus/gen-0002@gen",
		rbd + "rm --no-progress sidus/gen-0002",
	})
	if len(res.Removed) != 1 || res.Removed[0] != 2 || len(res.Kept) != 1 || res.Kept[0].Number != 1 || !strings.Contains(res.Kept[0].Reason, "1 watcher(s) (10.5.0.21:0/3221)") {
		t.Errorf("res = %+v", res)
	}
	if e.state().numbers() != "1, 3" {
		t.Errorf("state %s", e.state().numbers())
	}
	// A failure half-way: what was removed is recorded, the error says what to check.
	delete(e.watchers, "sidus/gen-0001")
	Publish(ctx, e.c, e.opts())
	e.fail[rbd+"rm --no-progress sidus/gen-0003"] = errors.New("exit status 16")
	_, err = Prune(ctx, e.c, e.opts())
	if err == nil || !strings.Contains(err.Error(), "prune generation 3: remove sidus/gen-0003") || !strings.Contains(err.Error(), "check that the cluster is reachable") {
		t.Errorf("err = %v", err)
	}
	if e.state().numbers() != "3, 4" {
		t.Errorf("state %s", e.state().numbers())
	}
	// An image already gone by hand leaves the state.
	delete(e.fail, rbd+"rm --no-progress sidus/gen-0003")
	e.fail[rbd+"status sidus/gen-0003"] = &runner.Error{Cmd: "rbd status", Err: errors.New("exit status 2"), Output: "rbd: error opening image gen-0003: (2) No such file or directory"}
	if res, err := Prune(ctx, e.c, e.opts()); err != nil || len(res.Removed) != 1 || e.state().numbers() != "4" {
		t.Errorf("prune = %+v, %v, state %s", res, err, e.state().numbers())
	}
}

func TestBootLine(t *testing.T) {
	c := golden.Config(t, "[generations]\nceph_monitors = [\"192.168.1.10\"]\n")
	nfs := &Generation{Number: 7, Backend: "nfs", Image: "img/gen-0007.squashfs"}
	rbd := &Generation{Number: 8, Backend: "rbd", Location: "p/gen-0008@gen", RootHash: "abcd"}
	for _, tc := range []struct {
		line string
		g    *Generation
		want string
	}{
		{cmdline.SeedTmpfs, nil, cmdline.SeedTmpfs},
		{"root=/dev/nfs nfsroot=auto ip=dhcp", nfs, "root=/dev/nfs nfsroot=192.168.1.1:/srv/nfsroot/sidus ip=dhcp sidus.image=img/gen-0007.squashfs"},
		{"root=/dev/nfs nfsroot=10.0.0.1,10.0.0.2:/x,vers=3 ip=dhcp", nfs, "root=/dev/nfs nfsroot=192.168.1.1:/srv/nfsroot/sidus,vers=3 ip=dhcp sidus.image=img/gen-0007.squashfs"},
		{"root=/dev/nfs ip=dhcp", nfs, "root=/dev/nfs ip=dhcp nfsroot=192.168.1.1:/srv/nfsroot/sidus sidus.image=img/gen-0007.squashfs"},
		{"root=/dev/nfs nfsroot=,tcp ip=dhcp sidus.image=old sidus.verity=00", rbd, "root=rbd:p/gen-0008@gen ip=dhcp sidus.ceph.mon=192.168.1.10:6789 sidus.verity=abcd"},
		{"root=rbd:p/gen-0008@gen ip=dhcp sidus.ceph.mon=1.1.1.1 sidus.verity=abcd", nfs, "root=/dev/nfs ip=dhcp nfsroot=192.168.1.1:/srv/nfsroot/sidus sidus.image=img/gen-0007.squashfs"},
		{`console=tty1 "quoted arg=a b" root=/dev/nfs`, rbd, `console=tty1 "quoted arg=a b" root=rbd:p/gen-0008@gen sidus.ceph.mon=192.168.1.10:6789 sidus.verity=abcd`},
	} {
		got, err := BootLine(c, tc.line, tc.g)
		if err != nil || got != tc.want {
			t.Errorf("BootLine(%q, %v) =\n%q, %v\nwant\n%q", tc.line, tc.g, got, err, tc.want)
		}
	}
	c2 := golden.Config(t, "")
	if _, err := BootLine(c2, cmdline.SeedTmpfs, rbd); err == nil || !strings.Contains(err.Error(), "generations.ceph_monitors") {
		t.Errorf("rbd without monitors: %v", err)
	}
}

func TestBootFilesWithoutGeneration(t *testing.T) {
	c := golden.Config(t, "state_dir = \""+t.TempDir()+"\"\n")
	fs, err := BootFiles(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := boot.DefaultConfig(c)
	ipxe, _ := boot.IPXEScript(c)
	if len(fs) != 2 || string(fs[0].Data) != def || string(fs[1].Data) != ipxe {
		t.Errorf("BootFiles(nil) differ from package boot's files: %+v", fs)
	}
	// With a generation: golden files.
	g := &Generation{Number: 3, Backend: "rbd", Location: "sidus/gen-0003@gen", RootHash: hash1}
	c = golden.Config(t, "state_dir = \""+t.TempDir()+"\"\n[boot]\nconsole = \"ttyS0,115200\"\n[generations]\nceph_monitors = [\"192.168.1.10:6789\", \"192.168.1.11:6789\"]\n")
	fs, err = BootFiles(c, g)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "pxelinux-default-rbd", string(fs[0].Data))
	golden.Check(t, "sidus-rbd.ipxe", string(fs[1].Data))
}

func TestParsers(t *testing.T) {
	if h, err := ParseRootHash("VERITY header information for x\nSalt:            \tab\nRoot hash:      \t" + strings.ToUpper(hash1) + "\n"); err != nil || h != hash1 {
		t.Errorf("ParseRootHash = %q, %v", h, err)
	}
	if _, err := ParseRootHash("Root hash: zz\n"); err == nil {
		t.Error("bad hash accepted")
	}
	if _, err := ParseRootHash("nothing\n"); err == nil || !strings.Contains(err.Error(), `no "Root hash:" line`) {
		t.Errorf("err = %v", err)
	}
	if w, err := Watchers([]byte(`{"watchers":[{"address":"a"},{"address":"b"}]}`)); err != nil || len(w) != 2 {
		t.Errorf("Watchers = %v, %v", w, err)
	}
	if _, err := Watchers([]byte("garbage")); err == nil {
		t.Error("Watchers accepted garbage")
	}
	for _, tc := range []struct{ in, want int64 }{{0, 0}, {1, 4096}, {4096, 4096}, {5000, 8192}} {
		if got := Padded(tc.in); got != tc.want {
			t.Errorf("Padded(%d) = %d", tc.in, got)
		}
	}
	for _, tc := range []struct {
		in         string
		exists, pr bool
	}{{`[]`, false, false}, {`[{"name":"gen","protected":"false"}]`, true, false}, {`[{"name":"gen","protected":true}]`, true, true}} {
		if e, p, err := snapProtected([]byte(tc.in)); err != nil || e != tc.exists || p != tc.pr {
			t.Errorf("snapProtected(%s) = %v %v %v", tc.in, e, p, err)
		}
	}
}

func TestLoadStateErrors(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "s.json")
	for _, tc := range []struct{ text, want string }{
		{"{", "fix it by hand"},
		{`{"current":2,"generations":[{"number":1}]}`, "current generation 2 is not listed (there are 1)"},
		{`{"generations":[{"number":1},{"number":1}]}`, "repeated generation number 1"},
	} {
		os.WriteFile(p, []byte(tc.text), 0o644)
		if _, err := LoadState(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadState(%s) = %v; want %q", tc.text, err, tc.want)
		}
	}
	if st, err := LoadState(filepath.Join(d, "none")); err != nil || st.Current != 0 || len(st.Generations) != 0 {
		t.Errorf("missing: %+v %v", st, err)
	}
}
