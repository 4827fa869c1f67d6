package initramfs

import (
	"context"
	"io/fs"
	"net"
	"os"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
)

// System is the seam between the boot sequence and the kernel: every side
// effect of Boot goes through it (the iSCSI stage's through
// Options.ISCSI, the loop, RBD and dm-verity devices of the other shared
// roots through Options.Image), and so does every read of the clock and
// of the host's trees, so tests run Boot on a fake that records calls and
// writes nothing. The Linux implementation is in sys_linux.go.
type System interface {
	// Mount is mount(2).
	Mount(source, target, fstype string, flags uintptr, data string) error
	// MkdirAll is mkdir -p.
	MkdirAll(path string) error
	ReadFile(path string) ([]byte, error)
	// DirFS is a read-only view of the tree at dir: Boot reads the device
	// modaliases from DirFS("/sys").
	DirFS(dir string) fs.FS
	WriteFile(path string, data []byte, perm os.FileMode) error
	// Symlink makes link point to target.
	Symlink(target, link string) error
	// Remove removes a file or empty directory; a missing one is no error.
	Remove(path string) error
	// LoadModule loads one .ko with finit_module(2). A module that is
	// already loaded or built in is not an error.
	LoadModule(path string) error
	// Net configures the network.
	Net() Network
	// Now is the clock of the stage timings, the retry deadlines and
	// rootdelay=.
	Now() time.Time
	// Sleep waits d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// Network is the netlink, DHCP and name resolution seam.
type Network interface {
	// Links lists the non-loopback interfaces.
	Links() ([]Link, error)
	// Up sets the link up.
	Up(name string) error
	// Down sets the link down.
	Down(name string) error
	// Rename renames the link old to new; it must be down.
	Rename(old, new string) error
	// SetMTU sets the link's MTU.
	SetMTU(name string, mtu int) error
	// SetMAC sets the link's hardware address; it must be down.
	SetMAC(name string, mac net.HardwareAddr) error
	// DHCP runs one DISCOVER/OFFER/REQUEST/ACK exchange on the interface,
	// bounded by ctx.
	DHCP(ctx context.Context, name string, xid uint32, hostname string) (*Lease, error)
	// Configure sets the address (permanent), the default route (unless
	// l.NoDefaultRoute) and the hostname (if any) of the lease.
	Configure(name string, l *Lease) error
	// LookupHost resolves a host name (an nfsroot= server) with the DNS
	// servers the network stage configured.
	LookupHost(ctx context.Context, host string) ([]string, error)
	// AddBond creates the bond b.Name (or takes the one of that name),
	// sets the bonding driver's options (mode first, while it is down and
	// has no slaves), enslaves b.Slaves (each set down first), sets the
	// MTU (0: leave it) and sets the bond up.
	AddBond(b cmdline.Bond) error
	// AddVLAN creates the 802.1Q interface v.Name with ID v.ID on
	// v.Parent, sets the parent up, then the VLAN.
	AddVLAN(v cmdline.VLAN) error
}

// Link is a network interface.
type Link struct {
	Name    string
	MAC     string // aa:bb:cc:dd:ee:ff
	Carrier bool
	Up      bool
	// OperUp is operstate up: the kernel's link watch has run and
	// attached the queueing discipline. Between carrier and then (up to
	// a second), what the link sends is dropped.
	OperUp bool
}

// Handover is the last step's seam: it ends the initramfs.
type Handover interface {
	// SwitchRoot moves /dev, /proc, /sys and /run into newRoot, deletes
	// the initramfs, chroots and execs init with args. It returns only on
	// error.
	// If agent is not nil, it is started after the chroot, before the exec.
	SwitchRoot(newRoot, init string, args []string, agent *AgentStart) error
	// Shell runs the rescue shell on the console and returns when it
	// exits. It returns ErrNoShell when the image has none.
	Shell(reason string) error
}
