// Package e2e boots SIDUS nodes under QEMU against real servers (dnsmasq,
// rpcbind + nfs-ganesha, tgtd) in a lab of the test's own (package
// qemu/lab: network and mount namespaces, so tests run side by side).
// It lives apart from the packages it tests so that their unit tests stay
// fast; `make test` runs it with SIDUS_E2E=1, where a missing tool fails.
package e2e

import (
	"os"
	"strings"
	"sync"
	"testing"
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

// bootTimeout bounds one boot under TCG, from QEMU's start to the root's
// report (the slowest, PXE, takes about 35 s).
const bootTimeout = 150 * time.Second

var (
	setupOnce sync.Once
	setupErr  error
	guest     *kernel.Info // the guest kernel
	initrd    string
	rootDir   string
	buildDir  string
)

// setup builds what every boot shares, once: the kernel, initrd.img-Sidus
// (with a rescue shell) and the busybox test root.
func setup(t *testing.T) {
	t.Helper()
	qemu.Require(t)
	setupOnce.Do(func() {
		buildDir, setupErr = os.MkdirTemp("", "sidus-e2e-")
		if setupErr != nil {
			return
		}
		if guest, setupErr = kernel.Default(); setupErr != nil {
			return
		}
		if initrd, setupErr = gobuild.Initrd(gobuild.InitrdOptions{Dir: buildDir, Kernel: guest, Shell: roots.BusyboxPath}); setupErr != nil {
			return
		}
		rootDir = buildDir + "/root"
		setupErr = roots.Busybox(rootDir)
	})
	if setupErr != nil {
		t.Fatalf("setup: %v", setupErr)
	}
}

func TestMain(m *testing.M) {
	lab.RunVLANForward(os.Args) // a lab's VLAN forwarder (TestDialectVLAN) is this binary
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// bootNode boots one node on lab tap i with the given APPEND line.
func bootNode(t *testing.T, lab *lab.Lab, i int, appendLine string, mod ...func(*vm.Options)) *vm.VM {
	t.Helper()
	o := vm.Options{Kernel: guest.Vmlinuz, Initrd: initrd, Append: appendLine, NoReboot: true,
		NetDevs: []vm.NetDev{lab.NetDev(i)}}
	for _, f := range mod {
		f(&o)
	}
	return vm.Start(t, lab, o)
}

// expectRoot checks the test root's report of a tmpfs-over-NFS node and
// returns the guest uptime at which the root's /sbin/init started.
func expectRoot(t *testing.T, vm *vm.VM, nfsType string) string {
	t.Helper()
	m, err := vm.ExpectAll(bootTimeout,
		`sidus: stage nfs: done in`,
		`sidus: handing over to /sbin/init`,
		`SIDUS-ROOT: init-started uptime=(\S+)`,
		`SIDUS-ROOT: mount / overlay rw,.*lowerdir=/ro,upperdir=/rw/upper`,
		`SIDUS-ROOT: mount /ro `+nfsType+` ro,`,
		`SIDUS-ROOT: mount /rw tmpfs rw`,
		`SIDUS-ROOT: write / ok`,
		`SIDUS-ROOT: write /ro fail`,
		`SIDUS-ROOT: done`)
	if err != nil {
		return ""
	}
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Errorf("qemu after poweroff: %v", err)
	}
	if strings.Contains(vm.Console(), "Kernel panic") {
		t.Errorf("kernel panic on the console")
	}
	return m[2][1]
}

// Case 1: the seed's tmpfs APPEND line verbatim; dnsmasq gives next-server
// and option 17 (a path only: the server is the next-server).
func TestSeedTmpfsLine(t *testing.T) {
	setup(t)
	lab := lab.Start(t, lab.Options{RootDir: rootDir, RootPath: lab.NFSPseudo})
	vm := bootNode(t, lab, 0, pxe.SerialConsole(cmdline.SeedTmpfs))
	up := expectRoot(t, vm, "nfs4")
	for _, re := range []string{
		`sidus: DHCP on eth0: 192\.168\.77\.\d+/24 .*next-server 192\.168\.77\.1 root-path "/srv/nfsroot/sidus"`,
		`sidus: mounted 192\.168\.77\.1:/srv/nfsroot/sidus at /ro read-only \(vers=4\.\d, .*rsize=8192,wsize=8192,proto=tcp`,
		`SIDUS-ROOT: net /run/net-eth0.conf ROOTPATH='/srv/nfsroot/sidus'`,
	} {
		if !matchLine(vm, re) {
			t.Errorf("console has no line matching %q", re)
		}
	}
	t.Logf("case 1: root /sbin/init ran at guest uptime %s s (%v wall)", up, vm.Elapsed())
}

// Case 2: the same over NFSv3 and over NFSv4, chosen by nfsroot= options.
func TestNFSVersions(t *testing.T) {
	setup(t)
	lab := lab.Start(t, lab.Options{RootDir: rootDir})
	for _, tc := range []struct{ name, nfsroot, fstype, opt string }{
		{"v3", lab.ServerIP + ":" + lab.NFSv3Path + ",vers=3,tcp", "nfs", "vers=3"},
		{"v4.1", lab.ServerIP + ":" + lab.NFSv4Path + ",nfsvers=4.1", "nfs4", "vers=4.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm := bootNode(t, lab, 0, "console=ttyS0 root=/dev/nfs ip=dhcp aufs=tmpfs:64m nfsroot="+tc.nfsroot)
			expectRoot(t, vm, tc.fstype)
			if !matchLine(vm, `SIDUS-ROOT: mount /ro `+tc.fstype+` ro,.*`+tc.opt) {
				t.Errorf("/ro is not mounted with %s", tc.opt)
			}
			if !matchLine(vm, `SIDUS-ROOT: mount /rw tmpfs rw,.*size=65536k`) {
				t.Errorf("aufs=tmpfs:64m did not size the tmpfs")
			}
			// The NFS client and overlayfs load beside the network stage;
			// NFSv3's modules only for the v3 mount.
			if !matchLine(vm, `sidus: root modules \(NFS client, overlayfs\) loaded in .*beside the network stage`) {
				t.Errorf("the root modules did not load beside the network stage")
			}
			if v3 := matchLine(vm, `sidus: loaded 2 modules \(nfs3\)`); v3 != (tc.name == "v3") {
				t.Errorf("NFSv3's modules loaded: %v, want only for the v3 mount", v3)
			}
		})
	}
}

// Case 3: the PXE chain. QEMU's iPXE gets pxelinux.0 from dnsmasq's TFTP,
// pxelinux reads the per-MAC file (which overrides default), then loads
// the kernel and initrd.img-Sidus over TFTP.
func TestPXEChain(t *testing.T) {
	setup(t)
	tftp := t.TempDir()
	lab0MAC := lab.MAC(0)
	def := pxe.Config("tmpfs", pxe.SerialConsole(cmdline.SeedTmpfs)+" pxecfg=default")
	perMAC := pxe.Config("tmpfs", pxe.SerialConsole(cmdline.SeedTmpfs)+" pxecfg=permac")
	if err := pxe.Dir(tftp, guest.Vmlinuz, initrd, def, map[string]string{lab0MAC: perMAC}); err != nil {
		t.Fatal(err)
	}
	lab := lab.Start(t, lab.Options{RootDir: rootDir, RootPath: lab.NFSPseudo, TFTPDir: tftp})
	vm := bootNode(t, lab, 0, "", func(o *vm.Options) { o.Kernel, o.Initrd, o.Append, o.BootNet = "", "", "", true })
	expectRoot(t, vm, "nfs4")
	if !matchLine(vm, `SIDUS-ROOT: cmdline .*pxecfg=permac`) {
		t.Errorf("the per-MAC pxelinux.cfg file did not override default")
	}
}

// Case 4: a static ip= boot: no DHCP server at all.
func TestStaticIP(t *testing.T) {
	setup(t)
	lab := lab.Start(t, lab.Options{RootDir: rootDir, NoDHCP: true})
	ip := "192.168.77.50"
	vm := bootNode(t, lab, 0, "console=ttyS0 root=/dev/nfs aufs=tmpfs nfsroot="+lab.ServerIP+":"+lab.NFSv4Path+
		" ip="+ip+"::"+lab.ServerIP+":255.255.255.0:node50:eth0:off")
	expectRoot(t, vm, "nfs4")
	for _, re := range []string{`SIDUS-ROOT: addr eth0 ` + ip + `/24`, `SIDUS-ROOT: hostname node50`, `sidus: static ip= on eth0`} {
		if !matchLine(vm, re) {
			t.Errorf("console has no line matching %q", re)
		}
	}
	if matchLine(vm, `sidus: DHCP`) {
		t.Errorf("a static ip= boot ran DHCP")
	}
}

// Case 5: malformed input names the parameter, does not panic the kernel,
// and panic=5 reboots (QEMU runs with -no-reboot, so it exits).
func TestMalformedInputReboots(t *testing.T) {
	setup(t)
	lab := lab.Start(t, lab.Options{RootDir: rootDir, RootPath: lab.NFSPseudo})
	for _, tc := range []struct{ name, bad, want string }{
		{"aufs", "aufs=bogus", `aufs=bogus: .*expected aufs=tmpfs`},
		{"nfsroot option", "nfsroot=,rsize=big,tcp", `nfsroot.*rsize.*big`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm := bootNode(t, lab, 0, "console=ttyS0 root=/dev/nfs ip=dhcp panic=5 "+tc.bad)
			if _, err := vm.ExpectAll(bootTimeout, `sidus: FATAL: kernel command line: `+tc.want, `sidus: panic=5: rebooting in 5 seconds`); err != nil {
				return
			}
			if err := vm.Wait(60 * time.Second); err != nil {
				t.Errorf("the node did not reboot: %v", err)
			}
			if c := vm.Console(); strings.Contains(c, "Kernel panic") || strings.Contains(c, "Attempted to kill init") {
				t.Errorf("kernel panic: PID 1 exited")
			}
		})
	}
}

// Case 6: a guest CPU without RDRAND (QEMU's qemu64 model) boots: the init
// never waits on getrandom.
func TestNoRDRAND(t *testing.T) {
	setup(t)
	lab := lab.Start(t, lab.Options{RootDir: rootDir, RootPath: lab.NFSPseudo})
	vm := bootNode(t, lab, 0, pxe.SerialConsole(cmdline.SeedTmpfs)+" sidus.test.report=/proc/cpuinfo",
		func(o *vm.Options) { o.CPU = "qemu64,-rdrand" })
	expectRoot(t, vm, "nfs4")
	if !matchLine(vm, `SIDUS-ROOT: file /proc/cpuinfo .*flags`) || matchLine(vm, `SIDUS-ROOT: file /proc/cpuinfo .*rdrand`) {
		t.Errorf("the guest CPU is not proven free of RDRAND")
	}
}

// Case 7: the NFS server starts 20 s after the VM: the node waits, says
// so, and boots.
func TestNFSServerLate(t *testing.T) {
	setup(t)
	lab := lab.Start(t, lab.Options{RootDir: rootDir, RootPath: lab.NFSPseudo, NFSStartDelay: 20 * time.Second})
	vm := bootNode(t, lab, 0, pxe.SerialConsole(cmdline.SeedTmpfs))
	if _, err := vm.Expect(`sidus: nfs mount .* attempt \d+: .*retrying in`, bootTimeout); err != nil {
		return
	}
	expectRoot(t, vm, "nfs4")
}

func matchLine(vm *vm.VM, re string) bool {
	return regexpMatchAny(vm.Lines(), re)
}
