// Package netconf is what the init and the node agent both know about the
// boot NIC's network configuration: the DHCP requests they send, and the
// files they write from a lease, /run/net-DEV.conf (initramfs-tools'
// format) and /etc/resolv.conf. The init writes the files at boot, the
// agent rewrites them when a renewal changes the lease.
//
// It is small and pure (no I/O) so that the agent (agent/renew) does not
// link the init (package initramfs) and the init does not link the agent.
package netconf

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Config is a NIC's configuration from a lease (or from a static ip=).
type Config struct {
	Device   string
	IP       net.IP
	Netmask  net.IPMask
	Gateway  net.IP
	DNS      []net.IP
	Hostname string
	Domain   string
	// ServerID is the DHCP server identifier (option 54).
	ServerID net.IP
	// LeaseTime is option 51.
	LeaseTime time.Duration
}

// Boot is what only the init knows of a /run/net-DEV.conf: how the address
// came and where the root is. A renewal changes none of it.
type Boot struct {
	Proto      string // "dhcp" or "none" (a static ip=)
	RootServer net.IP
	RootPath   string
	BootFile   string // the key "filename"
}

// fileKeys are the keys of /run/net-DEV.conf in the init's order;
// leaseKeys those of them that a lease gives (all but Boot's).
var (
	fileKeys = []string{"DEVICE", "PROTO", "IPV4ADDR", "IPV4BROADCAST", "IPV4NETMASK", "IPV4GATEWAY",
		"IPV4DNS0", "IPV4DNS1", "HOSTNAME", "DNSDOMAIN", "ROOTSERVER", "ROOTPATH", "filename", "DHCPLEASETIME"}
	leaseKeys = []string{"DEVICE", "IPV4ADDR", "IPV4BROADCAST", "IPV4NETMASK", "IPV4GATEWAY",
		"IPV4DNS0", "IPV4DNS1", "HOSTNAME", "DNSDOMAIN", "DHCPLEASETIME"}
)

// NetConf renders c and b as a whole /run/net-DEV.conf in initramfs-tools'
// format (KEY='value' lines), which the booted system's scripts (and
// admins) already know how to read.
func NetConf(c Config, b Boot) string {
	vals := c.values()
	vals["PROTO"], vals["ROOTSERVER"], vals["ROOTPATH"], vals["filename"] = b.Proto, ip(b.RootServer), b.RootPath, b.BootFile
	var s strings.Builder
	for _, k := range fileKeys {
		line(&s, k, vals[k])
	}
	return s.String()
}

// UpdateNetConf updates prev, a /run/net-DEV.conf as NetConf writes it,
// with c: the keys a lease gives are replaced in place, the others (PROTO,
// ROOTSERVER, ROOTPATH, filename, and lines that are not the init's) kept,
// and the lease's keys prev lacks appended. An empty prev gives a whole
// file, with ROOTSERVER the DHCP server and no ROOTPATH or filename.
func UpdateNetConf(prev string, c Config) string {
	if strings.TrimSpace(prev) == "" {
		return NetConf(c, Boot{Proto: "dhcp", RootServer: c.ServerID})
	}
	vals := c.values()
	var s strings.Builder
	done := map[string]bool{}
	for l := range strings.Lines(prev) {
		k, _, ok := strings.Cut(l, "=")
		if v, mine := vals[k]; ok && mine && !done[k] {
			line(&s, k, v)
			done[k] = true
			continue
		}
		s.WriteString(l)
		if !strings.HasSuffix(l, "\n") {
			s.WriteString("\n")
		}
	}
	for _, k := range leaseKeys {
		if !done[k] {
			line(&s, k, vals[k])
		}
	}
	return s.String()
}

// values are c's leaseKeys.
func (c Config) values() map[string]string {
	dns := func(i int) string {
		if i < len(c.DNS) {
			return ip(c.DNS[i])
		}
		return "0.0.0.0"
	}
	mask, bcast := "0.0.0.0", "0.0.0.0"
	if ip4 := c.IP.To4(); len(c.Netmask) >= 4 && ip4 != nil {
		nm := c.Netmask[len(c.Netmask)-4:]
		mask = net.IP(nm).String()
		b := make(net.IP, 4)
		for i := range b {
			b[i] = ip4[i] | ^nm[i]
		}
		bcast = b.String()
	}
	return map[string]string{
		"DEVICE": c.Device, "IPV4ADDR": ip(c.IP), "IPV4BROADCAST": bcast, "IPV4NETMASK": mask,
		"IPV4GATEWAY": ip(c.Gateway), "IPV4DNS0": dns(0), "IPV4DNS1": dns(1),
		"HOSTNAME": c.Hostname, "DNSDOMAIN": c.Domain,
		"DHCPLEASETIME": fmt.Sprint(int64(c.LeaseTime.Seconds())),
	}
}

// line writes KEY='value', the value quoted for a POSIX shell.
func line(s *strings.Builder, k, v string) {
	fmt.Fprintf(s, "%s='%s'\n", k, strings.ReplaceAll(v, "'", `'\''`))
}

func ip(x net.IP) string {
	if x == nil {
		return "0.0.0.0"
	}
	return x.String()
}

// ResolvConf renders c's resolver configuration, headed by a comment that
// names writer ("sidus-init", "sidus-agent").
func ResolvConf(c Config, writer string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "# Written by %s from DHCP\n", writer)
	if c.Domain != "" {
		fmt.Fprintf(&s, "search %s\n", c.Domain)
	}
	for _, d := range c.DNS {
		fmt.Fprintf(&s, "nameserver %s\n", d)
	}
	return s.String()
}
