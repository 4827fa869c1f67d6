package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/gobuild"
	"github.com/sidus-go/sidus/qemu/kernel"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/pxe"
	"github.com/sidus-go/sidus/qemu/roots"
	"github.com/sidus-go/sidus/qemu/vm"
)

const usage = "usage: sidus-lab demo [-shell] [-root debian|busybox] | initrd [-o DIR] | bench [-n N] [-o FILE] [-storm 1,4,8,16]"

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "demo":
		return demo(args[1:], os.Stdout, os.Stdin)
	case "initrd":
		return initrd(args[1:], os.Stdout)
	case "bench":
		return bench(args[1:])
	}
	return fmt.Errorf("unknown subcommand %q; %s", args[0], usage)
}

func initrd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("initrd", flag.ContinueOnError)
	dir := fs.String("o", "build", "output folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	k, err := kernel.Default()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	img, err := gobuild.Initrd(gobuild.InitrdOptions{Dir: abs, Kernel: k, Shell: roots.BusyboxPath})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "kernel: %s\ninitrd: %s\n", k.Vmlinuz, img)
	return nil
}

// demo boots one node with the seed's tmpfs pxelinux line on a lab of its
// own and streams the console. With -shell the root offers a shell on the
// console (Ctrl-C ends the demo and tears the lab down); otherwise the node reports what it
// sees and powers off.
func demo(args []string, out io.Writer, in io.Reader) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	shell := fs.Bool("shell", false, "leave a shell on the node's console")
	rootKind := fs.String("root", "debian", "the shared root: debian (systemd; debootstrap'ed once, then cached) or busybox (fast)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := qemu.NewProcess(out)
	p.CloseOnSignal()
	defer p.Close()

	p.Logf("sidus-lab: fetching the Debian kernel (cached in %s) and building initrd.img-Sidus", qemu.CacheDir())
	k, err := kernel.Default()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sidus-demo-")
	if err != nil {
		return err
	}
	p.Cleanup(func() { os.RemoveAll(dir) })
	img, err := gobuild.Initrd(gobuild.InitrdOptions{Dir: dir, Kernel: k, Shell: roots.BusyboxPath})
	if err != nil {
		return err
	}
	if *rootKind == "debian" {
		p.Logf("sidus-lab: building the Debian root with debootstrap (first run only, about 2 minutes)")
	}
	root, words, err := demoRoot(*rootKind, dir, *shell)
	if err != nil {
		return err
	}
	lab, err := lab.StartProcess(p, lab.Options{RootDir: root, RootPath: lab.NFSPseudo,
		Hosts: []lab.DHCPHost{{MAC: lab.MAC(0), IP: "192.168.77.10", Hostname: "sidus-node1"}}})
	if err != nil {
		return err
	}
	appendLine := pxe.SerialConsole(cmdline.SeedTmpfs) + words
	p.Logf("sidus-lab: lab up in namespace %s (dnsmasq, rpcbind, nfs-ganesha on %s); booting:\n  %s", lab.NS, lab.ServerIP, appendLine)
	vm, err := vm.StartProcess(p, lab, vm.Options{Kernel: k.Vmlinuz, Initrd: img, Append: appendLine, Memory: "1G",
		NoReboot: true, NetDevs: []vm.NetDev{lab.NetDev(0)}}, out, in)
	if err != nil {
		return err
	}
	limit := 10 * time.Minute
	if *shell {
		limit = 24 * time.Hour
	}
	if err := vm.Wait(limit); err != nil {
		return err
	}
	p.Logf("sidus-lab: the node powered off after %v; tearing the lab down", vm.Elapsed())
	return nil
}
