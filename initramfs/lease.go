package initramfs

import (
	"net"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/netconf"
)

// Lease is the network configuration the node ended up with, from DHCP or
// from a static ip=.
type Lease struct {
	netconf.Config
	Proto      string // "dhcp" or "none" (static)
	NextServer net.IP // siaddr
	RootPath   string // option 17
	BootFile   string
	// NoDefaultRoute: Configure installs no default route through Gateway
	// (the DHCP router of an interface other than the boot NIC's, which
	// must not take the boot NIC's route). NetConf still names Gateway.
	NoDefaultRoute bool
}

// NetConf renders l in initramfs-tools' /run/net-DEV.conf format, which
// the booted system's scripts (and admins) already know how to read.
// ROOTSERVER is siaddr, else the DHCP server.
func (l *Lease) NetConf() string {
	rootServer := l.NextServer
	if rootServer == nil || rootServer.IsUnspecified() {
		rootServer = l.ServerID
	}
	return netconf.NetConf(l.Config, netconf.Boot{Proto: l.Proto, RootServer: rootServer, RootPath: l.RootPath, BootFile: l.BootFile})
}

// resolvConf renders l's /etc/resolv.conf.
func resolvConf(l *Lease) string { return netconf.ResolvConf(l.Config, "sidus-init") }

// staticLease turns a static ip= into a Lease.
func staticLease(dev string, c cmdline.IPConfig) *Lease {
	mask := c.Netmask
	if mask == nil {
		mask = c.Client.DefaultMask()
	}
	return &Lease{
		Config: netconf.Config{
			Device:   dev,
			IP:       c.Client,
			Netmask:  mask,
			Gateway:  c.Gateway,
			DNS:      c.DNS,
			Hostname: c.Hostname,
		},
		Proto:      "none",
		NextServer: c.Server,
	}
}
