package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
	if err := copyFile(BusyboxPath, filepath.Join(tree, "bin", "busybox"), 0o755); err != nil {
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

const smokeInit = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
read up _ </proc/uptime
echo "SMOKE-OK uptime=$up"
/bin/busybox poweroff -f
`

const smokeAppend = "console=ttyS0 panic=-1 quiet"

func TestLabSmoke(t *testing.T) {
	Require(t)
	k, err := Kernel()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := TestRoot(root); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	lab := StartLab(t, LabOptions{RootDir: root, RootPath: DefaultServerIP + ":" + NFSPseudo})
	t.Logf("lab up in %v", time.Since(start))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, v := range []string{"3", "4"} {
		out, err := lab.Exec(ctx, "rpcinfo", "-t", lab.ServerIP, "nfs", v)
		if err != nil {
			t.Errorf("NFSv%s does not answer: %v", v, err)
		} else {
			t.Logf("rpcinfo nfs %s: %s", v, strings.TrimSpace(string(out)))
		}
	}
	if out, err := lab.Exec(ctx, "rpcinfo", "-t", lab.ServerIP, "mountd", "3"); err != nil {
		t.Errorf("mountd v3 does not answer: %v", err)
	} else {
		t.Logf("rpcinfo mountd 3: %s", strings.TrimSpace(string(out)))
	}
	out, err := lab.Exec(ctx, "ss", "-lnup")
	if err != nil || !strings.Contains(string(out), "dnsmasq") || !strings.Contains(string(out), ":67") {
		t.Errorf("dnsmasq is not listening on :67: %v\n%s", err, out)
	}

	vm := Start(t, lab, Options{
		Kernel: k.Vmlinuz, Initrd: smokeInitrd(t, smokeInit), Append: smokeAppend,
		NetDevs: []NetDev{lab.NetDev(0)}, NoReboot: true,
	})
	m, _ := vm.Expect(`SMOKE-OK uptime=(\S+)`, 60*time.Second)
	t.Logf("kernel boot: SMOKE-OK after %v wall (guest uptime %s s)", vm.Elapsed(), m[1])
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Errorf("qemu: %v", err)
	}
	t.Logf("qemu exited after %v wall", vm.Elapsed())
}

func TestPXESmoke(t *testing.T) {
	Require(t)
	k, err := Kernel()
	if err != nil {
		t.Fatal(err)
	}
	tftp := t.TempDir()
	cfg := PXEConfig("smoke", "initrd="+PXEInitrd+" "+smokeAppend)
	lab0 := LabOptions{NoNFS: true, TFTPDir: tftp}
	mac := "52:54:00:77:00:10"
	// The per-MAC file wins over default: default would hang on a bad label.
	if err := PXEDir(tftp, k.Vmlinuz, smokeInitrd(t, smokeInit), PXEConfig("nothing", "this label must not boot"),
		map[string]string{mac: cfg}); err != nil {
		t.Fatal(err)
	}
	lab := StartLab(t, lab0)
	if lab.MAC(0) != mac {
		t.Fatalf("lab.MAC(0) = %s, want %s", lab.MAC(0), mac)
	}
	vm := Start(t, lab, Options{BootNet: true, NetDevs: []NetDev{lab.NetDev(0)}, NoReboot: true})
	m, _ := vm.Expect(`SMOKE-OK uptime=(\S+)`, 180*time.Second)
	t.Logf("PXE boot: SMOKE-OK after %v wall (guest uptime %s s)", vm.Elapsed(), m[1])
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Errorf("qemu: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(lab.Dir, "dnsmasq.log"))
	if !strings.Contains(string(b), "sent") {
		t.Errorf("dnsmasq log shows no TFTP transfer:\n%s", b)
	}
}

func TestSeedLabels(t *testing.T) {
	b, err := os.ReadFile("/work/shared/seed/sidus-2013.txt")
	if err != nil {
		t.Skip("seed text not on this machine")
	}
	for _, l := range []string{SeedTmpfsLabel, SeedISCSILabel} {
		if !strings.Contains(string(b), "APPEND "+l+"\n") {
			t.Errorf("seed has no line APPEND %q", l)
		}
	}
}
