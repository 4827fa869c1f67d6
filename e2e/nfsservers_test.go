package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/sidus-go/sidus/initramfs"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/vm"
)

// Several NFS servers (issue 15, for sites without Ceph), the first one
// down: 192.168.77.2 is a live host on the bridge whose NFS server does
// not run (ganesha listens on 192.168.77.1 only), so it refuses. Two nodes
// boot from nfsroot=192.168.77.2,192.168.77.1:PATH; their MACs are chosen
// so that the hash order sends one to the dead server first (it moves on)
// and the other to the live one (it mounts at once).
func TestNFSServersFirstDown(t *testing.T) {
	setup(t)
	l := lab.Start(t, lab.Options{RootDir: rootDir, Taps: 2})
	const dead = "192.168.77.2"
	if out, err := exec.Command("ip", "-n", l.NS, "addr", "add", dead+"/24", "dev", lab.Bridge).CombinedOutput(); err != nil {
		t.Fatalf("add %s to the lab's bridge: %v\n%s", dead, err, out)
	}
	servers := []string{dead, l.ServerIP}
	var deadFirst, liveFirst string
	for i := 0; i < 256 && (deadFirst == "" || liveFirst == ""); i++ {
		mac := fmt.Sprintf("52:54:00:77:20:%02x", i)
		hw, _ := net.ParseMAC(mac)
		switch initramfs.ServerOrder(servers, hw)[0] {
		case dead:
			if deadFirst == "" {
				deadFirst = mac
			}
		default:
			if liveFirst == "" {
				liveFirst = mac
			}
		}
	}
	line := fmt.Sprintf("console=ttyS0 root=/dev/nfs nfsroot=%s,%s:%s ip=dhcp aufs=tmpfs panic=-1", dead, l.ServerIP, l.NFSv4Path)
	boot := func(i int, mac string) *vm.VM {
		return vm.Start(t, l, vm.Options{Kernel: guest.Vmlinuz, Initrd: initrd, Append: line, NoReboot: true,
			NetDevs: []vm.NetDev{{Tap: l.Tap(i), MAC: mac}}})
	}
	a, b := boot(0, deadFirst), boot(1, liveFirst)
	mounted := `sidus: mounted ` + regexp.QuoteMeta(l.ServerIP+":"+l.NFSv4Path) + ` at /ro read-only`
	list := regexp.QuoteMeta(fmt.Sprintf("[%s %s]", dead, l.ServerIP))
	if _, err := a.ExpectAll(bootTimeout,
		`sidus: NFS servers `+list+`: this node \(MAC `+deadFirst+`\) tries `+regexp.QuoteMeta(dead)+` first`,
		`sidus: nfs server `+regexp.QuoteMeta(dead)+`: unreachable \(.*\); moving on to `+regexp.QuoteMeta(l.ServerIP),
		mounted, `SIDUS-ROOT: mount /ro nfs4 ro,`, `SIDUS-ROOT: done`); err != nil {
		return
	}
	if _, err := b.ExpectAll(bootTimeout,
		`sidus: NFS servers `+list+`: this node \(MAC `+liveFirst+`\) tries `+regexp.QuoteMeta(l.ServerIP)+` first`,
		mounted, `SIDUS-ROOT: mount /ro nfs4 ro,`, `SIDUS-ROOT: done`); err != nil {
		return
	}
	if matchLine(b, `unreachable`) {
		t.Errorf("the node that starts with the live server tried the dead one")
	}
	for _, v := range []*vm.VM{a, b} {
		_ = v.Wait(60 * time.Second)
		noKernelPanic(t, v)
	}
}
