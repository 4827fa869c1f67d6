package cmdline

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// autoconf is what an <autoconf> word of ip= means here: the mode, and a
// warning when the word names what the init cannot do.
type autoconf struct {
	mode IPMode
	warn string
}

// autoconfWords are the kernel's (nfsroot.rst) and dracut's
// (dracut.cmdline(7)) autoconf words. The kernel's bootp, rarp and both
// name protocols the init does not speak: it asks DHCP, which a DHCP server
// answers and a BOOTP-only or RARP server may not. The IPv6 words cannot
// be honoured: the init configures IPv4 only.
var autoconfWords = map[string]autoconf{
	"dhcp": {mode: IPDHCP}, "on": {mode: IPDHCP}, "any": {mode: IPDHCP},
	"single-dhcp": {mode: IPDHCP}, // dracut: DHCP on every NIC at once, first answer wins; the init asks on the boot NIC
	"bootp":       {IPDHCP, "BOOTP is not supported; DHCP is used (a DHCP server answers, a BOOTP-only server may not)"},
	"rarp":        {IPDHCP, "RARP is not supported; DHCP is used"},
	"both":        {IPDHCP, "BOOTP and RARP are not supported; DHCP is used"},
	"dhcp6":       {IPDHCP, "IPv6 is not supported; DHCP (IPv4) is used"},
	"auto6":       {IPDHCP, "IPv6 is not supported; DHCP (IPv4) is used"},
	"either6":     {IPDHCP, "IPv6 is not supported; DHCP (IPv4) is used"},
	"link6":       {IPOff, "IPv6 is not supported; the link is brought up without an address"},
	"off":         {mode: IPOff}, "none": {mode: IPOff},
}

// parseIP parses one ip= (or nfsaddrs=): the kernel's form
// (Documentation/admin-guide/nfs/nfsroot.rst), pxelinux's IPAPPEND 1
// <client>:<server>:<gw>:<netmask> (the same form, shorter), and dracut's
// <device>:<autoconf>[:<mtu>[:<macaddr>]] and :<mtu>:<macaddr> tail. The
// result joins IPs.
func (p *parser) parseIP(key, v string) error {
	bad := func(reason string) error {
		return &ParamError{Param: key, Value: v, Reason: reason, Expected: ipForm}
	}
	word := strings.ToLower(v)
	if word == "ibft" { // dracut: configure the NICs from the iBFT
		p.c.IBFTNetwork = true
		return nil
	}
	if v == "" {
		p.addIP(IPConfig{Mode: IPDHCP})
		return nil
	}
	if a, ok := autoconfWords[word]; ok {
		if a.warn != "" {
			p.warn(key, v, "%s", a.warn)
		}
		p.addIP(IPConfig{Mode: a.mode})
		return nil
	}
	if id, ok := strings.CutPrefix(word, "dhcp,"); ok { // the kernel's ip=dhcp,<client-id-type>,<client-id-value>
		if typ, val, ok := strings.Cut(id, ","); !ok || !allDigits(typ) || len(typ) > 3 || val == "" {
			return bad("the client identifier must be dhcp,<type>,<value>, e.g. ip=dhcp,0,node1")
		}
		p.warn(key, v, "a DHCP client identifier is not supported; DHCP is used without it")
		p.addIP(IPConfig{Mode: IPDHCP})
		return nil
	}
	if strings.ContainsAny(v, "[]") {
		return bad("IPv6 addresses are not supported: the init configures IPv4 only")
	}
	f := strings.Split(v, ":")
	if len(f) >= 2 && strings.Trim(f[0], "0123456789.") != "" {
		if _, ok := autoconfWords[strings.ToLower(f[1])]; ok {
			return p.parseIPDevice(key, v, f, bad)
		}
	}
	if len(f) > 14 {
		return bad(fmt.Sprintf("%d fields, at most 10 (<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>:<dns1>:<ntp0>) or 14 (...:<autoconf>:<mtu>:<6-field MAC>)", len(f)))
	}
	f = append(f, make([]string, max(0, 7-len(f)))...)
	var ipc IPConfig
	var err error
	if ipc.Client, err = ipv4Field("client", f[0], bad); err != nil {
		return err
	}
	server := f[1]
	if i := strings.IndexByte(server, '/'); i >= 0 { // dracut: <peer>/<prefix length>
		if n, err := strconv.Atoi(server[i+1:]); err != nil || !allDigits(server[i+1:]) || n > 32 {
			return bad(fmt.Sprintf("peer %q: the prefix length after '/' must be 0 to 32", server))
		}
		server = server[:i]
	}
	if ipc.Server, err = ipv4Field("server", server, bad); err != nil {
		return err
	}
	if ipc.Gateway, err = ipv4Field("gateway", f[2], bad); err != nil {
		return err
	}
	if f[3] != "" {
		if allDigits(f[3]) {
			n, _ := strconv.Atoi(f[3])
			if len(f[3]) > 2 || n > 32 {
				return bad(fmt.Sprintf("netmask %q: a prefix length must be 0 to 32", f[3]))
			}
			ipc.Netmask = net.CIDRMask(n, 32)
		} else {
			ip := net.ParseIP(f[3]).To4()
			m := net.IPMask(ip)
			if _, bits := m.Size(); ip == nil || bits == 0 {
				return bad(fmt.Sprintf("netmask %q is neither a dotted mask like 255.255.255.0 nor a prefix length like 24", f[3]))
			}
			ipc.Netmask = m
		}
	}
	if h := f[4]; h != "" {
		if len(h) > 64 || strings.IndexFunc(h, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' }) >= 0 {
			return bad(fmt.Sprintf("hostname %q must be at most 64 printable characters without spaces", h))
		}
		ipc.Hostname = h
	}
	if d := f[5]; d != "" {
		if !validIfName(d) {
			return bad(fmt.Sprintf("device %q is not an interface name (at most 15 characters, no '/' or spaces)", d))
		}
		ipc.Device = d
	}
	if err := ipTail(&ipc, f[7:], false, bad); err != nil {
		return err
	}
	ac := strings.ToLower(f[6])
	switch a, ok := autoconfWords[ac]; {
	case ac == "ibft": // dracut: this NIC from the iBFT; the other fields are not used
		p.c.IBFTNetwork = true
		return nil
	case ac == "":
		ipc.Mode = IPDHCP // no address and no autoconf: ask DHCP
		if ipc.Client != nil {
			ipc.Mode = IPStatic
		}
	case !ok:
		return bad(fmt.Sprintf("autoconf %q is not one of dhcp, on, any, off, none (or bootp, rarp, both, dhcp6, auto6, either6, link6, ibft)", f[6]))
	case a.mode == IPOff && ipc.Client != nil:
		ipc.Mode = IPStatic
	default:
		if a.warn != "" {
			p.warn(key, v, "%s", a.warn)
		}
		ipc.Mode = a.mode
	}
	p.addIP(ipc)
	return nil
}

// parseIPDevice parses dracut's ip=<device>:<autoconf>[:[<mtu>][:<macaddr>]],
// the MAC address either one field (aa-bb-...) or six (aa:bb:...).
func (p *parser) parseIPDevice(key, v string, f []string, bad func(string) error) error {
	if !validIfName(f[0]) {
		return bad(fmt.Sprintf("device %q is not an interface name (at most 15 characters, no '/' or spaces)", f[0]))
	}
	ipc := IPConfig{Device: f[0]}
	if err := ipTail(&ipc, f[2:], true, bad); err != nil {
		return err
	}
	a := autoconfWords[strings.ToLower(f[1])]
	if a.warn != "" {
		p.warn(key, v, "%s", a.warn)
	}
	ipc.Mode = a.mode
	p.addIP(ipc)
	return nil
}

// ipTail parses what follows <autoconf>: the kernel's <dns0>:<dns1>:<ntp0>,
// or dracut's <mtu>[:<macaddr>] (a number first) or :<macaddr> (an empty
// field, then a MAC address). After dracut's <device>:<autoconf> (device)
// only <mtu>:<macaddr> may follow.
func ipTail(ipc *IPConfig, t []string, device bool, bad func(string) error) error {
	mac := func(fields []string) error {
		s := strings.Join(fields, ":")
		if len(fields) != 1 && len(fields) != 6 {
			return bad(fmt.Sprintf("MAC address %q: expected aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff", s))
		}
		m, err := parseEthernetMAC(s)
		if err != nil {
			return bad(fmt.Sprintf("MAC address %q: %v", s, err))
		}
		ipc.MAC = m
		return nil
	}
	switch {
	case len(t) == 0:
		return nil
	case allDigits(t[0]):
		n, _ := strconv.Atoi(t[0])
		if len(t[0]) > 5 || n < 68 || n > 65535 {
			return bad(fmt.Sprintf("MTU %q must be 68 to 65535", t[0]))
		}
		ipc.MTU = n
		if len(t) > 1 {
			return mac(t[1:])
		}
		return nil
	case t[0] == "" && (device && len(t) > 1 || len(t) == 7 || len(t) == 2 && looksLikeMAC(t[1])):
		return mac(t[1:])
	case device && (t[0] != "" || len(t) > 1):
		return bad(fmt.Sprintf("after <device>:<autoconf>, %q: expected [<mtu>][:<macaddr>]", strings.Join(t, ":")))
	case len(t) > 3:
		return bad(fmt.Sprintf("%d fields, at most 10 (<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>:<dns1>:<ntp0>)", len(t)+7))
	}
	t = append(t, make([]string, 3-len(t))...)
	for i, s := range t[:2] {
		ip, err := ipv4Field(fmt.Sprintf("dns%d", i), s, bad)
		if err != nil {
			return err
		}
		if ip != nil {
			ipc.DNS = append(ipc.DNS, ip)
		}
	}
	_, err := ipv4Field("ntp0", t[2], bad)
	return err
}

func ipv4Field(field, s string, bad func(string) error) (net.IP, error) {
	if s == "" {
		return nil, nil
	}
	ip := net.ParseIP(s).To4()
	if ip == nil || strings.Contains(s, ":") {
		return nil, bad(fmt.Sprintf("%s address %q is not an IPv4 address", field, s))
	}
	return ip, nil
}

func looksLikeMAC(s string) bool {
	_, err := parseEthernetMAC(s)
	return err == nil
}

// parseEthernetMAC accepts a unicast Ethernet address with ':' or '-'
// separators, in either case.
func parseEthernetMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(strings.ReplaceAll(s, "-", ":"))
	if err != nil || len(m) != 6 {
		return nil, fmt.Errorf("not an Ethernet MAC address")
	}
	if m[0]&1 != 0 {
		return nil, fmt.Errorf("a multicast address, not a NIC's address")
	}
	return m, nil
}

// validIfName checks a Linux interface name: 1 to 15 bytes, not . or ..,
// no '/', ':', white space, control characters or '"'; nor '[' or ']',
// which the kernel allows but which ip= reads as an IPv6 address.
func validIfName(d string) bool {
	return d != "" && len(d) <= 15 && d != "." && d != ".." &&
		strings.IndexFunc(d, func(r rune) bool {
			return r <= ' ' || r == 0x7f || r == '/' || r == ':' || r == '"' || r == '[' || r == ']'
		}) < 0
}

// addIP records one ip=: it replaces an earlier one for the same device
// (the kernel keeps the last ip=), else joins IPs.
func (p *parser) addIP(ipc IPConfig) {
	for i, old := range p.c.IPs {
		if old.Device == ipc.Device {
			p.c.IPs[i] = ipc
			return
		}
	}
	p.c.IPs = append(p.c.IPs, ipc)
}

// finishIP picks the boot NIC's ip= (see Config.IP).
func (p *parser) finishIP() {
	c := p.c
	switch {
	case len(c.IPs) == 0:
		c.IP = IPConfig{Mode: IPDHCP, Device: c.BootDev}
		if c.IBFTNetwork {
			c.IP.Mode = IPIBFT
		}
	case c.BootDev == "":
		c.IP = c.IPs[0]
	default:
		for _, ipc := range c.IPs {
			if ipc.Device == c.BootDev {
				c.IP = ipc
				return
			}
		}
		for i, ipc := range c.IPs {
			if ipc.Device == "" {
				c.IPs[i].Device = c.BootDev
				c.IP = c.IPs[i]
				return
			}
		}
		c.IP = IPConfig{Mode: IPDHCP, Device: c.BootDev}
	}
}

// parseBootIF parses pxelinux's BOOTIF=01-aa-bb-cc-dd-ee-ff (IPAPPEND 2),
// also without the 01- hardware type, with colons, in either case.
func (p *parser) parseBootIF(key, v string) error {
	if v == "" {
		return nil
	}
	parts := strings.Split(strings.ReplaceAll(v, ":", "-"), "-")
	if len(parts) == 7 && parts[0] == "01" {
		parts = parts[1:]
	}
	bad := &ParamError{Param: key, Value: v, Reason: "not an Ethernet MAC address", Expected: bootifForm}
	if len(parts) != 6 {
		return bad
	}
	mac := make(net.HardwareAddr, 6)
	for i, s := range parts {
		if len(s) != 2 {
			return bad
		}
		b, err := strconv.ParseUint(s, 16, 8)
		if err != nil {
			return bad
		}
		mac[i] = byte(b)
	}
	if mac[0]&1 != 0 { // a NIC's own address is never multicast: most likely an octet is missing after 01-
		bad.Reason = "a multicast address, not a NIC's address (an octet missing?)"
		return bad
	}
	p.c.BootIF = mac
	return nil
}
