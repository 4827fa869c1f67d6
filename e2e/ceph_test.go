package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/qemu/disk"
	"github.com/sidus-go/sidus/qemu/gobuild"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/roots"
	"github.com/sidus-go/sidus/qemu/vm"
	"github.com/sidus-go/sidus/server/generation"
)

// The shared root past one NFS server (issue 15): RBD snapshots and CephFS
// from a real Ceph cluster in the lab (mon, mgr, two OSDs on files, mds),
// squashfs generations on the NFS export, dm-verity. One cluster and one
// lab serve every case.

// genMarker is the file of the test roots that says which generation a
// node booted.
const genMarker = "/etc/sidus-generation"

// genRoot makes a copy of the busybox test root whose genMarker says name.
func genRoot(t *testing.T, dir, name string) string {
	t.Helper()
	root := filepath.Join(dir, "tree-"+name)
	if out, err := exec.Command("cp", "-a", rootDir, root).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(root, genMarker), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// squash builds root's squashfs image at out (as sidus gen publish does)
// and, with verity, appends its dm-verity hash tree and returns the root
// hash.
func squash(t *testing.T, root, out string, verity bool) string {
	t.Helper()
	run := func(args []string) string {
		o, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, o)
		}
		return string(o)
	}
	run(generation.MksquashfsCmd(root, out, nil).Args)
	if !verity {
		return ""
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	off := generation.Padded(fi.Size())
	if err := os.Truncate(out, off); err != nil {
		t.Fatal(err)
	}
	h, err := generation.ParseRootHash(run(generation.VerityCmd(out, off).Args))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// cephEnv is what the Ceph cases share.
type cephEnv struct {
	lab    *lab.Lab
	ceph   *lab.Ceph
	initrd string
	mon    string
	keys   []string // the cephx keys in the initrd, which must never show
}

// cephNodeIP is the fixed address of the node on tap 0, whose iSCSI
// target is iqnPrefix+cephNodeIP.
const cephNodeIP = "192.168.77.61"

func TestCephRoots(t *testing.T) {
	setup(t)
	dir := t.TempDir()
	gen1 := genRoot(t, dir, "gen-1")
	// The export is the tree of sidus gen (case 5), whose generations
	// directory also holds the hand-made images of the other cases.
	export := filepath.Join(dir, "srv/nfsroot/sidus")
	if err := os.MkdirAll(filepath.Dir(export), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", gen1, export).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(export, "generations"), 0o755); err != nil {
		t.Fatal(err)
	}
	img1 := filepath.Join(export, "generations", "img-plain.squashfs")
	squash(t, gen1, img1, false)
	imgV := filepath.Join(export, "generations", "img-verity.squashfs")
	hashV := squash(t, gen1, imgV, true)
	imgBad := filepath.Join(dir, "img-tampered.squashfs")
	tamper(t, imgV, imgBad)

	lun := filepath.Join(dir, "rw.img")
	if err := disk.MakeExt4(lun, lunMB, rwLabel); err != nil {
		t.Fatal(err)
	}
	var hosts []lab.DHCPHost
	for i := 0; i < 8; i++ {
		hosts = append(hosts, lab.DHCPHost{MAC: lab.MAC(i), IP: fmt.Sprintf("192.168.77.%d", 61+i), Hostname: fmt.Sprintf("ceph%d", i)})
	}
	l := lab.Start(t, lab.Options{RootDir: export, Taps: 8, Tgtd: true, Hosts: hosts})
	if err := l.AddISCSITarget(lab.ISCSITarget{TID: 1, Name: iqnPrefix + cephNodeIP, Image: lun}); err != nil {
		t.Fatal(err)
	}
	c, err := l.StartCeph(lab.CephOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range [][]string{
		{"import", img1, c.Pool + "/img-plain"}, {"snap", "create", c.Pool + "/img-plain@gen"}, {"snap", "protect", c.Pool + "/img-plain@gen"},
		{"import", imgV, c.Pool + "/img-verity"}, {"snap", "create", c.Pool + "/img-verity@gen"},
		{"import", imgBad, c.Pool + "/img-bad"}, {"snap", "create", c.Pool + "/img-bad@gen"},
	} {
		if out, err := c.RBD(s...); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	// CephFS holds the generation-1 tree, copied with ceph-fuse.
	fsDir := filepath.Join(dir, "cephfs")
	umount, err := c.MountFS(fsDir)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", gen1+"/.", fsDir+"/").CombinedOutput(); err != nil {
		t.Fatalf("fill CephFS: %v %s", err, out)
	}
	mounted := true
	defer func() {
		if mounted {
			umount()
		}
	}()

	// The nodes' keyring: a read-only RBD client and a read-only CephFS one.
	rbdKey, err := c.ReadOnlyRBDClient("node")
	if err != nil {
		t.Fatal(err)
	}
	fsKey, err := c.ReadOnlyFSClient("fsnode")
	if err != nil {
		t.Fatal(err)
	}
	ring := filepath.Join(dir, "ceph.keyring")
	if err := os.WriteFile(ring, append(append(rbdKey, '\n'), fsKey...), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &cephEnv{lab: l, ceph: c, mon: c.Mon}
	for _, k := range [][]byte{rbdKey, fsKey} {
		if m := regexp.MustCompile(`key = (\S+)`).FindSubmatch(k); m != nil {
			e.keys = append(e.keys, string(m[1]))
		}
	}
	if e.initrd, err = gobuild.Initrd(gobuild.InitrdOptions{Dir: buildDir, Kernel: guest, Shell: roots.BusyboxPath,
		Modules: []string{"rbd", "ceph", "dm_verity"}, CephKeyring: ring, Out: filepath.Join(dir, "initrd-ceph.img")}); err != nil {
		t.Fatal(err)
	}
	rbdLine := "root=rbd:" + c.Pool + "/img-plain@gen sidus.ceph.mon=" + c.Mon
	report := "sidus.test.report=" + genMarker

	// Case 1: an RBD generation under a tmpfs upper, under the iSCSI LUN
	// of the node (the seed's iSCSI words) and under a local disk.
	t.Run("rbd-tmpfs", func(t *testing.T) {
		vm := e.boot(t, 0, rbdLine+" aufs=tmpfs "+report+",/sys/block/rbd0/stat,/run/sidus/boot.json")
		e.expectImageRoot(t, vm, "tmpfs", "gen-1")
		// The boot report says what the root is, never the key (noKeys).
		if !matchLine(vm, `SIDUS-ROOT: file /run/sidus/boot.json .*"lower": \{.*"kind": "rbd".*"device": "/dev/rbd0"`) {
			t.Errorf("boot.json does not record the RBD root")
		}
		if m := regexp.MustCompile(`SIDUS-ROOT: file /sys/block/rbd0/stat\s+\d+\s+\d+\s+(\d+)`).FindStringSubmatch(vm.Console()); m != nil {
			t.Logf("rbd-tmpfs: the node read %s sectors (512 B) of the RBD image up to its root's report", m[1])
		}
		if !matchLine(vm, `sidus: .*rbd `+c.Pool+`/img-plain@gen`) {
			t.Errorf("no line names the mapped snapshot")
		}
	})
	t.Run("rbd-iscsi", func(t *testing.T) {
		vm := e.boot(t, 0, rbdLine+" aufs=iscsi ISCSI_TARGET_IP= ISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default root=LABEL=ISCSI "+report)
		e.expectImageRoot(t, vm, "ext4", "gen-1")
	})
	t.Run("rbd-local-disk", func(t *testing.T) {
		scratch := filepath.Join(dir, "scratch.img")
		if err := disk.MakeExt4(scratch, lunMB, "scratch"); err != nil {
			t.Fatal(err)
		}
		vm := e.boot(t, 0, rbdLine+" overlayroot=device:dev=LABEL=scratch "+report, func(o *vm.Options) { o.Disks = []string{scratch} })
		e.expectImageRoot(t, vm, "ext4", "gen-1")
	})
	// Case 2: the CephFS tree, live: a change of the tree reaches the
	// running node.
	t.Run("cephfs", func(t *testing.T) {
		vm := e.boot(t, 0, "root=cephfs:/ sidus.ceph.mon="+c.Mon+" sidus.ceph.user=fsnode aufs=tmpfs sidus.test=hold sidus.test.every=3 "+report)
		if _, err := vm.ExpectAll(bootTimeout,
			`SIDUS-ROOT: mount /ro ceph ro,`,
			`SIDUS-ROOT: file `+genMarker+` gen-1`,
			`SIDUS-ROOT: hold`); err != nil {
			return
		}
		if err := os.WriteFile(filepath.Join(fsDir, genMarker[1:]), []byte("gen-1-changed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		changed := time.Now()
		if _, err := vm.Expect(`SIDUS-ROOT: file `+genMarker+` gen-1-changed`, 60*time.Second); err != nil {
			return
		}
		t.Logf("cephfs: the running node saw the tree's change within %v", time.Since(changed).Round(100*time.Millisecond))
		e.noKeys(t, vm)
	})
	if err := umount(); err != nil {
		t.Error(err)
	}
	mounted = false
	// Case 4: dm-verity: the image with its hash tree boots; a tampered
	// copy is refused.
	t.Run("verity", func(t *testing.T) {
		vm := e.boot(t, 0, "root=rbd:"+c.Pool+"/img-verity@gen sidus.ceph.mon="+c.Mon+" sidus.verity="+hashV+" aufs=tmpfs "+report)
		e.expectImageRoot(t, vm, "tmpfs", "gen-1")
		vm = e.boot(t, 0, "root=rbd:"+c.Pool+"/img-bad@gen sidus.ceph.mon="+c.Mon+" sidus.verity="+hashV+" aufs=tmpfs panic=5 "+report)
		if _, err := vm.ExpectAll(bootTimeout, `sidus: FATAL: .*dm-verity`, `sidus: panic=5: rebooting in 5 seconds`); err != nil {
			return
		}
		if matchLine(vm, `SIDUS-ROOT: init-started`) {
			t.Errorf("the tampered image booted")
		}
	})
	// The same generations without Ceph: a squashfs file on the NFS
	// export, loop-mounted, with and without dm-verity.
	t.Run("image-nfs", func(t *testing.T) {
		nfs := "root=/dev/nfs nfsroot=" + l.NFSRoot() + " "
		vm := e.boot(t, 0, nfs+"sidus.image=generations/img-plain.squashfs aufs=tmpfs "+report)
		e.expectImageRoot(t, vm, "tmpfs", "gen-1")
		vm = e.boot(t, 0, nfs+"sidus.image=generations/img-verity.squashfs sidus.verity="+hashV+" aufs=tmpfs "+report)
		e.expectImageRoot(t, vm, "tmpfs", "gen-1")
	})
	// Case 5: sidus gen publishes the tree as RBD generations and switches
	// pxelinux to each; a rollback boots the old one again; a node that
	// keeps running keeps its generation throughout.
	t.Run("generations", func(t *testing.T) { e.generations(t, dir, export) })
	// Case 3: eight nodes boot from one RBD generation while an OSD is
	// killed (pool size 2): all eight boot.
	t.Run("eight-nodes-osd-down", func(t *testing.T) {
		var vms []*vm.VM
		for i := 0; i < 8; i++ {
			vms = append(vms, e.boot(t, i, rbdLine+" aufs=tmpfs "+report, func(o *vm.Options) { o.Memory = "384M" }))
		}
		if _, err := vms[0].Expect(`sidus: .*rbd `+c.Pool+`/img-plain@gen`, bootTimeout*2); err != nil {
			return
		}
		if err := c.KillOSD(1); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		for _, vm := range vms {
			e.expectImageRoot(t, vm, "tmpfs", "gen-1")
		}
		n := 0
		for _, vm := range vms {
			if matchLine(vm, `SIDUS-ROOT: done`) {
				n++
			}
		}
		t.Logf("%d of 8 nodes booted from one RBD generation, osd.1 killed when the first had mapped it (%v before the last was done)", n, time.Since(killed).Round(time.Second))
	})
}

// boot starts a node on tap i with the Ceph initrd.
func (e *cephEnv) boot(t *testing.T, i int, line string, mod ...func(*vm.Options)) *vm.VM {
	t.Helper()
	o := vm.Options{Kernel: guest.Vmlinuz, Initrd: e.initrd, Append: "console=ttyS0 ip=dhcp panic=-1 " + line, NoReboot: true,
		NetDevs: []vm.NetDev{e.lab.NetDev(i)}}
	for _, f := range mod {
		f(&o)
	}
	return vm.Start(t, e.lab, o)
}

// expectImageRoot checks the report of a node booted on a squashfs
// generation under the upper (tmpfs or ext4), which says generation gen.
func (e *cephEnv) expectImageRoot(t *testing.T, vm *vm.VM, upper, gen string) {
	t.Helper()
	if _, err := vm.ExpectAll(bootTimeout,
		`sidus: stage nfs: done in`,
		`SIDUS-ROOT: mount / overlay rw,.*lowerdir=/ro,upperdir=/rw/upper`,
		`SIDUS-ROOT: mount /ro squashfs ro`,
		`SIDUS-ROOT: mount /rw `+upper+` rw`,
		`SIDUS-ROOT: write / ok`,
		`SIDUS-ROOT: write /ro fail`,
		`SIDUS-ROOT: file `+genMarker+` `+gen,
		`SIDUS-ROOT: done`); err != nil {
		return
	}
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Errorf("qemu after poweroff: %v", err)
	}
	e.noKeys(t, vm)
}

// noKeys fails if a cephx key shows on the console (the init's logs and
// the root's report, which includes the boot report's files).
func (e *cephEnv) noKeys(t *testing.T, vm *vm.VM) {
	t.Helper()
	c := vm.Console()
	for _, k := range e.keys {
		if strings.Contains(c, k) {
			t.Errorf("a cephx key shows on the console")
		}
	}
}

// tamper copies img to out with one byte of its filesystem (in the first
// block: the squashfs superblock's block) changed, as an attacker with
// write access to the storage would.
func tamper(t *testing.T, img, out string) {
	t.Helper()
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Clone(b)
	b[200] ^= 0xff
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// generations is case 5, with the sidus command (cmd/sidus) on a tree of
// its own and the lab's cluster (run inside the lab, where the monitor is).
func (e *cephEnv) generations(t *testing.T, dir, tree string) {
	bin := filepath.Join(dir, "bin")
	sidusBin, err := gobuild.GoBuild(bin, "sidus", "./cmd/sidus")
	if err != nil {
		t.Fatal(err)
	}
	setMarker := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(tree, genMarker), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setMarker("gen-A")
	tftp := filepath.Join(dir, "srv/tftp")
	conf := filepath.Join(dir, "etc/sidus/sidus.toml")
	writeFile(t, conf, fmt.Sprintf(`# e2e/ceph_test.go: generations on the lab's Ceph cluster.
tree = %q
state_dir = %q

[network]
cidr = "192.168.77.0/24"
server_ip = %q

[tftp]
root = %q

[boot]
console = "ttyS0"

[generations]
backend = "rbd"
rbd_pool = %q
ceph_monitors = [%q]
ceph_conf = %q
ceph_keyring = %q
ceph_id = "admin"
nfs_dir = "generations"
`, tree, filepath.Join(dir, "var/lib/sidus"), e.lab.ServerIP, tftp, e.ceph.Pool, e.ceph.Mon, e.ceph.Conf, e.ceph.Admin))
	s := &sidusCLI{t: t, bin: sidusBin, conf: conf}
	// The APPEND line of pxelinux.cfg/default's default label.
	appendLine := func() string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(tftp, "pxelinux.cfg", "default"))
		if err != nil {
			t.Fatal(err)
		}
		def := regexp.MustCompile(`(?m)^\s*DEFAULT\s+(\S+)`).FindSubmatch(b)
		if def == nil {
			t.Fatalf("pxelinux.cfg/default has no DEFAULT:\n%s", b)
		}
		blocks := regexp.MustCompile(`(?ms)^\s*LABEL\s+` + regexp.QuoteMeta(string(def[1])) + `\s*$.*?^\s*APPEND\s+([^\n]*)`).FindSubmatch(b)
		if blocks == nil {
			t.Fatalf("pxelinux.cfg/default has no APPEND for label %s:\n%s", def[1], b)
		}
		return string(blocks[1])
	}
	report := "sidus.test.report=" + genMarker
	// bootGen boots a node with a generation's APPEND line and the initrds
	// it names after the main one (the generation's key) concatenated to
	// ours, as pxelinux loads them.
	bootGen := func(tap int, line string, extra string) *vm.VM {
		t.Helper()
		initrd := e.initrd
		if m := regexp.MustCompile(`(?:^| )initrd=initrd\.img-Sidus,(\S+)`).FindStringSubmatch(line); m != nil {
			all, err := os.ReadFile(e.initrd)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range strings.Split(m[1], ",") {
				b, err := os.ReadFile(filepath.Join(tftp, f))
				if err != nil {
					t.Fatalf("the APPEND line's initrd %s: %v", f, err)
				}
				// Each initrd starts on 4 bytes, as pxelinux and iPXE
				// load them (the kernel needs it).
				for len(all)%4 != 0 {
					all = append(all, 0)
				}
				all = append(all, b...)
			}
			initrd = filepath.Join(dir, fmt.Sprintf("initrd-tap%d.img", tap))
			if err := os.WriteFile(initrd, all, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		o := vm.Options{Kernel: guest.Vmlinuz, Initrd: initrd, Append: line + " panic=-1 " + extra + " " + report, NoReboot: true,
			NetDevs: []vm.NetDev{e.lab.NetDev(tap)}}
		return vm.Start(t, e.lab, o)
	}

	s.must(e.lab, 5*time.Minute, nil, "gen", "publish")
	line1 := appendLine()
	if !strings.Contains(line1, "root=rbd:"+e.ceph.Pool+"/gen-0001@gen") || !strings.Contains(line1, "sidus.ceph.mon="+e.ceph.Mon) {
		t.Fatalf("generation 1's APPEND line: %q", line1)
	}
	// Node A boots generation 1 and keeps running.
	a := bootGen(1, line1, "sidus.test=hold sidus.test.every=5")
	if _, err := a.ExpectAll(bootTimeout, `sidus: cephx: client\.sidus-gen-0001 from /etc/sidus/ceph\.keyring`,
		`SIDUS-ROOT: file `+genMarker+` gen-A`, `SIDUS-ROOT: hold`); err != nil {
		return
	}
	setMarker("gen-B")
	s.must(e.lab, 5*time.Minute, nil, "gen", "publish")
	line2 := appendLine()
	if !strings.Contains(line2, "/gen-0002@gen") {
		t.Fatalf("generation 2's APPEND line: %q", line2)
	}
	b := bootGen(2, line2, "")
	e.expectImageRoot(t, b, "tmpfs", "gen-B")
	if out, err := e.ceph.RBD("status", e.ceph.Pool+"/gen-0001"); err == nil {
		t.Logf("rbd status gen-0001 while node A maps its snapshot:\n%s", out)
	}
	if out, err := e.ceph.CLI("tell", "mon.a", "sessions"); err == nil {
		t.Logf("the monitor's sessions while node A maps its snapshot:\n%s", out)
	} else {
		t.Logf("ceph tell mon.a sessions: %v", err)
	}
	// Prune keeps generation 1: node A runs it (the monitors' sessions
	// of its identity say so), even beyond --keep 1.
	pruned := s.must(e.lab, 2*time.Minute, nil, "gen", "prune", "--keep", "1")
	if !strings.Contains(pruned, "generation 1 kept: in use by 192.168.77.62") {
		t.Errorf("gen prune --keep 1 did not keep generation 1 for node A (192.168.77.62):\n%s", pruned)
	}
	if out, err := e.ceph.RBD("info", e.ceph.Pool+"/gen-0001"); err != nil {
		t.Fatalf("generation 1's image is gone while node A runs it: %v %s", err, out)
	}
	s.must(e.lab, 2*time.Minute, nil, "gen", "rollback")
	line3 := appendLine()
	if line3 != line1 {
		t.Errorf("after rollback the APPEND line is %q, want generation 1's %q", line3, line1)
	}
	list := s.must(e.lab, time.Minute, nil, "gen", "list")
	if !regexp.MustCompile(`(?m)^\s*\*\s*1\b`).MatchString(list) {
		t.Errorf("gen list does not mark generation 1 current:\n%s", list)
	}
	c := bootGen(3, line3, "")
	e.expectImageRoot(t, c, "tmpfs", "gen-A")
	// Node A, up since generation 1, still reads generation 1.
	if _, err := a.Expect(`SIDUS-ROOT: again \d+`, 30*time.Second); err != nil {
		return
	}
	if _, err := a.Expect(`SIDUS-ROOT: file `+regexp.QuoteMeta(genMarker)+` gen-A`, 10*time.Second); err != nil {
		return
	}
	if regexpMatchAny(a.Lines(), `SIDUS-ROOT: file `+regexp.QuoteMeta(genMarker)+` gen-B`) {
		t.Errorf("node A, booted on generation 1, saw generation 2")
	}
	a.Kill()

	// The same without Ceph: a generation on the NFS export.
	setMarker("gen-C")
	s.must(e.lab, 5*time.Minute, nil, "gen", "publish", "--backend", "nfs")
	line4 := appendLine()
	if !strings.Contains(line4, "sidus.image=generations/gen-0003.squashfs") || strings.Contains(line4, "root=rbd:") {
		t.Fatalf("generation 3's APPEND line: %q", line4)
	}
	d := bootGen(4, line4, "")
	e.expectImageRoot(t, d, "tmpfs", "gen-C")

	// Once the nodes of generations 1 and 2 are gone (their monitor
	// sessions close when their connections idle out: 30 s in the lab),
	// prune removes them, their images and their identities.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		list := s.must(e.lab, time.Minute, nil, "gen", "list")
		if !strings.Contains(list, "192.168.77.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the monitors still list nodes of old generations 3 minutes after they stopped:\n%s", list)
		}
		time.Sleep(5 * time.Second)
	}
	pruned = s.must(e.lab, 2*time.Minute, nil, "gen", "prune", "--keep", "1")
	for _, img := range []string{"gen-0001", "gen-0002"} {
		if out, err := e.ceph.RBD("info", e.ceph.Pool+"/"+img); err == nil {
			t.Errorf("gen prune --keep 1 left %s:\n%s\n%s", img, pruned, out)
		}
	}
	if out, err := e.ceph.CLI("auth", "ls"); err != nil || strings.Contains(string(out), "client.sidus-gen-0001") {
		t.Errorf("gen prune left client.sidus-gen-0001 (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(tftp, "gen-0001.img")); err == nil {
		t.Errorf("gen prune left gen-0001.img in the TFTP root")
	}
}
