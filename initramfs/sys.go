package initramfs

import (
	"context"
	"os"
	"time"
)

// System is the seam between the boot sequence and the kernel: every side
// effect of Boot goes through it, so tests run Boot on a fake that records
// calls. The Linux implementation is in sys_linux.go.
type System interface {
	// Mount is mount(2).
	Mount(source, target, fstype string, flags uintptr, data string) error
	// MkdirAll is mkdir -p.
	MkdirAll(path string) error
	ReadFile(path string) ([]byte, error)
	WriteFile(path string, data []byte, perm os.FileMode) error
	// Remove removes a file or empty directory; a missing one is no error.
	Remove(path string) error
	// LoadModule loads one .ko with finit_module(2). A module that is
	// already loaded or built in is not an error.
	LoadModule(path string) error
	// Net configures the network.
	Net() Network
	// Sleep waits d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

// Network is the netlink and DHCP seam.
type Network interface {
	// Links lists the non-loopback interfaces.
	Links() ([]Link, error)
	// Up sets the link up.
	Up(name string) error
	// DHCP runs one DISCOVER/OFFER/REQUEST/ACK exchange on the interface,
	// bounded by ctx.
	DHCP(ctx context.Context, name string, xid uint32, hostname string) (*Lease, error)
	// Configure sets the address (permanent), the default route and the
	// hostname of the lease.
	Configure(name string, l *Lease) error
}

// Link is a network interface.
type Link struct {
	Name    string
	MAC     string // aa:bb:cc:dd:ee:ff
	Carrier bool
	Up      bool
}

// Handover is the last step's seam: it ends the initramfs.
type Handover interface {
	// SwitchRoot moves /dev, /proc, /sys and /run into newRoot, deletes
	// the initramfs, chroots and execs init with args. It returns only on
	// error.
	SwitchRoot(newRoot, init string, args []string) error
	// Shell runs the rescue shell on the console and returns when it
	// exits. It returns ErrNoShell when the image has none.
	Shell(reason string) error
}
