package e2e

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/disk"
	"github.com/sidus-go/sidus/qemu/gobuild"
	"github.com/sidus-go/sidus/qemu/kernel"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/pxe"
	"github.com/sidus-go/sidus/qemu/roots"
	"github.com/sidus-go/sidus/qemu/vm"
)

// The iSCSI persistence mode (aufs=iscsi) against tgtd in the lab: one
// ext4 LUN per client, each target named after its client's IP, as the
// seed's SIDUS server sets them up.

const (
	iqnPrefix = "iqn.2013-04.zone.sidus.target:"
	rwLabel   = "ISCSI"
	lunMB     = 64
	// deadPortal is an address on the lab's segment that nobody answers.
	deadPortal = "192.168.77.2"
)

// iscsiRootInit wraps the test root's /sbin/init: sidus.test.iscsi=ACTION[,ACTION]
// runs before it, with "SIDUS-ITEST: " lines:
//
//	write500   write /data/f0../data/f499 ("sidus-file-N"), sync
//	check500   count the intact files: "check500 ok=N bad=M"
//	powercut   write /data/powercut, sync, say "synced" (the test then kills QEMU)
//	checkcut   report /data/powercut
//	writeload  write number N to /data/load/w(N%4000), each fsync'ed, for
//	           sidus.test.load=SECONDS: "writeload wrote=N uptime=S" every 20,
//	           "writeload done files=N errors=E"
//	checkload  check each slot holds its last write: "checkload files=N ok=K bad=M"
//	agentstatus  sidus-agent status, a line each: "agent KEY: VALUE"
//	stallwatch (before writeload) in the background: when no write
//	           completed for 55 s, "stallwatch: ..." lines with the session's
//	           and the agent's state, the kernel's blocked tasks, and the
//	           agent's goroutines (SIGQUIT)
//
// and, for every boot, the iSCSI session seen from the root (sysfs state).
//
//go:embed testdata/iscsi-root-init.sh
var iscsiRootInit string

// iscsiRoot returns a test root whose /sbin/init is iscsiRootInit in
// front of the standard one.
func iscsiRoot(t *testing.T, e *iscsiEnv) string {
	t.Helper()
	dir := filepath.Join(e.dir, "root")
	if err := roots.Busybox(dir); err != nil {
		t.Fatal(err)
	}
	sbin := filepath.Join(dir, "sbin")
	if err := os.Rename(filepath.Join(sbin, "init"), filepath.Join(sbin, "init.sidus-test")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sbin, "init"), []byte(iscsiRootInit), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// iscsiInitrd builds an initrd.img-Sidus with conf packed as
// /etc/iscsi.initramfs (the secrets stay off the command line).
func iscsiInitrd(t *testing.T, e *iscsiEnv, name, conf string) string {
	t.Helper()
	p := filepath.Join(e.dir, name+".conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := gobuild.Initrd(gobuild.InitrdOptions{Dir: e.dir, Kernel: e.kernel, Shell: roots.BusyboxPath,
		ISCSIConf: p, Out: filepath.Join(e.dir, "initrd-"+name+".img")})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// iscsiEnv is what the iSCSI boots share: kernel, initrd and build folder.
type iscsiEnv struct {
	kernel *kernel.Info
	initrd string
	dir    string
}

// iscsiBootTimeout bounds one boot under TCG up to the root's report.
const iscsiBootTimeout = 150 * time.Second

func iscsiSetup(t *testing.T) *iscsiEnv {
	t.Helper()
	qemu.Require(t)
	e := &iscsiEnv{dir: t.TempDir()}
	var err error
	if e.kernel, err = kernel.Default(); err != nil {
		t.Fatal(err)
	}
	if e.initrd, err = gobuild.Initrd(gobuild.InitrdOptions{Dir: e.dir, Kernel: e.kernel, Shell: roots.BusyboxPath}); err != nil {
		t.Fatal(err)
	}
	return e
}

type iscsiNode struct {
	name string
	mac  string
	ip   string
}

func (n iscsiNode) target() string { return iqnPrefix + n.ip }

// iscsiBoot boots a node (tap 0, its own MAC) with the seed's iSCSI line
// plus extra words, and an optional initrd.
func iscsiBoot(t *testing.T, e *iscsiEnv, lab *lab.Lab, n iscsiNode, initrdPath string, extra ...string) *vm.VM {
	t.Helper()
	line := pxe.SerialConsole(cmdline.SeedISCSI) + " panic=-1"
	if len(extra) > 0 {
		line += " " + strings.Join(extra, " ")
	}
	o := vm.Options{Kernel: e.kernel.Vmlinuz, Initrd: e.initrd, Append: line, NoReboot: true,
		NetDevs: []vm.NetDev{{Tap: lab.Tap(0), MAC: n.mac}}}
	if initrdPath != "" {
		o.Initrd = initrdPath
	}
	return vm.Start(t, lab, o)
}

var premountRe = regexp.MustCompile(`sidus: stage premount: done in (\S+)s`)

// expectISCSIRoot waits for a node booted on its LUN to finish (or hold)
// and returns the premount (iSCSI) stage duration in seconds.
func expectISCSIRoot(t *testing.T, vm *vm.VM, n iscsiNode, hold bool, more ...string) float64 {
	t.Helper()
	res := []string{
		`sidus: stage premount: done in`,
		`sidus: handing over to /sbin/init`,
		`SIDUS-ITEST: session session\d+ state=LOGGED_IN target=` + regexp.QuoteMeta(n.target()),
	}
	res = append(res, more...)
	res = append(res,
		`SIDUS-ROOT: mount / overlay rw,.*lowerdir=/ro,upperdir=/rw/upper`,
		`SIDUS-ROOT: mount /rw ext4 rw`,
		`SIDUS-ROOT: write / ok`,
		`SIDUS-ROOT: file /run/sidus/iscsi-session ISCSI_TARGET_NAME='`+regexp.QuoteMeta(n.target())+`'.*ISCSI_SID=\d+`)
	if hold {
		res = append(res, `SIDUS-ROOT: hold`)
	} else {
		res = append(res, `SIDUS-ROOT: done`)
	}
	if _, err := vm.ExpectAll(iscsiBootTimeout, res...); err != nil {
		return 0
	}
	if !hold {
		if err := vm.Wait(60 * time.Second); err != nil {
			t.Errorf("qemu after poweroff: %v", err)
		}
	}
	c := vm.Console()
	for _, bad := range []string{"Kernel panic", "EXT4-fs error", "I/O error", "detected conn error"} {
		if strings.Contains(c, bad) {
			t.Errorf("console shows %q", bad)
		}
	}
	m := premountRe.FindStringSubmatch(c)
	if m == nil {
		return 0
	}
	d, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("%s: iSCSI (premount) stage %.3f s, boot to root report %v wall", n.name, d, vm.Elapsed())
	return d
}

// noSecrets fails if any secret shows on the console or in the image.
func noSecrets(t *testing.T, vm *vm.VM, images []string, secrets ...string) {
	t.Helper()
	c := vm.Console()
	for _, s := range secrets {
		if strings.Contains(c, s) {
			t.Errorf("a CHAP secret (%d bytes) shows on the console", len(s))
		}
		for _, img := range images {
			b, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("a CHAP secret (%d bytes) was written to %s", len(s), filepath.Base(img))
			}
		}
	}
}

func TestISCSI(t *testing.T) {
	t.Parallel() // beside TestDebianNetworkdLease, whose node idles
	e := iscsiSetup(t)
	root := iscsiRoot(t, e)
	dir := t.TempDir()
	seed := iscsiNode{"seed", "52:54:00:77:01:51", "192.168.77.51"}
	decoy := iscsiNode{"decoy", "52:54:00:77:01:52", "192.168.77.52"}
	chap1 := iscsiNode{"chap", "52:54:00:77:01:53", "192.168.77.53"}
	chap2 := iscsiNode{"mutual", "52:54:00:77:01:54", "192.168.77.54"}
	blank := iscsiNode{"blank", "52:54:00:77:01:55", "192.168.77.55"}
	used := iscsiNode{"used", "52:54:00:77:01:56", "192.168.77.56"}
	var hosts []lab.DHCPHost
	for _, n := range []iscsiNode{seed, decoy, chap1, chap2, blank, used} {
		hosts = append(hosts, lab.DHCPHost{MAC: n.mac, IP: n.ip, Hostname: "node-" + n.name})
	}
	// Secrets of the lab's CHAP accounts (12-16 characters for tgtd).
	const (
		user1, pass1   = "node53", "s3cret-chap-53x"
		user2, pass2   = "node54", "s3cret-chap-54y"
		outU, outP     = "target54", "s3cret-target-54z"
		wrongP         = "wrong-secret-0099"
		initiatorConf1 = "ISCSI_USERNAME=" + user1 + "\nISCSI_PASSWORD='" + pass1 + "'\n"
	)
	img := map[string]string{}
	for _, n := range []iscsiNode{seed, decoy, chap1, chap2} {
		img[n.name] = filepath.Join(dir, n.name+".img")
		if err := disk.MakeExt4(img[n.name], lunMB, rwLabel); err != nil {
			t.Fatal(err)
		}
	}
	// Case 5's LUNs: one all zeros, one holding data but no filesystem.
	img["blank"], img["used"] = filepath.Join(dir, "blank.img"), filepath.Join(dir, "used.img")
	if err := os.WriteFile(img["blank"], nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img["blank"], lunMB<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img["used"], bytes.Repeat([]byte("user data "), 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img["used"], lunMB<<20); err != nil {
		t.Fatal(err)
	}
	usedSum, err := disk.SHA256(img["used"])
	if err != nil {
		t.Fatal(err)
	}
	targets := []lab.ISCSITarget{
		{Name: seed.target(), Image: img["seed"]},
		{Name: decoy.target(), Image: img["decoy"]},
		{Name: chap1.target(), Image: img["chap"], Username: user1, Password: pass1},
		{Name: chap2.target(), Image: img["mutual"], Username: user2, Password: pass2, OutUsername: outU, OutPassword: outP},
		{Name: blank.target(), Image: img["blank"]},
		{Name: used.target(), Image: img["used"]},
	}
	lab := lab.Start(t, lab.Options{RootDir: root, RootPath: lab.NFSPseudo, Tgtd: true, Hosts: hosts})
	for i, tg := range targets {
		tg.TID = i + 1
		if err := lab.AddISCSITarget(tg); err != nil {
			t.Fatal(err)
		}
	}
	decoySum, err := disk.SHA256(img["decoy"])
	if err != nil {
		t.Fatal(err)
	}
	var stage []float64
	report := "sidus.test.report=/run/sidus/iscsi-session"

	// Case 1: the seed's line verbatim; discovery picks this client's
	// target (not the decoy's); 500 files survive a reboot.
	t.Run("seed", func(t *testing.T) {
		vm := iscsiBoot(t, e, lab, seed, "", report, "sidus.test.iscsi=write500")
		d := expectISCSIRoot(t, vm, seed, false, `SIDUS-ITEST: write500 done files=500`)
		stage = append(stage, d)
		if t.Failed() {
			return
		}
		if !matchLine(vm, `sidus: iSCSI: iscsi: discovered target `+regexp.QuoteMeta(seed.target())) {
			t.Errorf("no discovery of the per-client target on the console")
		}
		vm = iscsiBoot(t, e, lab, seed, "", report, "sidus.test.iscsi=check500")
		stage = append(stage, expectISCSIRoot(t, vm, seed, false, `SIDUS-ITEST: check500 ok=500 bad=0`))
		if out, err := disk.Fsck(img["seed"]); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
		if s, _ := disk.SHA256(img["decoy"]); s != decoySum {
			t.Errorf("the decoy LUN changed")
		}
	})

	// Case 7: power cut after a synced write; the next boot mounts
	// (journal replay) and the file is there.
	t.Run("powercut", func(t *testing.T) {
		vm := iscsiBoot(t, e, lab, seed, "", report, "sidus.test.iscsi=powercut", "sidus.test=hold")
		expectISCSIRoot(t, vm, seed, true, `SIDUS-ITEST: powercut synced`)
		vm.Kill()
		if t.Failed() {
			return
		}
		vm = iscsiBoot(t, e, lab, seed, "", report, "sidus.test.iscsi=checkcut,check500")
		stage = append(stage, expectISCSIRoot(t, vm, seed, false,
			`SIDUS-ITEST: checkcut synced-before-power-cut`, `SIDUS-ITEST: check500 ok=500 bad=0`))
		if out, err := disk.Fsck(img["seed"]); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	})

	// After boot: tgtd is SIGKILLed under a write load and comes back 20 s
	// later on the same LUN file; the agent reconnects, the writes go on
	// with no I/O error, and every fsync'ed file is there after a reboot.
	// Without CHAP and with mutual CHAP.
	//
	// A stall after a good re-login (seen in 2 of 11 runs once, cause not
	// found, not seen in about 25 runs since) fails the case; stallwatch
	// has printed where the node and the agent wait by then.
	var restartOnce func(t *testing.T, n iscsiNode, ird string) (stalled bool)
	restart := func(t *testing.T, n iscsiNode, ird string) {
		if restartOnce(t, n, ird) {
			t.Errorf("STALL: no write completed within 60 s of the re-login; see the SIDUS-ITEST: stallwatch lines")
		}
	}
	restartOnce = func(t *testing.T, n iscsiNode, ird string) (stalled bool) {
		vm := iscsiBoot(t, e, lab, n, ird, report, "sidus.test.iscsi=stallwatch,writeload,agentstatus,checkload", "sidus.test.load=75")
		if _, err := vm.ExpectAll(iscsiBootTimeout, `sidus: node agent started`, `SIDUS-ITEST: writeload start`, `SIDUS-ITEST: writeload wrote=40 `); err != nil {
			return false
		}
		killed := time.Now()
		if err := lab.Kill(lab.Daemon("tgtd")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Second)
		if err := lab.StartTgtd(); err != nil {
			t.Fatal(err)
		}
		for i, tg := range targets {
			tg.TID = i + 1
			if err := lab.AddISCSITarget(tg); err != nil {
				t.Fatal(err)
			}
		}
		back := time.Now()
		relogin, err := vm.Expect(`sidus: agent: iscsi: .*logged in again.*`, 120*time.Second)
		if err != nil {
			t.Errorf("the agent did not log in again within 120 s of the target's return")
			return false
		}
		loginAfter := time.Since(back)
		if _, err := vm.TryExpect(`SIDUS-ITEST: writeload wrote=`, 60*time.Second); err != nil {
			_, _ = vm.TryExpect(`SIDUS-ITEST: stallwatch: dmesg|goroutine \d+ \[`, 60*time.Second)
			time.Sleep(5 * time.Second) // the rest of the dump
			vm.Kill()
			return !matchLine(vm, `SIDUS-ITEST: writeload error`)
		}
		writeAfter := time.Since(back)
		done, err := vm.TryExpect(`SIDUS-ITEST: writeload done files=(\d+) errors=(\d+)`, 150*time.Second)
		if err != nil {
			vm.Kill()
			return !matchLine(vm, `SIDUS-ITEST: writeload error`)
		}
		if _, err := vm.ExpectAll(60*time.Second, `SIDUS-ITEST: checkload files=\d+`, `SIDUS-ROOT: done`); err != nil {
			return false
		}
		files, errs := done[1], done[2]
		if errs != "0" || matchLine(vm, `SIDUS-ITEST: writeload error`) || matchLine(vm, `I/O error`) {
			t.Errorf("writes failed across the target restart: %s errors", errs)
		}
		if !matchLine(vm, `SIDUS-ITEST: agent iscsi.state: logged_in`) || !matchLine(vm, `SIDUS-ITEST: agent iscsi.reconnect_count: 1\s*$`) ||
			!matchLine(vm, `SIDUS-ITEST: agent iscsi.reconnects\[0\]\.recovered: true`) {
			t.Errorf("the agent's status does not tell one recovered reconnect")
		}
		_ = vm.Wait(60 * time.Second)
		t.Logf("target down %v; agent logged in again %v after its return, writes completing %v after it (%s); %s files written, 0 errors",
			back.Sub(killed).Round(time.Second), loginAfter.Round(100*time.Millisecond), writeAfter.Round(100*time.Millisecond), relogin[0], files)
		vm = iscsiBoot(t, e, lab, n, ird, report, "sidus.test.iscsi=checkload")
		nf, _ := strconv.Atoi(files)
		expectISCSIRoot(t, vm, n, false, fmt.Sprintf(`SIDUS-ITEST: checkload files=%d ok=%d bad=0`, nf, min(nf, 4000)))
		return false
	}
	t.Run("target-restart", func(t *testing.T) { restart(t, seed, "") })

	// After boot, cases 2 and 3 on one node: its tap is down for 30 s
	// under the write load, then the first portal of ISCSI_TARGET_IP goes
	// away for good (tgtd comes back on the second address only); the
	// session recovers both times and moves to the second portal, with no
	// I/O error, and the agent's status says so.
	t.Run("blip-and-failover", func(t *testing.T) {
		const second = "192.168.77.3"
		ctx := context.Background()
		if _, err := lab.Exec(ctx, "ip", "addr", "add", second+"/24", "dev", "br0"); err != nil {
			t.Fatal(err)
		}
		if err := lab.Tgtadm("--op", "new", "--mode", "portal", "--param", "portal="+second+":3260"); err != nil {
			t.Fatal(err)
		}
		readd := func() {
			for i, tg := range targets {
				tg.TID = i + 1
				if err := lab.AddISCSITarget(tg); err != nil {
					t.Fatal(err)
				}
			}
		}
		defer func() { // the other cases use the first portal
			_ = lab.Kill(lab.Daemon("tgtd"))
			if err := lab.StartTgtd(); err != nil {
				t.Fatal(err)
			}
			readd()
		}()
		vm := iscsiBoot(t, e, lab, seed, "", report, "ISCSI_TARGET_IP="+lab.ServerIP+","+second,
			"sidus.test.iscsi=writeload,agentstatus", "sidus.test.load=150")
		if _, err := vm.ExpectAll(iscsiBootTimeout, `sidus: node agent started`, `SIDUS-ITEST: writeload wrote=40 `); err != nil {
			return
		}
		if _, err := lab.Exec(ctx, "ip", "link", "set", lab.Tap(0), "down"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		if _, err := lab.Exec(ctx, "ip", "link", "set", lab.Tap(0), "up"); err != nil {
			t.Fatal(err)
		}
		up := time.Now()
		if _, err := vm.Expect(`SIDUS-ITEST: writeload wrote=`, 120*time.Second); err != nil {
			t.Errorf("no write completed within 120 s of the link's return")
			return
		}
		t.Logf("link down 30 s: writes completing again %v after it came back", time.Since(up).Round(100*time.Millisecond))
		if err := lab.Kill(lab.Daemon("tgtd")); err != nil {
			t.Fatal(err)
		}
		if err := lab.StartTgtdAt(second + ":3260"); err != nil {
			t.Fatal(err)
		}
		readd()
		back := time.Now()
		if _, err := vm.Expect(`sidus: agent: iscsi: .*logged in again at `+regexp.QuoteMeta(second)+`:3260`, 150*time.Second); err != nil {
			t.Errorf("the session did not move to the second portal")
			return
		}
		t.Logf("first portal gone: logged in at the second %v later", time.Since(back).Round(100*time.Millisecond))
		m, err := vm.ExpectAll(200*time.Second, `SIDUS-ITEST: writeload done files=(\d+) errors=(\d+)`, `SIDUS-ITEST: agent iscsi.state: (\S+)`, `SIDUS-ROOT: done`)
		if err != nil {
			return
		}
		if m[0][2] != "0" || matchLine(vm, `SIDUS-ITEST: writeload error`) || matchLine(vm, `I/O error`) {
			t.Errorf("writes failed: %s errors", m[0][2])
		}
		if m[1][1] != "logged_in" || !matchLine(vm, `SIDUS-ITEST: agent iscsi.portal: `+regexp.QuoteMeta(second)+`:3260`) {
			t.Errorf("agent status: state %q; want logged_in at %s:3260", m[1][1], second)
		}
		_ = vm.Wait(60 * time.Second)
		t.Logf("%s files written through the blip and the failover, 0 errors", m[0][1])
	})
	t.Run("target-restart-mutual", func(t *testing.T) {
		restart(t, chap2, iscsiInitrd(t, e, "mutual-restart", "ISCSI_USERNAME="+user2+"\nISCSI_PASSWORD="+pass2+
			"\nISCSI_IN_USERNAME="+outU+"\nISCSI_IN_PASSWORD="+outP+"\n"))
	})

	// Case 2: CHAP from the packed /etc/iscsi.initramfs.
	t.Run("chap", func(t *testing.T) {
		ird := iscsiInitrd(t, e, "chap", initiatorConf1)
		vm := iscsiBoot(t, e, lab, chap1, ird, report)
		stage = append(stage, expectISCSIRoot(t, vm, chap1, false))
		if !matchLine(vm, `SIDUS-ROOT: file /run/sidus/iscsi-session .*ISCSI_AUTH='CHAP'`) {
			t.Errorf("the session state does not say CHAP")
		}
		noSecrets(t, vm, []string{img["chap"]}, pass1)
	})
	t.Run("mutual", func(t *testing.T) {
		ird := iscsiInitrd(t, e, "mutual", "ISCSI_USERNAME="+user2+"\nISCSI_PASSWORD="+pass2+
			"\nISCSI_IN_USERNAME="+outU+"\nISCSI_IN_PASSWORD="+outP+"\n")
		vm := iscsiBoot(t, e, lab, chap2, ird, report)
		stage = append(stage, expectISCSIRoot(t, vm, chap2, false))
		if !matchLine(vm, `SIDUS-ROOT: file /run/sidus/iscsi-session .*ISCSI_AUTH='CHAP \(mutual\)'`) {
			t.Errorf("the session state does not say mutual CHAP")
		}
		noSecrets(t, vm, []string{img["mutual"]}, pass2, outP)
	})
	t.Run("wrong-password", func(t *testing.T) {
		ird := iscsiInitrd(t, e, "wrong", "ISCSI_USERNAME="+user1+"\nISCSI_PASSWORD="+wrongP+"\n")
		vm := iscsiBoot(t, e, lab, chap1, ird)
		if _, err := vm.ExpectAll(iscsiBootTimeout, `sidus: FATAL: .*authentication failed .*check ISCSI_USERNAME/ISCSI_PASSWORD`); err != nil {
			return
		}
		vm.Wait(30 * time.Second)
		noSecrets(t, vm, nil, wrongP, pass1)
	})

	// Case 3: a dead first portal; the second one works.
	t.Run("failover", func(t *testing.T) {
		vm := iscsiBoot(t, e, lab, seed, "", report, "ISCSI_TARGET_IP="+deadPortal+","+lab.ServerIP)
		stage = append(stage, expectISCSIRoot(t, vm, seed, false))
		if !matchLine(vm, `sidus: iSCSI: .*portal `+regexp.QuoteMeta(deadPortal)) {
			t.Errorf("the dead portal is not reported")
		}
	})

	// Case 4: a label that is not there: the error lists what was found.
	t.Run("wrong-label", func(t *testing.T) {
		vm := iscsiBoot(t, e, lab, seed, "", "root=LABEL=NOPE")
		if _, err := vm.ExpectAll(iscsiBootTimeout, `sidus: FATAL: .*root=LABEL=NOPE: .*found: /dev/sd\w+ \(ext4, label "`+rwLabel+`"\)`); err != nil {
			return
		}
		vm.Wait(30 * time.Second)
	})

	// Case 5: sidus.format=empty formats an all-zero LUN on first boot
	// (and the data persists), but refuses a LUN that holds data.
	t.Run("format-empty", func(t *testing.T) {
		vm := iscsiBoot(t, e, lab, blank, "", report, "sidus.format=empty", "sidus.test.iscsi=write500")
		stage = append(stage, expectISCSIRoot(t, vm, blank, false, `SIDUS-ITEST: write500 done files=500`))
		if t.Failed() {
			return
		}
		if !matchLine(vm, `sidus: formatted /dev/sd\w+ as ext4 LABEL=`+rwLabel) {
			t.Errorf("no format line on the console")
		}
		vm = iscsiBoot(t, e, lab, blank, "", report, "sidus.format=empty", "sidus.test.iscsi=check500")
		expectISCSIRoot(t, vm, blank, false, `SIDUS-ITEST: check500 ok=500 bad=0`)
		if matchLine(vm, `sidus: formatted`) {
			t.Errorf("the second boot formatted the LUN again")
		}
		if out, err := disk.Fsck(img["blank"]); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	})
	t.Run("format-refuses-data", func(t *testing.T) {
		vm := iscsiBoot(t, e, lab, used, "", "sidus.format=empty")
		if _, err := vm.ExpectAll(iscsiBootTimeout, `sidus: FATAL: .*sidus.format=empty refused to format /dev/sd\w+: it holds data`); err != nil {
			return
		}
		vm.Wait(30 * time.Second)
		if s, _ := disk.SHA256(img["used"]); s != usedSum {
			t.Errorf("the LUN holding data was changed")
		}
	})

	// Case 6: the target is down (nothing listens on the portal) with
	// sidus.iscsi.fallback=tmpfs: the node boots, loudly warned.
	t.Run("fallback-tmpfs", func(t *testing.T) {
		vm := iscsiBoot(t, e, lab, seed, "", "ISCSI_TARGET_IP="+lab.ServerIP+":3261", "sidus.iscsi.fallback=tmpfs")
		if _, err := vm.ExpectAll(iscsiBootTimeout,
			`sidus: WARNING: iSCSI login failed`,
			`sidus: WARNING: sidus.iscsi.fallback=tmpfs: .*NOTHING WRITTEN ON THIS NODE WILL PERSIST`,
			`SIDUS-ROOT: mount /rw tmpfs rw`,
			`SIDUS-ROOT: done`); err != nil {
			return
		}
		vm.Wait(30 * time.Second)
	})

	if s, _ := disk.SHA256(img["decoy"]); s != decoySum {
		t.Errorf("the decoy LUN changed")
	}
	t.Logf("iSCSI premount stage durations (s): %v", stage)
}
