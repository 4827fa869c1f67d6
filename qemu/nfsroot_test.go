package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// busyboxNFSInit is a hand-written busybox /init doing the SIDUS steps
// (modules, DHCP, NFSv4 read-only at /ro, tmpfs at /rw, overlay, move,
// switch_root), to test the lab and TestRoot without the Go init.
const busyboxNFSInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
for m in $(cat /modules); do insmod "$m" || echo "SMOKE-FAIL insmod $m"; done
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -n -q -t 20 -T 1 -O rootpath -s /dhcp.sh || echo SMOKE-FAIL dhcp
. /tmp/dhcp
echo "SMOKE-DHCP ip=$ip rootpath=$rootpath hostname=$hostname"
server=${rootpath%%:*}
mkdir -p /ro /rw /newroot
mount -t nfs4 -o ro,vers=4.1,addr=$server,clientaddr=$ip "$rootpath" /ro || echo SMOKE-FAIL nfs
mount -t tmpfs tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work /newroot || echo SMOKE-FAIL overlay
[ -n "$hostname" ] && hostname "$hostname"
for d in ro rw proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /sbin/init
`

const dhcpScript = `#!/bin/sh
case "$1" in
bound|renew)
	ip addr add "$ip/$mask" dev "$interface"
	{ echo "ip=$ip"; echo "rootpath=$rootpath"; echo "hostname=$hostname"; } >/tmp/dhcp
	;;
esac
`

func nfsInitrd(t *testing.T, k *KernelInfo) string {
	t.Helper()
	kos, err := k.Modules("virtio_pci", "virtio_net", "nfsv4", "overlay")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	var list []string
	for _, ko := range kos {
		rel := strings.TrimPrefix(ko, k.BaseDir)
		if err := os.MkdirAll(filepath.Join(tree, filepath.Dir(rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(ko, filepath.Join(tree, rel), 0o644); err != nil {
			t.Fatal(err)
		}
		list = append(list, rel)
	}
	files := map[string]string{"modules": strings.Join(list, "\n") + "\n", "dhcp.sh": dhcpScript}
	for name, c := range files {
		if err := os.WriteFile(filepath.Join(tree, name), []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return smokeInitrdIn(t, tree, busyboxNFSInit)
}

// TestNFSRootBusybox boots a node over the lab's DHCP and NFSv4 export
// with a busybox init, then checks TestRoot's /sbin/init report.
func TestNFSRootBusybox(t *testing.T) {
	Require(t)
	k, err := Kernel()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := TestRoot(root); err != nil {
		t.Fatal(err)
	}
	if err := TestRootReport(root, "/etc/hostname", "/nonexistent"); err != nil {
		t.Fatal(err)
	}
	initrd := nfsInitrd(t, k)
	lab := StartLab(t, LabOptions{RootDir: root, RootPath: DefaultServerIP + ":" + NFSPseudo,
		Hosts: []DHCPHost{{MAC: "52:54:00:77:00:10", IP: "192.168.77.10", Hostname: "node10"}}})
	vm := Start(t, lab, Options{
		Kernel: k.Vmlinuz, Initrd: initrd, NoReboot: true,
		Append:  "console=ttyS0 panic=-1 quiet sidus.test.report=/etc/motd",
		NetDevs: []NetDev{lab.NetDev(0)},
	})
	want := []string{
		`SMOKE-DHCP ip=192\.168\.77\.10 rootpath=192\.168\.77\.1:/srv/nfsroot/sidus hostname=node10`,
		`SIDUS-ROOT: init-started uptime=(\S+) pid=1$`,
		`SIDUS-ROOT: mount / overlay rw,`,
		`SIDUS-ROOT: mount /ro nfs4 ro,.*vers=4\.1`,
		`SIDUS-ROOT: mount /rw tmpfs rw`,
		`SIDUS-ROOT: write / ok`,
		`SIDUS-ROOT: write /ro fail`,
		`SIDUS-ROOT: hostname node10`,
		`SIDUS-ROOT: addr eth0 192\.168\.77\.10/24`,
		`SIDUS-ROOT: file /etc/hostname sidus-test$`,
		`SIDUS-ROOT: file /nonexistent <missing>`,
		`SIDUS-ROOT: file /etc/motd SIDUS-Go test root$`,
		`SIDUS-ROOT: done uptime=(\S+)`,
	}
	m, err := vm.ExpectAll(90*time.Second, want...)
	if err != nil {
		return
	}
	t.Logf("NFS root: /sbin/init at guest uptime %s s, done at %s s, %v wall", m[1][1], m[len(m)-1][1], vm.Elapsed())
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Errorf("qemu: %v", err)
	}
	if strings.Contains(vm.Console(), "SMOKE-FAIL") {
		t.Errorf("a step failed:\n%s", vm.Console())
	}
}
