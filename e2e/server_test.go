package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/gobuild"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/pxe"
	"github.com/sidus-go/sidus/qemu/roots"
	"github.com/sidus-go/sidus/qemu/vm"
)

// Issue 11's end-to-end test: a lab server configured only by `sidus`
// commands (cmd/sidus, run as a program with its own sidus.toml), from an
// empty folder to two PXE-booted Debian nodes, one on a tmpfs and one on
// an iSCSI LUN with CHAP; then a package installed into the live tree
// while they run, a boot rollback and a node removal.
//
// The servers are those of a real SIDUS server, in a lab (qemu/lab, its
// own network and mount namespaces), each started from the files sidus
// wrote: isc-dhcp-server's dhcpd (sidus's include file), tftpd-hpa's
// in.tftpd (the TFTP root sidus filled), nfs-ganesha (sidus's EXPORT
// block, %include'd from a main file with the lab's core settings) and
// tgtd (tgt-admin over sidus's conf.d). sidus.toml points every path into
// the test's folder and has no reload commands: the test (re)starts the
// servers itself, never the host's services.

// serverKernelPackage is the kernel the test's tree profile installs.
const serverKernelPackage = "linux-image-cloud-amd64"

// serverBootTimeout bounds one node's boot, from QEMU's start to its
// report: PXE (iPXE, pxelinux, kernel and initrd over TFTP) then systemd,
// two nodes at once under TCG on two cores.
const serverBootTimeout = 480 * time.Second

// serverLiveFor is how long each node runs the program the test installs
// (sidus.test.livefor), from its report on: long enough for the slower
// node to report, the install and the agent's reaction.
const serverLiveFor = 180

// serverNode is one node of the test, on lab tap Tap.
type serverNode struct {
	Name, IP string
	Tap      int
	ISCSI    bool
}

func (n serverNode) MAC() string { return lab.MAC(n.Tap) }

// sidusCLI runs the sidus program with the test's configuration, on the
// host or, with a lab, inside the lab's namespaces (where tgtadm reaches
// the lab's tgtd, not the host's).
type sidusCLI struct {
	t    *testing.T
	bin  string
	conf string
}

// run runs sidus ARGS (env: extra VAR=VALUE), within timeout, and returns
// its combined output; the command, its duration and the end of its
// output are logged.
func (s *sidusCLI) run(l *lab.Lab, timeout time.Duration, env []string, args ...string) (string, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append([]string{s.bin, "--config", s.conf}, args...)
	start := time.Now()
	var out []byte
	var err error
	if l == nil {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		out, err = cmd.CombinedOutput()
	} else {
		out, err = l.Exec(ctx, append(append([]string{"env"}, env...), argv...)...)
	}
	where, status := "host", "ok"
	if l != nil {
		where = l.NS
	}
	if err != nil {
		status = "failed"
	}
	s.t.Logf("[%s] %ssidus %s (%.1fs, %s):\n%s", where, strings.Join(append(env, ""), " "), strings.Join(args, " "),
		time.Since(start).Seconds(), status, lastLines(string(out), 40))
	return string(out), err
}

// must is run that fails the test on an error.
func (s *sidusCLI) must(l *lab.Lab, timeout time.Duration, env []string, args ...string) string {
	s.t.Helper()
	out, err := s.run(l, timeout, env, args...)
	if err != nil {
		s.t.Fatalf("sidus %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TestServer: issue 11's end-to-end test (see the top of this file).
func TestServer(t *testing.T) {
	qemu.Require(t)
	if testing.Short() {
		t.Skip("-short: this test debootstraps a tree (once) and boots two Debian nodes for about 10 minutes")
	}
	var times []string
	begin := time.Now()
	step := func(name string, start time.Time) {
		d := time.Since(start).Round(100 * time.Millisecond)
		t.Logf("STEP %s: %v", name, d)
		times = append(times, fmt.Sprintf("%s %v", name, d))
	}
	defer func() {
		t.Logf("step times (total %v): %s", time.Since(begin).Round(time.Second), strings.Join(times, "; "))
	}()

	dir := t.TempDir()
	p := func(rel string) string { return filepath.Join(dir, rel) }
	var (
		treeDir     = p("srv/nfsroot/sidus")
		tftpRoot    = p("srv/tftp")
		dhcpInclude = p("etc/dhcp/sidus.conf")
		dhcpdConf   = p("etc/dhcp/dhcpd.conf")
		leases      = p("var/lib/dhcp/dhcpd.leases")
		ganeshaConf = p("etc/ganesha/ganesha.conf")
		ganeshaExp  = p("etc/ganesha/sidus-export.conf")
		tgtConfDir  = p("etc/tgt/conf.d")
		lunDir      = p("srv/iscsi")
		stateDir    = p("var/lib/sidus")
	)
	for _, d := range []string{tftpRoot, filepath.Dir(dhcpInclude), filepath.Dir(leases), filepath.Dir(ganeshaConf), tgtConfDir, filepath.Dir(treeDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	nodes := []serverNode{{Name: "node21", IP: "192.168.77.21", Tap: 0}, {Name: "node22", IP: "192.168.77.22", Tap: 1, ISCSI: true}}
	const (
		iqn      = "iqn.2013-04.zone.sidus.target:192.168.77.22"
		liveProg = "sidus-e2e-hello"
		liveOut  = "sidus-e2e-hello-v1"
	)

	// 0. The programs: sidus, and the static init and agent it packs.
	start := time.Now()
	bin := p("bin")
	sidusBin, err := gobuild.GoBuild(bin, "sidus", "./cmd/sidus")
	if err != nil {
		t.Fatal(err)
	}
	initBin, err := gobuild.Init(bin)
	if err != nil {
		t.Fatal(err)
	}
	step("build sidus, sidus-init (also the agent: no boot.agent below)", start)

	conf := p("etc/sidus/sidus.toml")
	writeFile(t, conf, fmt.Sprintf(`# e2e/server_test.go: every path in the test's folder, no reloads.
tree = %q
state_dir = %q

[network]
cidr = "192.168.77.0/24"
server_ip = %q

[tftp]
root = %q

[boot]
init = %q
console = "ttyS0"
# Not node21's label: its tmpfs boot proves pxelinux read its own file.
default_label = "iscsi"
append = "sidus.live=10 sidus.test.live=%s sidus.test.livefor=%d sidus.test=poweroff"

[dhcp]
server = "isc-dhcp-server"
include = %q
conf = %q
leases = %q
reload = []

[nfs]
server = "nfs-ganesha"
ganesha_conf = %q
ganesha_export = %q
reload = []

[iscsi]
tgt_conf_dir = %q
lun_dir = %q
default_size = "1G"
`, treeDir, stateDir, lab.DefaultServerIP, tftpRoot, initBin, liveProg, serverLiveFor,
		dhcpInclude, dhcpdConf, leases, ganeshaConf, ganeshaExp, tgtConfDir, lunDir))
	s := &sidusCLI{t: t, bin: sidusBin, conf: conf}

	// 1. sidus tree create, from a small profile and this host's Debian
	// mirror. The debootstrapped tree is cached (qemu.CacheDir(), by the
	// profile's hash); each run copies it and runs tree create again on
	// the copy, which only puts back what changed.
	profile := roots.DebianProfile(serverKernelPackage)
	profileFile := p("etc/sidus/profile.toml")
	writeFile(t, profileFile, profile)
	mirror, err := roots.HostMirror(roots.DebianSuite)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	cached, err := roots.CachedTree("sidustree", profile, func(tree string) error {
		return buildServerTree(tree, sidusBin, profileFile, mirror)
	}, t.Logf)
	if err != nil {
		t.Fatalf("the cached tree: %v", err)
	}
	step("tree create: debootstrap (cached: "+cached+")", start)
	start = time.Now()
	if out, err := exec.Command("cp", "-a", cached, treeDir).CombinedOutput(); err != nil {
		t.Fatalf("copy the cached tree: %v\n%s", err, out)
	}
	step("copy the cached tree", start)
	start = time.Now()
	s.must(nil, 10*time.Minute, nil, "tree", "create", "--profile", profileFile, "--mirror", mirror)
	// The test's own report service (SIDUS-DEB: lines) and console login.
	if err := roots.FitDebian(treeDir); err != nil {
		t.Fatal(err)
	}
	step("tree create (again, on the copy) + the report service", start)
	if _, err := os.Stat(filepath.Join(treeDir, "etc/hostname")); err == nil {
		t.Errorf("the tree has an /etc/hostname: sidus tree create must remove it")
	}
	gen0 := strings.TrimSpace(s.must(nil, time.Minute, nil, "tree", "generation"))

	// 2. sidus boot publish; pxelinux from the host, as the README says.
	// SOURCE_DATE_EPOCH makes this pair differ from the one published in
	// step 7, which is rolled back to this one.
	start = time.Now()
	s.must(nil, 10*time.Minute, []string{"SOURCE_DATE_EPOCH=1"}, "boot", "publish")
	for src, dst := range map[string]string{pxe.PXELinux: "pxelinux.0", pxe.LDLinux: "ldlinux.c32"} {
		if err := copyFile(src, filepath.Join(tftpRoot, dst), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	step("boot publish", start)
	pairA := bootPair(t, tftpRoot, "")

	// 3. The lab, then sidus setup and two sidus node add. They run inside
	// the lab, where tgtd is not running yet: the target is only written
	// to conf.d, which tgt-admin applies in step 4.
	start = time.Now()
	l := lab.Start(t, lab.Options{Taps: len(nodes), NoDHCP: true, NoNFS: true})
	writeFile(t, dhcpdConf, "# The admin's dhcpd.conf (e2e/server_test.go).\nauthoritative;\nddns-update-style none;\n"+
		"default-lease-time 3600;\nmax-lease-time 7200;\ninclude \""+dhcpInclude+"\";\n")
	writeFile(t, ganeshaConf, lab.GaneshaMainConfig(l.ServerIP, filepath.Join(l.Dir, "ganesha"), ganeshaExp))
	out := s.must(l, 2*time.Minute, nil, "setup")
	if strings.Contains(out, "to do:") {
		t.Errorf("sidus setup asks for more:\n%s", out)
	}
	s.must(l, 2*time.Minute, nil, "node", "add", nodes[0].Name, "--mac", nodes[0].MAC(), "--ip", nodes[0].IP)
	s.must(l, 5*time.Minute, nil, "node", "add", nodes[1].Name, "--mac", nodes[1].MAC(), "--ip", nodes[1].IP, "--iscsi", "1G", "--chap")
	s.must(l, time.Minute, nil, "node", "list")
	step("setup + node add x2", start)
	secretB, err := os.ReadFile(filepath.Join(stateDir, "chap", nodes[1].Name))
	if err != nil {
		t.Fatalf("node22's CHAP secret: %v", err)
	}
	secret := strings.TrimSpace(string(secretB))

	// 4. The servers, from what sidus wrote.
	start = time.Now()
	if err := l.StartTgtd(); err != nil {
		t.Fatal(err)
	}
	if out, err := l.ApplyTgtConfDir(tgtConfDir); err != nil {
		t.Fatalf("tgt-admin: %v\n%s", err, out)
	}
	if show, err := l.ShowISCSITargets(); err != nil {
		t.Fatal(err)
	} else {
		for _, want := range []string{iqn, filepath.Join(lunDir, nodes[1].IP+".img"), nodes[1].Name, nodes[1].IP} {
			if !strings.Contains(show, want) {
				t.Errorf("tgtd after tgt-admin has no %q:\n%s", want, show)
			}
		}
	}
	if _, err := l.StartDhcpd("dhcpd", dhcpdConf, leases); err != nil {
		t.Fatal(err)
	}
	if _, err := l.StartTFTPD("tftpd", tftpRoot); err != nil {
		t.Fatal(err)
	}
	if err := l.StartRpcbind(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.StartGaneshaConf("ganesha", ganeshaConf); err != nil {
		t.Fatal(err)
	}
	step("start dhcpd, in.tftpd, rpcbind + ganesha, tgtd + tgt-admin", start)
	// What pxelinux will fetch, as in.tftpd serves it (chrooted, as nobody).
	start = time.Now()
	for _, f := range []string{"pxelinux.0", "ldlinux.c32", "pxelinux.cfg/" + pxe.MACFile(nodes[0].MAC()),
		"pxelinux.cfg/" + pxe.MACFile(nodes[1].MAC()), "sidus-" + nodes[1].Name + ".img", pxe.KernelFile, pxe.InitrdFile} {
		tftpGet(t, l, tftpRoot, f)
	}
	step("TFTP fetch of the boot files", start)
	// sidus check, for the record: it also asks systemd about the
	// services, which the lab does not use.
	s.run(l, 2*time.Minute, nil, "check")

	// 5. Both nodes PXE-boot at once.
	start = time.Now()
	vms := make([]*vm.VM, len(nodes))
	for i, n := range nodes {
		vms[i] = vm.Start(t, l, vm.Options{BootNet: true, Memory: "1G", NoReboot: true, NetDevs: []vm.NetDev{l.NetDev(n.Tap)}})
	}
	for i, n := range nodes {
		if _, err := vms[i].ExpectAll(serverBootTimeout, `SIDUS-DEB: running `, `SIDUS-DEB: uptime `); err != nil {
			return
		}
		t.Logf("%s reported after %v", n.Name, vms[i].Elapsed())
	}
	step("both nodes PXE-boot to their report", start)
	dhcpLog, _ := os.ReadFile(filepath.Join(l.Dir, "dhcpd.log"))
	for i, n := range nodes {
		checkServerNode(t, vms[i], n, treeDir, secret)
		if !strings.Contains(string(dhcpLog), "DHCPACK on "+n.IP+" to "+n.MAC()) {
			t.Errorf("dhcpd's log has no DHCPACK on %s to %s", n.IP, n.MAC())
		}
	}
	if show, err := l.ShowISCSITargets(); err != nil || !strings.Contains(show, "I_T nexus:") {
		t.Errorf("tgtd has no session for %s (err %v):\n%s", iqn, err, show)
	}
	s.must(l, time.Minute, nil, "node", "list")

	// 6. sidus tree run -- apt-get install of a package built here, while
	// the nodes run the program it installs every second.
	for i := range nodes {
		if _, err := vms[i].ExpectAll(90*time.Second, `SIDUS-DEB: live watching`, `SIDUS-DEB: live .*not found`); err != nil {
			return
		}
	}
	debFile := buildLiveDeb(t, treeDir, liveProg, liveOut)
	start = time.Now()
	s.must(nil, 5*time.Minute, nil, "tree", "run", "--", "apt-get", "install", "-y", "-o", "Dpkg::Use-Pty=0", "/tmp/"+filepath.Base(debFile))
	step("tree run -- apt-get install", start)
	if gen1 := strings.TrimSpace(s.must(nil, time.Minute, nil, "tree", "generation")); gen1 == gen0 {
		t.Errorf("tree run did not bump the generation: %s", gen1)
	}
	if m := mountsUnder(treeDir); len(m) > 0 {
		t.Errorf("mounts left under the tree after tree run: %v", m)
	}
	for i, n := range nodes {
		// From the install's start: the agent polls every 10 s
		// (sidus.live=10), then the node's caches are dropped.
		left := 90*time.Second - time.Since(start)
		if _, err := vms[i].TryExpect(`SIDUS-DEB: live `+liveOut+` uptime=`, max(left, time.Second)); err != nil {
			t.Errorf("%s did not run the program installed into the tree within 90 s: %v; its runs: %q", n.Name, err, deb(vms[i].Lines(), "live"))
			continue
		}
		t.Logf("%s ran the new program %v after the install began", n.Name, time.Since(start).Round(100*time.Millisecond))
		for _, v := range deb(vms[i].Lines(), "live") {
			if strings.Contains(v, "Stale") || strings.Contains(v, "I/O error") {
				t.Errorf("%s's runs of the program: %q", n.Name, v)
			}
		}
	}
	step("both nodes see the new program", start)

	// While node22 is logged in to its LUN, node rm refuses.
	if out, err := s.run(l, time.Minute, nil, "node", "rm", nodes[1].Name); err == nil || !strings.Contains(out, "live session") {
		t.Errorf("sidus node rm %s with a live iSCSI session: err %v, want a refusal naming the live session", nodes[1].Name, err)
	}
	if _, err := os.Stat(filepath.Join(tftpRoot, "pxelinux.cfg", pxe.MACFile(nodes[1].MAC()))); err != nil {
		t.Errorf("a refused node rm removed the node's pxelinux file: %v", err)
	}

	// 7. A new pair, then sidus boot rollback: the previous pair is back.
	start = time.Now()
	s.must(nil, 10*time.Minute, []string{"SOURCE_DATE_EPOCH=2"}, "boot", "publish")
	pairB := bootPair(t, tftpRoot, "")
	if pairB.initrd == pairA.initrd {
		t.Errorf("the second publish installed the same initrd (sha256 %s)", pairA.initrd)
	}
	if prev := bootPair(t, tftpRoot, ".prev"); prev != pairA {
		t.Errorf("after the second publish, *.prev is %+v, want the first pair %+v", prev, pairA)
	}
	s.must(nil, time.Minute, nil, "boot", "rollback")
	if now := bootPair(t, tftpRoot, ""); now != pairA {
		t.Errorf("after boot rollback the TFTP root has %+v, want the first pair %+v", now, pairA)
	}
	if prev := bootPair(t, tftpRoot, ".prev"); prev != pairB {
		t.Errorf("after boot rollback *.prev is %+v, want the second pair %+v", prev, pairB)
	}
	step("boot publish (a second pair) + boot rollback", start)

	// The nodes power off (sidus.test=poweroff, after serverLiveFor s).
	start = time.Now()
	for i, n := range nodes {
		if _, err := vms[i].Expect(`SIDUS-DEB: poweroff uptime=`, (serverLiveFor+180)*time.Second); err != nil {
			return
		}
		if err := vms[i].Wait(120 * time.Second); err != nil {
			t.Errorf("%s: systemctl poweroff: %v\n%s", n.Name, err, vms[i].Tail(30))
		}
	}
	step("both nodes power off", start)
	if show, err := l.ShowISCSITargets(); err != nil || strings.Contains(show, "I_T nexus:") {
		t.Errorf("tgtd still has a session after node22's poweroff (err %v):\n%s", err, show)
	}

	// sidus node rm node22: its files, its DHCP entry, its LUN and its
	// target are gone; node21's are not.
	start = time.Now()
	if _, err := s.run(l, 2*time.Minute, nil, "node", "rm", nodes[1].Name); err != nil {
		t.Errorf("sidus node rm %s after its poweroff: %v", nodes[1].Name, err)
		s.must(l, 2*time.Minute, nil, "node", "rm", "--force", nodes[1].Name)
	}
	step("node rm", start)
	for _, f := range []string{
		filepath.Join(tftpRoot, "pxelinux.cfg", pxe.MACFile(nodes[1].MAC())),
		filepath.Join(tftpRoot, "sidus-"+nodes[1].Name+".img"),
		filepath.Join(tgtConfDir, "sidus-"+nodes[1].IP+".conf"),
		filepath.Join(lunDir, nodes[1].IP+".img"),
		filepath.Join(stateDir, "chap", nodes[1].Name),
	} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s is still there after node rm", f)
		}
	}
	if _, err := os.Stat(filepath.Join(tftpRoot, "pxelinux.cfg", pxe.MACFile(nodes[0].MAC()))); err != nil {
		t.Errorf("node rm %s removed %s's pxelinux file: %v", nodes[1].Name, nodes[0].Name, err)
	}
	inc, err := os.ReadFile(dhcpInclude)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(inc), nodes[1].MAC()) || strings.Contains(string(inc), "host "+nodes[1].Name) {
		t.Errorf("node22's DHCP entry is still in %s:\n%s", dhcpInclude, inc)
	}
	if !strings.Contains(string(inc), nodes[0].MAC()) {
		t.Errorf("node21's DHCP entry is gone from %s:\n%s", dhcpInclude, inc)
	}
	if show, err := l.ShowISCSITargets(); err != nil || strings.Contains(show, iqn) {
		t.Errorf("tgtd still offers %s after node rm (err %v):\n%s", iqn, err, show)
	}
	// dhcpd takes the rewritten file (isc-dhcp-server has no reload).
	if err := l.Kill(l.Daemon("dhcpd")); err != nil {
		t.Error(err)
	}
	if _, err := l.StartDhcpd("dhcpd-after-rm", dhcpdConf, leases); err != nil {
		t.Errorf("dhcpd with the include file after node rm: %v", err)
	}
	s.must(l, time.Minute, nil, "node", "list")
}

// buildServerTree is the cached part of step 1: sidus tree create into
// tree, with a configuration of its own (only `tree` matters to it); the
// output goes to the cache's sidustree-create.log.
func buildServerTree(tree, sidusBin, profileFile, mirror string) error {
	tmp, err := os.MkdirTemp("", "sidustree-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	conf := filepath.Join(tmp, "sidus.toml")
	text := fmt.Sprintf("tree = %q\nstate_dir = %q\n[network]\ncidr = \"192.168.77.0/24\"\nserver_ip = %q\n",
		tree, filepath.Join(tmp, "state"), lab.DefaultServerIP)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	logPath := filepath.Join(qemu.CacheDir(), "sidustree-create.log")
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sidusBin, "--config", conf, "tree", "create", "--profile", profileFile, "--mirror", mirror)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("sidus tree create into %s: %w\n%s", tree, err, lastLines(string(b), 30))
	}
	return nil
}

// checkServerNode checks a node's report: systemd up, DHCP's name and
// address, the tree over NFSv4 under the overlay, and its writable layer:
// a tmpfs, or its LUN (label ISCSI) logged in with CHAP.
func checkServerNode(t *testing.T, v *vm.VM, n serverNode, tree, secret string) {
	t.Helper()
	lines := v.Lines()
	if !regexpMatchAny(lines, `sidus: handing over to /sbin/init`) {
		t.Errorf("%s: sidus-init did not hand over to /sbin/init", n.Name)
	}
	// pxelinux booted the node's own file: its label (default_label is
	// iscsi), and BOOTIF from IPAPPEND 2.
	label := "aufs=tmpfs"
	if n.ISCSI {
		label = "aufs=iscsi"
	}
	if !regexpMatchAny(lines, `Kernel command line: .* `+label+` .*BOOTIF=01-`+strings.ReplaceAll(n.MAC(), ":", "-")) {
		t.Errorf("%s: the kernel command line is not its pxelinux file's (%s, BOOTIF)", n.Name, label)
	}
	if !regexpMatchAny(lines, `sidus: DHCP on eth0: `+regexp.QuoteMeta(n.IP)+`/24 .*root-path "`+regexp.QuoteMeta(tree)+`"`) {
		t.Errorf("%s: no DHCP line with %s/24 and root-path %q", n.Name, n.IP, tree)
	}
	switch state, failed := deb1(lines, "running"), deb1(lines, "failed"); state {
	case "running":
	case "degraded":
		for _, u := range strings.Fields(failed) {
			if sidusRelated.MatchString(u) {
				t.Errorf("%s: failed unit %s concerns the network, NFS or mounts: %v", n.Name, u, deb(lines, "why "+u))
			}
		}
		t.Logf("%s: degraded; failed units (none network/NFS/mount related): %s", n.Name, failed)
	default:
		t.Errorf("%s: systemctl is-system-running = %q (failed: %s)", n.Name, state, failed)
	}
	if h := deb1(lines, "hostname"); h != n.Name {
		t.Errorf("%s: hostname %q, want DHCP's %s", n.Name, h, n.Name)
	}
	if a := deb1(lines, "addr"); !strings.HasPrefix(a, "eth0 "+n.IP+"/24 ") {
		t.Errorf("%s: address %q, want eth0 %s/24", n.Name, a, n.IP)
	}
	if m := deb1(lines, "mount /"); !strings.HasPrefix(m, "overlay rw,") || !strings.Contains(m, "lowerdir=/ro") {
		t.Errorf("%s: / is %q", n.Name, m)
	}
	if m := deb1(lines, "mount /ro"); !strings.HasPrefix(m, "nfs4 ro,") {
		t.Errorf("%s: /ro is %q", n.Name, m)
	}
	rw := deb1(lines, "mount /rw")
	if !n.ISCSI {
		if !strings.HasPrefix(rw, "tmpfs rw") {
			t.Errorf("%s: /rw is %q, want a tmpfs", n.Name, rw)
		}
	} else {
		if !strings.HasPrefix(rw, "ext4 rw") {
			t.Errorf("%s: /rw is %q, want the LUN's ext4", n.Name, rw)
		}
		for _, re := range []string{
			`sidus: iSCSI: logged in to ` + regexp.QuoteMeta("iqn.2013-04.zone.sidus.target:"+n.IP) + ` at ` +
				regexp.QuoteMeta(lab.DefaultServerIP) + `:3260 \(session \d+, host \d+, CHAP\)`,
			`sidus: mounted \S+ \(ext4, LABEL=ISCSI\) at /rw`,
		} {
			if !regexpMatchAny(lines, re) {
				t.Errorf("%s: no console line matching %q", n.Name, re)
			}
		}
		if secret != "" && strings.Contains(v.Console(), secret) {
			t.Errorf("%s: its CHAP secret shows on the console", n.Name)
		}
	}
	t.Logf("%s: %s; multi-user.target at uptime %s s; /rw %s", n.Name, deb1(lines, "running"), deb1(lines, "multi-user"), rw)
}

// buildLiveDeb builds, with dpkg-deb (no network), a package whose
// program prints out, into the tree's /tmp, and returns its path.
func buildLiveDeb(t *testing.T, tree, prog, out string) string {
	t.Helper()
	pkg := filepath.Join(t.TempDir(), "pkg")
	for f, data := range map[string]string{
		"DEBIAN/control":  "Package: " + prog + "\nVersion: 1\nArchitecture: all\nMaintainer: SIDUS-Go tests <root@localhost>\nDescription: a program installed into the live tree by sidus tree run\n",
		"usr/bin/" + prog: "#!/bin/sh\necho " + out + "\n",
	} {
		if err := os.MkdirAll(filepath.Join(pkg, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, f), []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(tree, "tmp", prog+"_1_all.deb")
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", pkg, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, b)
	}
	return deb
}

// tftpGet fetches file from the lab's TFTP server (busybox tftp, inside
// the lab) and checks it is the TFTP root's.
func tftpGet(t *testing.T, l *lab.Lab, root, file string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := filepath.Join(t.TempDir(), "got")
	if out, err := l.Exec(ctx, roots.BusyboxPath, "tftp", "-g", "-r", file, "-l", got, l.ServerIP); err != nil {
		t.Errorf("TFTP %s: %v\n%s", file, err, out)
		return
	}
	if a, b := sha256File(t, got), sha256File(t, filepath.Join(root, file)); a != b {
		t.Errorf("TFTP %s: got sha256 %s, the file is %s", file, a, b)
	}
}

// pair is the sha256 of the kernel and initrd in the TFTP root (suffix ""
// or ".prev").
type pair struct{ kernel, initrd string }

func bootPair(t *testing.T, tftp, suffix string) pair {
	t.Helper()
	return pair{sha256File(t, filepath.Join(tftp, pxe.KernelFile+suffix)), sha256File(t, filepath.Join(tftp, pxe.InitrdFile+suffix))}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("%v", err)
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Errorf("%s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// mountsUnder lists the host's mount points under dir.
func mountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mounts")
	var m []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			m = append(m, f[1])
		}
	}
	return m
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = append([]string{fmt.Sprintf("[... %d lines]", len(l)-n)}, l[len(l)-n:]...)
	}
	return strings.Join(l, "\n")
}
