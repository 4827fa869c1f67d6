package e2e

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/qemu/disk"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/roots"
	"github.com/sidus-go/sidus/qemu/vm"
)

// The other projects' command lines (issue 14): a dracut NFS line, a bond
// of two NICs, a VLAN, a local disk as the writable layer, two iSCSI
// targets. Cases 1 and 4 share a VM (a dracut line with overlayroot=); the
// VLAN case has a lab of its own (its bridge filters VLANs).

// dialectsRootInit wraps the test root's /sbin/init: sidus.test.dialect=
// writemark, checkmark, watch, iscsi (see the script).
//
//go:embed testdata/dialects-root-init.sh
var dialectsRootInit string

// dialectsRoot returns a busybox test root with dialectsRootInit in front
// of its /sbin/init.
func dialectsRoot(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	if err := roots.Busybox(dir); err != nil {
		t.Fatal(err)
	}
	sbin := filepath.Join(dir, "sbin")
	if err := os.Rename(filepath.Join(sbin, "init"), filepath.Join(sbin, "init.sidus-test")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sbin, "init"), []byte(dialectsRootInit), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dialectBoot boots a node with the given APPEND words (console=ttyS0
// panic=-1 first) and options.
func dialectBoot(t *testing.T, l *lab.Lab, words string, mod func(*vm.Options)) *vm.VM {
	t.Helper()
	o := vm.Options{Kernel: guest.Vmlinuz, Initrd: initrd, Append: "console=ttyS0 panic=-1 " + words, NoReboot: true,
		NetDevs: []vm.NetDev{l.NetDev(0)}}
	if mod != nil {
		mod(&o)
	}
	return vm.Start(t, l, o)
}

// noKernelPanic fails the test on a kernel panic or PID 1's exit.
func noKernelPanic(t *testing.T, v *vm.VM) {
	t.Helper()
	if c := v.Console(); strings.Contains(c, "Kernel panic") || strings.Contains(c, "Attempted to kill init") {
		t.Errorf("kernel panic on the console")
	}
}

// Cases 1 and 4: a dracut-style NFS line (root=nfs:SERVER:PATH
// ip=IFACE:dhcp) with overlayroot=device:dev=LABEL=scratch naming an ext4
// on a virtio disk. The node boots from NFS with the disk as /rw; what it
// writes is on the disk image after power-off and seen again on the next
// boot.
func TestDialectDracutNFSLocalUpper(t *testing.T) {
	setup(t)
	root := dialectsRoot(t)
	img := filepath.Join(t.TempDir(), "scratch.img")
	if err := disk.MakeExt4(img, 64, "scratch"); err != nil {
		t.Fatal(err)
	}
	l := lab.Start(t, lab.Options{RootDir: root}) // no root-path: the line says where the root is
	line := fmt.Sprintf("root=nfs:%s:%s ip=eth0:dhcp overlayroot=device:dev=LABEL=scratch", l.ServerIP, l.NFSv4Path)
	withDisk := func(o *vm.Options) { o.Disks = []string{img} }
	mark := fmt.Sprintf("dialect-mark-%d", time.Now().UnixNano())

	v := dialectBoot(t, l, line+" sidus.test.dialect=writemark sidus.test.mark="+mark, withDisk)
	if _, err := v.ExpectAll(bootTimeout,
		`sidus: DHCP on eth0: 192\.168\.77\.\d+/24`,
		`sidus: mounted `+regexp.QuoteMeta(l.ServerIP+":"+l.NFSv4Path)+` at /ro read-only \(vers=4`,
		`sidus: mounted /dev/vda \(ext4, LABEL="scratch", UUID=[0-9a-f-]+\) at /rw`,
		`sidus: handing over to /sbin/init`,
		`SIDUS-DTEST: writemark done`,
		`SIDUS-ROOT: mount / overlay rw,.*lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work`,
		`SIDUS-ROOT: mount /ro nfs4 ro,`,
		`SIDUS-ROOT: mount /rw ext4 rw`,
		`SIDUS-ROOT: write / ok`,
		`SIDUS-ROOT: done`); err != nil {
		return
	}
	if err := v.Wait(60 * time.Second); err != nil {
		t.Errorf("qemu after poweroff: %v", err)
	}
	noKernelPanic(t, v)
	for _, bad := range []string{`warning: overlayroot`, `is read but not acted on`, `DHCP on eth0: attempt`} {
		if matchLine(v, bad) {
			t.Errorf("console has %q", bad)
		}
	}
	// On the disk, in the upper directory of the union.
	out, err := disk.Debugfs(img, "cat /upper/sidus-dialect-mark")
	if err != nil || !strings.Contains(out, mark) {
		t.Errorf("the mark is not on the disk image: %v\n%s", err, out)
	}
	if out, err := disk.Fsck(img); err != nil {
		t.Errorf("%v\n%s", err, out)
	}

	// The next boot sees it.
	v = dialectBoot(t, l, line+" sidus.test.dialect=checkmark", withDisk)
	if _, err := v.ExpectAll(bootTimeout, `SIDUS-DTEST: mark `+regexp.QuoteMeta(mark)+`$`, `SIDUS-ROOT: mount /rw ext4 rw`, `SIDUS-ROOT: done`); err != nil {
		return
	}
	_ = v.Wait(60 * time.Second)
	noKernelPanic(t, v)
}

// Case 2: a bond of two NICs on the lab bridge, active-backup with MII
// monitoring. It boots over DHCP on the bond; cutting the active NIC's link
// (as the guest sees it: the QEMU monitor's set_link) moves the bond to the
// other NIC and the NFS root keeps answering.
func TestDialectBond(t *testing.T) {
	setup(t)
	root := dialectsRoot(t)
	l := lab.Start(t, lab.Options{RootDir: root, RootPath: lab.NFSPseudo, Taps: 2})
	mon := filepath.Join(t.TempDir(), "monitor.sock")
	v := dialectBoot(t, l, "root=/dev/nfs nfsroot=,vers=4.1 aufs=tmpfs bond=bond0:eth0,eth1:mode=active-backup,miimon=100 ip=bond0:dhcp"+
		" sidus.test.dialect=watch sidus.test.watch=25 sidus.test.report=/run/systemd/network/10-sidus-eth1.network,/run/NetworkManager/conf.d/sidus-bond0.conf",
		func(o *vm.Options) {
			o.NetDevs = []vm.NetDev{l.NetDev(0), l.NetDev(1)}
			o.Monitor = mon
		})
	if _, err := v.ExpectAll(bootTimeout,
		`sidus: bond bond0 \(mode active-backup, miimon=100\) over eth0, eth1`,
		`sidus: DHCP on bond0: 192\.168\.77\.\d+/24`,
		`sidus: mounted 192\.168\.77\.1:/srv/nfsroot/sidus at /ro read-only \(vers=4\.1`,
		`SIDUS-DTEST: watch n=\d+ active=eth0 ok`,
		`SIDUS-DTEST: watch n=\d+ active=eth0 ok`); err != nil {
		return
	}
	cut := time.Now()
	if err := v.SetLink(0, false); err != nil {
		t.Fatalf("cut eth0's link: %v", err)
	}
	m, err := v.Expect(`SIDUS-DTEST: watch n=(\d+) active=eth1 ok`, 60*time.Second)
	if err != nil {
		return
	}
	t.Logf("eth0's link cut: the root answered over eth1 %v later (round %s)", time.Since(cut).Round(100*time.Millisecond), m[1])
	// Three more rounds over eth1, then the root's report and power-off.
	if _, err := v.ExpectAll(bootTimeout,
		`SIDUS-DTEST: watch n=\d+ active=eth1 ok`, `SIDUS-DTEST: watch n=\d+ active=eth1 ok`, `SIDUS-DTEST: watch n=\d+ active=eth1 ok`,
		`SIDUS-ROOT: mount /ro nfs4 ro,`,
		`SIDUS-ROOT: addr bond0 192\.168\.77\.\d+/24`,
		`SIDUS-ROOT: file /run/systemd/network/10-sidus-eth1.network .*Name=eth1.*Unmanaged=yes`,
		`SIDUS-ROOT: file /run/NetworkManager/conf.d/sidus-bond0.conf .*unmanaged-devices=interface-name:bond0;interface-name:eth0;interface-name:eth1`,
		`SIDUS-ROOT: done`); err != nil {
		return
	}
	_ = v.Wait(60 * time.Second)
	if matchLine(v, `SIDUS-DTEST: watch .* fail$`) {
		t.Errorf("an NFS read failed across the link cut")
	}
	noKernelPanic(t, v)
}

// vlanID is the boot VLAN of case 3.
const vlanID = "5"

// Case 3: the boot network on VLAN 5. The lab's only DHCP server listens
// on VLAN 5 (br0.5 on the server): a node without vlan= gets no DHCP
// answer; with vlan=vlan5:eth0 it boots over vlan5.
func TestDialectVLAN(t *testing.T) {
	setup(t)
	root := dialectsRoot(t)
	// The host kernel may have no 802.1Q at all: the lab ends VLAN 5 in
	// user space (lab.VLANEndpoint) on a tap, 192.168.78.1/24, which has
	// the lab's only DHCP server; the NFS server stays on 192.168.77.1,
	// reached through 192.168.78.1 (the server itself).
	l := lab.Start(t, lab.Options{RootDir: root, RootPath: lab.NFSPseudo, NoDHCP: true})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const vdev = "vlan5tap"
	if err := l.VLANEndpoint(self, 5, vdev, "192.168.78.1/24"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Run("dnsmasq-vlan", "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
		"--user=root", "--group=root", "--port=0", "--interface="+vdev, "--bind-interfaces",
		"--dhcp-range=192.168.78.100,192.168.78.199,255.255.255.0,3600s", "--dhcp-authoritative", "--log-dhcp",
		"--dhcp-leasefile="+filepath.Join(l.Dir, "dnsmasq-vlan.leases"), "--dhcp-option=17,"+lab.NFSPseudo); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // dnsmasq binds at once; no pid file to wait for here
	nfsroot := "nfsroot=" + lab.DefaultServerIP + ":" + lab.NFSPseudo + ",vers=4.1"

	t.Run("untagged-gets-no-dhcp", func(t *testing.T) {
		v := dialectBoot(t, l, "root=/dev/nfs "+nfsroot+" ip=eth0:dhcp", nil)
		if _, err := v.Expect(`sidus: DHCP on eth0: attempt 2: `, bootTimeout); err != nil {
			return
		}
		if matchLine(v, `sidus: DHCP on eth0: 192\.`) {
			t.Errorf("an untagged DHCP request was answered: only VLAN %s has a DHCP server", vlanID)
		}
		v.Kill()
	})

	t.Run("vlan5", func(t *testing.T) {
		v := dialectBoot(t, l, "root=/dev/nfs "+nfsroot+" aufs=tmpfs vlan=vlan"+vlanID+":eth0 ip=vlan"+vlanID+":dhcp"+
			" sidus.test.report=/run/systemd/network/10-sidus-eth0.network", nil)
		if _, err := v.ExpectAll(bootTimeout,
			`sidus: vlan vlan5 \(ID 5\) on eth0`,
			`sidus: DHCP on vlan5: 192\.168\.78\.\d+/24 .*root-path "/srv/nfsroot/sidus"`,
			`sidus: mounted 192\.168\.77\.1:/srv/nfsroot/sidus at /ro read-only`,
			`SIDUS-ROOT: mount /ro nfs4 ro,`,
			`SIDUS-ROOT: addr vlan5 192\.168\.78\.\d+/24`,
			`SIDUS-ROOT: file /run/systemd/network/10-sidus-eth0.network .*Unmanaged=yes`,
			`SIDUS-ROOT: done`); err != nil {
			return
		}
		_ = v.Wait(60 * time.Second)
		if matchLine(v, `SIDUS-ROOT: addr eth0 `) || matchLine(v, `sidus: DHCP on eth0`) {
			t.Errorf("eth0 itself was configured")
		}
		noKernelPanic(t, v)
	})
}

// Case 5: two netroot=iscsi targets, the labelled one second. Both are
// logged in; /rw is the LUN labelled ISCSI, the other LUN (labelled DATA)
// is a block device of the root, not mounted and not changed.
func TestDialectTwoISCSITargets(t *testing.T) {
	setup(t)
	root := dialectsRoot(t)
	dir := t.TempDir()
	const (
		dataIQN = iqnPrefix + "dialect-data"
		rwIQN   = iqnPrefix + "dialect-rw"
	)
	dataImg, rwImg := filepath.Join(dir, "data.img"), filepath.Join(dir, "rw.img")
	if err := disk.MakeExt4(dataImg, lunMB, "DATA"); err != nil {
		t.Fatal(err)
	}
	if err := disk.MakeExt4(rwImg, lunMB, rwLabel); err != nil {
		t.Fatal(err)
	}
	dataSum, err := disk.SHA256(dataImg)
	if err != nil {
		t.Fatal(err)
	}
	l := lab.Start(t, lab.Options{RootDir: root, RootPath: lab.NFSPseudo, Tgtd: true})
	for i, tg := range []lab.ISCSITarget{{Name: dataIQN, Image: dataImg}, {Name: rwIQN, Image: rwImg}} {
		tg.TID = i + 1
		if err := l.AddISCSITarget(tg); err != nil {
			t.Fatal(err)
		}
	}
	v := dialectBoot(t, l, "root=/dev/nfs nfsroot=,vers=4.1 ip=dhcp aufs=iscsi root=LABEL="+rwLabel+
		" ISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default"+
		" netroot=iscsi:"+l.ServerIP+"::::"+dataIQN+" netroot=iscsi:"+l.ServerIP+"::3260::"+rwIQN+
		" sidus.test.dialect=iscsi sidus.test.report=/run/sidus/iscsi-session", nil)
	m, err := v.ExpectAll(iscsiBootTimeout,
		`sidus: iSCSI: target 1 of 2: `,
		`sidus: iSCSI: logged in to `+regexp.QuoteMeta(dataIQN)+` at `,
		`sidus: iSCSI: target 2 of 2: `,
		`sidus: iSCSI: logged in to `+regexp.QuoteMeta(rwIQN)+` at `,
		`sidus: iSCSI: `+regexp.QuoteMeta(dataIQN)+` \(session \d+\): devices \[(/dev/sd\w+)\] left to the booted system`,
		`sidus: mounted (/dev/sd\w+) \(ext4, LABEL=`+rwLabel+`\) at /rw`,
		`SIDUS-DTEST: rw-dev (/dev/sd\w+)`,
		`SIDUS-ROOT: mount /rw ext4 rw`,
		`SIDUS-ROOT: file /run/sidus/iscsi-session .*ISCSI_TARGET_NAME='`+regexp.QuoteMeta(rwIQN)+`'`,
		`SIDUS-ROOT: done`)
	if err != nil {
		return
	}
	_ = v.Wait(60 * time.Second)
	dataDev, rwDev, rootRW := m[4][1], m[5][1], m[6][1]
	if rwDev != rootRW || rwDev == dataDev {
		t.Errorf("/rw is %s in the init and %s in the root; the DATA LUN is %s", rwDev, rootRW, dataDev)
	}
	for _, iqn := range []string{dataIQN, rwIQN} {
		if !matchLine(v, `SIDUS-DTEST: session session\d+ state=LOGGED_IN target=`+regexp.QuoteMeta(iqn)+` block=sd\w+`) {
			t.Errorf("the root does not see a logged-in session to %s with a disk", iqn)
		}
	}
	if matchLine(v, `is read but not acted on`) {
		t.Errorf("a form is still not acted on")
	}
	noKernelPanic(t, v)
	if s, _ := disk.SHA256(dataImg); s != dataSum {
		t.Errorf("the DATA LUN changed")
	}
	if out, err := disk.Fsck(rwImg); err != nil {
		t.Errorf("%v\n%s", err, out)
	}
}

// Dracut's interface forms: ifname= renames the boot NIC, ip=IFACE:dhcp:MTU
// sets its MTU, and a second, static ip= with an MTU and a MAC configures
// the other NIC without taking the default route.
func TestDialectIfnameTwoIPs(t *testing.T) {
	setup(t)
	l := lab.Start(t, lab.Options{RootDir: dialectsRoot(t), Taps: 2})
	mac0 := l.MAC(0)
	const mac1 = "52:54:00:99:00:05"
	line := fmt.Sprintf("root=nfs:%s:%s ifname=boot0:%s ip=boot0:dhcp:1400 ip=10.99.0.5:::255.255.255.0::eth1:none:1280:%s"+
		" sidus.test.report=/sys/class/net/boot0/mtu,/sys/class/net/eth1/mtu,/sys/class/net/eth1/address,/proc/net/route",
		l.ServerIP, l.NFSv4Path, mac0, mac1)
	v := dialectBoot(t, l, line, func(o *vm.Options) { o.NetDevs = []vm.NetDev{l.NetDev(0), l.NetDev(1)} })
	if _, err := v.ExpectAll(bootTimeout,
		`sidus: DHCP on boot0: 192\.168\.77\.\d+/24`,
		`SIDUS-ROOT: addr boot0 192\.168\.77\.\d+/24`,
		`SIDUS-ROOT: addr eth1 10\.99\.0\.5/24`,
		`SIDUS-ROOT: file /sys/class/net/boot0/mtu 1400$`,
		`SIDUS-ROOT: file /sys/class/net/eth1/mtu 1280$`,
		`SIDUS-ROOT: file /sys/class/net/eth1/address `+mac1+`$`,
		`SIDUS-ROOT: done`); err != nil {
		return
	}
	_ = v.Wait(60 * time.Second)
	noKernelPanic(t, v)
	// The default route (destination 00000000) is the boot NIC's only.
	route := regexp.MustCompile(`SIDUS-ROOT: file /proc/net/route (.*)`).FindStringSubmatch(v.Console())
	if route == nil {
		t.Fatalf("no /proc/net/route report")
	}
	for _, r := range strings.Split(route[1], `\n`) {
		if f := strings.Fields(r); len(f) > 1 && f[1] == "00000000" && f[0] != "boot0" {
			t.Errorf("default route on %s, want boot0 only: %s", f[0], route[1])
		}
	}
	if !strings.Contains(route[1], "boot0\t00000000") && !strings.Contains(route[1], "boot0 00000000") {
		t.Errorf("no default route on boot0: %q", route[1])
	}
	if matchLine(v, `is read but not acted on`) {
		t.Errorf("the init still says it ignores a form")
	}
}
