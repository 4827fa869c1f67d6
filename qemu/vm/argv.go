// Package vm runs a QEMU VM for the tests: Options.Argv, a pure function
// that is table-tested, turns a VM's description into QEMU's argument
// vector (TCG, serial console on stdout, tap or always-restricted user
// networking), and Start runs it, logs its serial console line by line and
// matches it with Expect. QEMU is killed by PID when the test (or the
// qemu.Process of a command) ends.
package vm

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Options describe a QEMU VM. Argv turns them into an argument vector and
// does nothing else, so it is table-tested (argv_test.go). We own the argv
// instead of using vmtest's qemu.Options: we need tap devices in a
// namespace, PXE boot without -kernel and user networking that is always
// restricted, which vmtest's device set does not express.
type Options struct {
	// QEMU is the program (default qemu-system-x86_64).
	QEMU string
	// Kernel, Initrd and Append boot a kernel directly (-kernel ...).
	Kernel, Initrd, Append string
	// BootNet PXE-boots from the first NIC (-boot n); Kernel is ignored.
	BootNet bool
	// Memory is -m (default 512M).
	Memory string
	// CPU is -cpu; "" keeps QEMU's default model (no RDRAND, like old
	// nodes); "max" gives RDRAND.
	CPU string
	// SMP is -smp; 0 leaves QEMU's default (1).
	SMP     int
	NetDevs []NetDev
	// Disks are raw images, attached as virtio disks in order (vda, vdb...).
	Disks []string
	// NoReboot makes a guest reboot (or panic=-1) exit QEMU.
	NoReboot bool
	// Monitor, if set, is the path of a Unix socket where QEMU serves its
	// human monitor (VM.Monitor, VM.SetLink: a NIC's link cut and
	// restored as the guest sees it); "" gives -monitor none.
	Monitor string
	// ExtraArgs are appended as is; Validate rejects unrestricted user
	// networking in them.
	ExtraArgs []string
}

// NetDev is a NIC and its host side: a tap device (Tap) or QEMU user-mode
// networking (User), which Argv always renders with restrict=on.
type NetDev struct {
	// Tap is the tap device name (in the lab's namespace).
	Tap string
	// User selects user-mode networking, restricted: the guest reaches only
	// the GuestFwd services (and TFTP).
	User     bool
	GuestFwd []GuestFwd
	// TFTP and BootFile are user-mode TFTP (tftp=DIR,bootfile=FILE).
	TFTP, BootFile string
	// MAC is the NIC's address; "" lets QEMU choose.
	MAC string
	// Model is the NIC (default virtio-net-pci).
	Model string
}

// GuestFwd forwards a guest TCP address to a host one:
// guestfwd=tcp:Guest-tcp:Host, e.g. {"10.0.2.100:2049", "127.0.0.1:2049"}.
type GuestFwd struct {
	Guest string // ip:port the guest connects to
	Host  string // ip:port on the host (loopback only, see Validate)
}

// Argv returns the full QEMU command line, program first.
//
// Fixed parts: -nodefaults -no-user-config (no stray devices or config),
// -accel tcg (nested KVM is broken here), -display none and -serial stdio
// (the guest console on QEMU's stdout), -monitor none.
func (o Options) Argv() []string {
	prog := o.QEMU
	if prog == "" {
		prog = "qemu-system-x86_64"
	}
	mem := o.Memory
	if mem == "" {
		mem = "512M"
	}
	a := []string{prog,
		"-nodefaults", "-no-user-config",
		"-accel", "tcg",
		"-display", "none",
		"-serial", "stdio",
		"-monitor", "none",
		"-m", mem,
	}
	if o.Monitor != "" {
		a[len(a)-3] = "unix:" + o.Monitor + ",server=on,wait=off"
	}
	if o.CPU != "" {
		a = append(a, "-cpu", o.CPU)
	}
	if o.SMP > 0 {
		a = append(a, "-smp", strconv.Itoa(o.SMP))
	}
	if o.NoReboot {
		a = append(a, "-no-reboot")
	}
	if o.BootNet {
		a = append(a, "-boot", "n")
	} else if o.Kernel != "" {
		a = append(a, "-kernel", o.Kernel)
		if o.Initrd != "" {
			a = append(a, "-initrd", o.Initrd)
		}
		if o.Append != "" {
			a = append(a, "-append", o.Append)
		}
	}
	for i, n := range o.NetDevs {
		a = append(a, n.args(i)...)
	}
	for i, d := range o.Disks {
		a = append(a, "-drive", fmt.Sprintf("file=%s,format=raw,if=virtio,index=%d", d, i))
	}
	return append(a, o.ExtraArgs...)
}

// NetDevID is the QEMU id of NetDevs[i] (the -netdev id= that the
// monitor's set_link names).
func NetDevID(i int) string { return "n" + strconv.Itoa(i) }

// SetLinkCommand is the monitor command that sets the link of NetDevs[i]
// up or down, as the guest's driver sees it (carrier).
func SetLinkCommand(i int, up bool) string {
	state := "off"
	if up {
		state = "on"
	}
	return "set_link " + NetDevID(i) + " " + state
}

func (n NetDev) args(i int) []string {
	id := NetDevID(i)
	var nd string
	switch {
	case n.User:
		parts := []string{"user", "id=" + id, "restrict=on"}
		for _, f := range n.GuestFwd {
			parts = append(parts, "guestfwd=tcp:"+f.Guest+"-tcp:"+f.Host)
		}
		if n.TFTP != "" {
			parts = append(parts, "tftp="+n.TFTP)
		}
		if n.BootFile != "" {
			parts = append(parts, "bootfile="+n.BootFile)
		}
		nd = strings.Join(parts, ",")
	default:
		nd = "tap,id=" + id + ",ifname=" + n.Tap + ",script=no,downscript=no"
	}
	model := n.Model
	if model == "" {
		model = "virtio-net-pci"
	}
	dev := model + ",netdev=" + id
	if n.MAC != "" {
		dev += ",mac=" + n.MAC
	}
	return []string{"-netdev", nd, "-device", dev}
}

// Validate reports options that Argv would render but this machine's rules
// forbid: a NIC that is neither tap nor user, a guestfwd to a non-loopback
// host, or user networking in ExtraArgs without restrict=on.
func (o Options) Validate() error {
	for i, n := range o.NetDevs {
		if n.User == (n.Tap != "") {
			return fmt.Errorf("netdev %d: set exactly one of Tap and User", i)
		}
		for _, f := range n.GuestFwd {
			host, _, err := net.SplitHostPort(f.Host)
			if err != nil {
				return fmt.Errorf("netdev %d: guestfwd host %q: %w", i, f.Host, err)
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("netdev %d: guestfwd to %q: only loopback targets are allowed", i, f.Host)
			}
		}
	}
	for i, arg := range o.ExtraArgs {
		if i == 0 || (o.ExtraArgs[i-1] != "-netdev" && o.ExtraArgs[i-1] != "-nic" && o.ExtraArgs[i-1] != "-net") {
			continue
		}
		if strings.HasPrefix(arg, "user") && !strings.Contains(arg, "restrict=on") {
			return fmt.Errorf("ExtraArgs: user networking without restrict=on: %q", arg)
		}
	}
	if o.Monitor != "" && (!strings.HasPrefix(o.Monitor, "/") || strings.ContainsAny(o.Monitor, ",")) {
		return fmt.Errorf("Monitor %q: want an absolute socket path without ','", o.Monitor)
	}
	if o.BootNet && len(o.NetDevs) == 0 {
		return fmt.Errorf("BootNet without a NetDev")
	}
	if !o.BootNet && o.Kernel == "" && len(o.Disks) == 0 {
		return fmt.Errorf("nothing to boot: set Kernel, BootNet or Disks")
	}
	return nil
}
