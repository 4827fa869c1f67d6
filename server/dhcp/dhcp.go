// Package dhcp writes what the node network's DHCP server needs to boot
// SIDUS nodes: next-server, the pxelinux.0 boot file, the tree as
// root-path (option 17, which the seed's empty nfsroot= path reads) and one
// fixed host entry per node. For isc-dhcp-server it is one include file;
// for dnsmasq a conf-dir snippet and a dhcp-hostsfile. It also reads the
// servers' lease files for `sidus node list`.
package dhcp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/runner"
)

// Host is one node's fixed lease.
type Host struct {
	Name string
	MAC  string // aa:bb:cc:dd:ee:ff
	IP   netip.Addr
}

const header = "# Written by sidus (sidus setup, sidus node add/rm): do not edit, it is rewritten.\n"

// BootFile is the DHCP filename: pxelinux, served by TFTP.
const BootFile = "pxelinux.0"

func sorted(hosts []Host) []Host {
	h := slices.Clone(hosts)
	slices.SortFunc(h, func(a, b Host) int { return a.IP.Compare(b.IP) })
	return h
}

func netmask(p netip.Prefix) string {
	return net.IP(net.CIDRMask(p.Bits(), 32)).String()
}

// ISCInclude is the isc-dhcp-server include file: the node subnet (if
// dhcp.subnet), and a group carrying the boot options and the hosts.
func ISCInclude(c *config.Config, hosts []Host) string {
	var b strings.Builder
	b.WriteString(header)
	fmt.Fprintf(&b, "# Include it from %s:\n#   include \"%s\";\n", c.DHCP.Conf, c.DHCP.Include)
	b.WriteString("allow booting;\n")
	if *c.DHCP.Subnet {
		fmt.Fprintf(&b, "\n# The node network: only the hosts below get an address.\nsubnet %s netmask %s {\n}\n", c.Prefix.Addr(), netmask(c.Prefix))
	}
	fmt.Fprintf(&b, "\ngroup {\n  next-server %s;\n  filename \"%s\";\n  option root-path \"%s\";\n", c.ServerAddr, BootFile, c.Tree)
	for _, h := range sorted(hosts) {
		fmt.Fprintf(&b, "\n  host %s {\n    hardware ethernet %s;\n    fixed-address %s;\n    option host-name \"%s\";\n  }\n", h.Name, h.MAC, h.IP, h.Name)
	}
	b.WriteString("}\n")
	return b.String()
}

// DnsmasqConf is the conf-dir snippet for dnsmasq.
func DnsmasqConf(c *config.Config) string {
	var b strings.Builder
	b.WriteString(header)
	if *c.DHCP.Subnet {
		fmt.Fprintf(&b, "# The node network: only the hosts of dhcp-hostsfile get an address.\ndhcp-range=%s,static,%s\n", c.Prefix.Addr(), netmask(c.Prefix))
	}
	fmt.Fprintf(&b, "dhcp-boot=%s,,%s\n", BootFile, c.ServerAddr)
	fmt.Fprintf(&b, "dhcp-option=option:root-path,%s\n", c.Tree)
	fmt.Fprintf(&b, "dhcp-hostsfile=%s\n", c.DHCP.Hosts)
	fmt.Fprintf(&b, "# To serve TFTP from dnsmasq rather than tftpd-hpa:\n# enable-tftp\n# tftp-root=%s\n", c.TFTP.Root)
	return b.String()
}

// DnsmasqHosts is the dhcp-hostsfile: MAC,IP,NAME per line.
func DnsmasqHosts(hosts []Host) string {
	var b strings.Builder
	b.WriteString(header)
	for _, h := range sorted(hosts) {
		fmt.Fprintf(&b, "%s,%s,%s\n", h.MAC, h.IP, h.Name)
	}
	return b.String()
}

// Stage adds the DHCP files for hosts to tx.
func Stage(c *config.Config, hosts []Host, tx *files.Txn) {
	switch c.DHCP.Server {
	case config.ISCDHCP:
		tx.Write(c.DHCP.Include, []byte(ISCInclude(c, hosts)), 0o644)
	case config.Dnsmasq:
		tx.Write(c.DHCP.DnsmasqConf, []byte(DnsmasqConf(c)), 0o644)
		tx.Write(c.DHCP.Hosts, []byte(DnsmasqHosts(hosts)), 0o644)
	}
}

// Reload runs dhcp.reload (if set) so the server reads the files again.
func Reload(ctx context.Context, c *config.Config, r runner.Runner) error {
	if len(c.DHCP.Reload) == 0 {
		return nil
	}
	if err := r.Run(ctx, runner.Cmd{Args: c.DHCP.Reload}); err != nil {
		return fmt.Errorf("reload %s: %w; is it installed? its log (journalctl -u %s) names any error in sidus's files (set dhcp.reload = [] to reload it yourself)", c.DHCP.Server, err, c.DHCP.Server)
	}
	return nil
}

// Lease is the last lease a server recorded for a MAC.
type Lease struct {
	IP   netip.Addr
	MAC  string
	Ends time.Time // zero: infinite or unknown
}

// ParseISCLeases reads dhcpd.leases: the last lease block for each MAC
// wins (the file is appended to). Fixed-address hosts do not appear there.
func ParseISCLeases(r io.Reader) map[string]Lease {
	out := map[string]Lease{}
	sc := bufio.NewScanner(r)
	var cur *Lease
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "lease ") && strings.HasSuffix(l, "{"):
			f := strings.Fields(l)
			ip, err := netip.ParseAddr(f[1])
			if err != nil {
				cur = nil
				continue
			}
			cur = &Lease{IP: ip}
		case cur != nil && strings.HasPrefix(l, "hardware ethernet "):
			cur.MAC = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(l, "hardware ethernet "), ";"))
		case cur != nil && strings.HasPrefix(l, "ends "):
			// ends 2 2026/12/01 12:10:00;  (UTC)
			f := strings.Fields(strings.TrimSuffix(l, ";"))
			if len(f) == 4 {
				cur.Ends, _ = time.Parse("2006/01/02 15:04:05", f[2]+" "+f[3])
			}
		case cur != nil && l == "}":
			if cur.MAC != "" {
				out[cur.MAC] = *cur
			}
			cur = nil
		}
	}
	return out
}

// ParseDnsmasqLeases reads dnsmasq.leases: "EXPIRY MAC IP NAME CLIENTID".
func ParseDnsmasqLeases(r io.Reader) map[string]Lease {
	out := map[string]Lease{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		ip, err := netip.ParseAddr(f[2])
		if err != nil {
			continue
		}
		l := Lease{IP: ip, MAC: strings.ToLower(f[1])}
		if exp, err := strconv.ParseInt(f[0], 10, 64); err == nil && exp > 0 {
			l.Ends = time.Unix(exp, 0).UTC()
		}
		out[l.MAC] = l
	}
	return out
}

// ReadLeases reads the configured server's lease file (missing: none).
func ReadLeases(c *config.Config, open func(string) (io.ReadCloser, error)) map[string]Lease {
	f, err := open(c.DHCP.Leases)
	if err != nil {
		return map[string]Lease{}
	}
	defer f.Close()
	if c.DHCP.Server == config.Dnsmasq {
		return ParseDnsmasqLeases(f)
	}
	return ParseISCLeases(f)
}
