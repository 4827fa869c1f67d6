package e2e

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/kernel"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/pxe"
	"github.com/sidus-go/sidus/qemu/roots"
	"github.com/sidus-go/sidus/qemu/vm"
)

// The harness's own boots, without the Go init: a busybox /init checks
// that the kernel, the lab, PXE and the busybox root work.

// smokeInit prints "SMOKE-OK uptime=..." and powers off.
//
//go:embed testdata/smoke-init.sh
var smokeInit string

// busyboxNFSInit is a hand-written busybox /init doing the SIDUS steps
// (modules, DHCP, NFSv4 read-only at /ro, tmpfs at /rw, overlay, move,
// switch_root), to test the lab and roots.Busybox without the Go init.
//
//go:embed testdata/busybox-nfs-init.sh
var busyboxNFSInit string

// udhcpcScript is busyboxNFSInit's udhcpc script: it sets the address and
// writes the lease to /tmp/dhcp.
//
//go:embed testdata/udhcpc.sh
var udhcpcScript string

const smokeAppend = "console=ttyS0 panic=-1 quiet"

// smokeInitrd builds a tiny newc initramfs (cpio -o -H newc) holding
// busybox-static and /init = script.
func smokeInitrd(t *testing.T, script string) string {
	t.Helper()
	return smokeInitrdIn(t, filepath.Join(t.TempDir(), "tree"), script)
}

// smokeInitrdIn adds busybox and /init to tree and packs it.
func smokeInitrdIn(t *testing.T, tree, script string) string {
	t.Helper()
	dir := filepath.Dir(tree)
	for _, d := range []string{"bin", "dev", "proc", "sys", "mnt", "tmp"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyFile(roots.BusyboxPath, filepath.Join(tree, "bin", "busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(tree, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "init"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "smoke.cpio")
	cmd := exec.Command("sh", "-c", "find . | LC_ALL=C sort | cpio -o -H newc --quiet > "+out)
	cmd.Dir = tree
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v: %s", err, b)
	}
	return out
}

// copyFile copies a (small) file into a tree.
func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

// smokeSetup is what the smoke boots share: the kernel and a busybox root.
func smokeSetup(t *testing.T) (*kernel.Info, string) {
	t.Helper()
	qemu.Require(t)
	k, err := kernel.Default()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := roots.Busybox(root); err != nil {
		t.Fatal(err)
	}
	return k, root
}

// TestLabSmoke boots a kernel on a lab's tap (lab.TestLabServes checks the
// lab's servers without a VM).
func TestLabSmoke(t *testing.T) {
	k, root := smokeSetup(t)
	start := time.Now()
	l := lab.Start(t, lab.Options{RootDir: root, RootPath: lab.DefaultServerIP + ":" + lab.NFSPseudo})
	t.Logf("lab up in %v", time.Since(start))
	vm := vm.Start(t, l, vm.Options{
		Kernel: k.Vmlinuz, Initrd: smokeInitrd(t, smokeInit), Append: smokeAppend,
		NetDevs: []vm.NetDev{l.NetDev(0)}, NoReboot: true,
	})
	m, _ := vm.Expect(`SMOKE-OK uptime=(\S+)`, 60*time.Second)
	t.Logf("kernel boot: SMOKE-OK after %v wall (guest uptime %s s)", vm.Elapsed(), m[1])
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Errorf("qemu: %v", err)
	}
	t.Logf("qemu exited after %v wall", vm.Elapsed())
}

func TestPXESmoke(t *testing.T) {
	k, _ := smokeSetup(t)
	tftp := t.TempDir()
	cfg := pxe.Config("smoke", "initrd="+pxe.InitrdFile+" "+smokeAppend)
	mac := "52:54:00:77:00:10"
	// The per-MAC file wins over default: default would hang on a bad label.
	if err := pxe.Dir(tftp, k.Vmlinuz, smokeInitrd(t, smokeInit), pxe.Config("nothing", "this label must not boot"),
		map[string]string{mac: cfg}); err != nil {
		t.Fatal(err)
	}
	l := lab.Start(t, lab.Options{NoNFS: true, TFTPDir: tftp})
	if l.MAC(0) != mac {
		t.Fatalf("lab.MAC(0) = %s, want %s", l.MAC(0), mac)
	}
	vm := vm.Start(t, l, vm.Options{BootNet: true, NetDevs: []vm.NetDev{l.NetDev(0)}, NoReboot: true})
	m, _ := vm.Expect(`SMOKE-OK uptime=(\S+)`, 180*time.Second)
	t.Logf("PXE boot: SMOKE-OK after %v wall (guest uptime %s s)", vm.Elapsed(), m[1])
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Errorf("qemu: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(l.Dir, "dnsmasq.log"))
	if !strings.Contains(string(b), "sent") {
		t.Errorf("dnsmasq log shows no TFTP transfer:\n%s", b)
	}
}

// nfsInitrd is busyboxNFSInit's initramfs, with the modules it loads.
func nfsInitrd(t *testing.T, k *kernel.Info) string {
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
	files := map[string]string{"modules": strings.Join(list, "\n") + "\n", "dhcp.sh": udhcpcScript}
	for name, c := range files {
		if err := os.WriteFile(filepath.Join(tree, name), []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return smokeInitrdIn(t, tree, busyboxNFSInit)
}

// TestNFSRootBusybox boots a node over the lab's DHCP and NFSv4 export
// with a busybox init, then checks the busybox root's /sbin/init report.
func TestNFSRootBusybox(t *testing.T) {
	k, root := smokeSetup(t)
	if err := roots.Report(root, "/etc/hostname", "/nonexistent"); err != nil {
		t.Fatal(err)
	}
	initrd := nfsInitrd(t, k)
	l := lab.Start(t, lab.Options{RootDir: root, RootPath: lab.DefaultServerIP + ":" + lab.NFSPseudo,
		Hosts: []lab.DHCPHost{{MAC: "52:54:00:77:00:10", IP: "192.168.77.10", Hostname: "node10"}}})
	vm := vm.Start(t, l, vm.Options{
		Kernel: k.Vmlinuz, Initrd: initrd, NoReboot: true,
		Append:  "console=ttyS0 panic=-1 quiet sidus.test.report=/etc/motd",
		NetDevs: []vm.NetDev{l.NetDev(0)},
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
