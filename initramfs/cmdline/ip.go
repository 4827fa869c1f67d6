package cmdline

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// parseIPParam parses ip= (kernel Documentation/admin-guide/nfs/nfsroot.rst).
func parseIPParam(v string) (IPConfig, error) {
	switch v {
	case "", "dhcp", "on", "any", "both", "bootp":
		return IPConfig{Mode: IPDHCP}, nil
	case "off", "none":
		return IPConfig{Mode: IPOff}, nil
	}
	bad := func(reason string) error {
		return &ParamError{Param: "ip", Value: v, Reason: reason, Expected: ipForm}
	}
	f := strings.Split(v, ":")
	if len(f) > 10 {
		return IPConfig{}, bad(fmt.Sprintf("%d fields, at most 10 (<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>:<dns1>:<ntp0>)", len(f)))
	}
	f = append(f, make([]string, 10-len(f))...)
	var ipc IPConfig
	addr := func(field, s string) (net.IP, error) {
		if s == "" {
			return nil, nil
		}
		ip := net.ParseIP(s).To4()
		if ip == nil || strings.Contains(s, ":") {
			return nil, bad(fmt.Sprintf("%s address %q is not an IPv4 address", field, s))
		}
		return ip, nil
	}
	var err error
	if ipc.Client, err = addr("client", f[0]); err != nil {
		return IPConfig{}, err
	}
	if ipc.Server, err = addr("server", f[1]); err != nil {
		return IPConfig{}, err
	}
	if ipc.Gateway, err = addr("gateway", f[2]); err != nil {
		return IPConfig{}, err
	}
	if f[3] != "" {
		if allDigits(f[3]) {
			n, _ := strconv.Atoi(f[3])
			if len(f[3]) > 2 || n > 32 {
				return IPConfig{}, bad(fmt.Sprintf("netmask %q: a prefix length must be 0 to 32", f[3]))
			}
			ipc.Netmask = net.CIDRMask(n, 32)
		} else {
			ip := net.ParseIP(f[3]).To4()
			m := net.IPMask(ip)
			if _, bits := m.Size(); ip == nil || bits == 0 {
				return IPConfig{}, bad(fmt.Sprintf("netmask %q is neither a dotted mask like 255.255.255.0 nor a prefix length like 24", f[3]))
			}
			ipc.Netmask = m
		}
	}
	if h := f[4]; h != "" {
		if len(h) > 64 || strings.IndexFunc(h, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' }) >= 0 {
			return IPConfig{}, bad(fmt.Sprintf("hostname %q must be at most 64 printable characters without spaces", h))
		}
		ipc.Hostname = h
	}
	if d := f[5]; d != "" {
		if len(d) > 15 || d == "." || d == ".." || strings.IndexFunc(d, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' || r == '"' }) >= 0 {
			return IPConfig{}, bad(fmt.Sprintf("device %q is not an interface name (at most 15 characters, no '/' or spaces)", d))
		}
		ipc.Device = d
	}
	for i, s := range f[7:9] {
		ip, err := addr(fmt.Sprintf("dns%d", i), s)
		if err != nil {
			return IPConfig{}, err
		}
		if ip != nil {
			ipc.DNS = append(ipc.DNS, ip)
		}
	}
	if _, err = addr("ntp0", f[9]); err != nil {
		return IPConfig{}, err
	}
	switch f[6] {
	case "dhcp", "on", "any", "both", "bootp":
		ipc.Mode = IPDHCP
	case "", "off", "none":
		switch {
		case ipc.Client != nil:
			ipc.Mode = IPStatic
		case f[6] == "":
			ipc.Mode = IPDHCP // no address and no autoconf: ask DHCP
		default:
			ipc.Mode = IPOff
		}
	default:
		return IPConfig{}, bad(fmt.Sprintf("autoconf %q is not one of dhcp, on, any, both, bootp, off, none", f[6]))
	}
	return ipc, nil
}

// parseBootIF parses pxelinux's BOOTIF=01-aa-bb-cc-dd-ee-ff (IPAPPEND 2),
// also without the 01- hardware type and with colons.
func parseBootIF(v string) (net.HardwareAddr, error) {
	parts := strings.Split(strings.ReplaceAll(v, ":", "-"), "-")
	if len(parts) == 7 && parts[0] == "01" {
		parts = parts[1:]
	}
	bad := &ParamError{Param: "BOOTIF", Value: v, Reason: "not an Ethernet MAC address", Expected: bootifForm}
	if len(parts) != 6 {
		return nil, bad
	}
	mac := make(net.HardwareAddr, 6)
	for i, p := range parts {
		if len(p) != 2 {
			return nil, bad
		}
		b, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return nil, bad
		}
		mac[i] = byte(b)
	}
	if mac[0]&1 != 0 { // a NIC's own address is never multicast: most likely an octet is missing after 01-
		bad.Reason = "a multicast address, not a NIC's address (an octet missing?)"
		return nil, bad
	}
	return mac, nil
}
