package qemu

import (
	"strings"
	"testing"
	"time"
)

// TestGoInitNFSRoot boots the real initrd.img-Sidus (BuildInitrd) with the
// seed's tmpfs label over the lab, as a check of BuildInitrd and of the
// whole chain. It needs cmd/sidus-init and cmd/sidus-mkinitramfs.
func TestGoInitNFSRoot(t *testing.T) {
	Require(t)
	k, err := Kernel()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	initrd, err := BuildInitrd(InitrdOptions{Dir: t.TempDir(), Kernel: k, Shell: BusyboxPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %v", initrd, time.Since(start))
	root := t.TempDir()
	if err := TestRoot(root); err != nil {
		t.Fatal(err)
	}
	lab := StartLab(t, LabOptions{RootDir: root, RootPath: DefaultServerIP + ":" + NFSPseudo})
	vm := Start(t, lab, Options{
		Kernel: k.Vmlinuz, Initrd: initrd, NoReboot: true,
		Append:  strings.Replace(SeedTmpfsLabel, "console=tty1", "console=ttyS0", 1) + " panic=-1",
		NetDevs: []NetDev{lab.NetDev(0)},
	})
	m, err := vm.ExpectAll(120*time.Second,
		`SIDUS-ROOT: init-started uptime=(\S+)`,
		`SIDUS-ROOT: mount / overlay `,
		`SIDUS-ROOT: mount /ro nfs4? ro`,
		`SIDUS-ROOT: mount /rw tmpfs `,
		`SIDUS-ROOT: write / ok`,
		`SIDUS-ROOT: write /ro fail`,
		`SIDUS-ROOT: done`)
	if err != nil {
		return
	}
	t.Logf("Go init: root /sbin/init at guest uptime %s s, %v wall", m[0][1], vm.Elapsed())
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Errorf("qemu: %v", err)
	}
}
