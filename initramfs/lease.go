package initramfs

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
)

// Lease is the network configuration the node ended up with, from DHCP or
// from a static ip=.
type Lease struct {
	Device     string
	Proto      string // "dhcp" or "none" (static)
	IP         net.IP
	Netmask    net.IPMask
	Gateway    net.IP
	DNS        []net.IP
	Hostname   string
	Domain     string
	ServerID   net.IP // DHCP server identifier (option 54)
	NextServer net.IP // siaddr
	RootPath   string // option 17
	BootFile   string
	LeaseTime  time.Duration
}

// NetConf renders l in initramfs-tools' /run/net-DEV.conf format, which
// the booted system's scripts (and admins) already know how to read.
func (l *Lease) NetConf() string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	ip := func(x net.IP) string {
		if x == nil {
			return "0.0.0.0"
		}
		return x.String()
	}
	dns := func(i int) string {
		if i < len(l.DNS) {
			return ip(l.DNS[i])
		}
		return "0.0.0.0"
	}
	mask := "0.0.0.0"
	bcast := "0.0.0.0"
	if l.Netmask != nil && l.IP != nil {
		mask = net.IP(l.Netmask).String()
		b := make(net.IP, 4)
		ip4 := l.IP.To4()
		for i := range b {
			b[i] = ip4[i] | ^l.Netmask[len(l.Netmask)-4+i]
		}
		bcast = b.String()
	}
	rootServer := l.NextServer
	if rootServer == nil || rootServer.IsUnspecified() {
		rootServer = l.ServerID
	}
	var b strings.Builder
	kv := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, q(v)) }
	kv("DEVICE", l.Device)
	kv("PROTO", l.Proto)
	kv("IPV4ADDR", ip(l.IP))
	kv("IPV4BROADCAST", bcast)
	kv("IPV4NETMASK", mask)
	kv("IPV4GATEWAY", ip(l.Gateway))
	kv("IPV4DNS0", dns(0))
	kv("IPV4DNS1", dns(1))
	kv("HOSTNAME", l.Hostname)
	kv("DNSDOMAIN", l.Domain)
	kv("ROOTSERVER", ip(rootServer))
	kv("ROOTPATH", l.RootPath)
	kv("filename", l.BootFile)
	kv("DHCPLEASETIME", fmt.Sprint(int(l.LeaseTime.Seconds())))
	return b.String()
}

// staticLease turns a static ip= into a Lease.
func staticLease(dev string, c cmdline.IPConfig) *Lease {
	mask := c.Netmask
	if mask == nil {
		mask = c.Client.DefaultMask()
	}
	return &Lease{
		Device:     dev,
		Proto:      "none",
		IP:         c.Client,
		Netmask:    mask,
		Gateway:    c.Gateway,
		DNS:        c.DNS,
		Hostname:   c.Hostname,
		NextServer: c.Server,
	}
}
