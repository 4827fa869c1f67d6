package cmdline

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/sidus-go/sidus/iscsi"
)

// parseNetroot parses dracut's netroot=: iscsi:<target> adds a target,
// a bare iscsi says the parameters come from elsewhere (rd.iscsi.*,
// ISCSI_*, the firmware, else discovery on the DHCP next-server); dhcp
// means the DHCP root-path, which is what SIDUS does anyway for its NFS
// root; other types (nfs:, nbd:, ...) are not ours.
func (p *parser) parseNetroot(key, v string) error {
	switch {
	case v == "iscsi":
		p.askISCSI(key, v)
		return nil
	case strings.HasPrefix(v, "iscsi:"):
		return p.addISCSITarget(key, v)
	case v == "dhcp6":
		p.warn(key, v, "DHCPv6 is not supported; the NFS root is taken from the DHCP (IPv4) root-path")
	}
	return nil
}

// parseISCSIRoot parses dracut's old iscsiroot=<target> (netroot=iscsi:<target>).
func (p *parser) parseISCSIRoot(key, v string) error {
	return p.addISCSITarget(key, "iscsi:"+v)
}

func (p *parser) parseISCSIFirmware(key, v string) error {
	on, err := p.parseBool(key, v)
	p.c.ISCSIFirmware = on
	if on {
		p.askISCSI(key, v)
	}
	return err
}

// parseISCSINoop checks a dracut boolean the init has nothing to do for:
// rd.iscsi.waitnet=0 (it never waits for every interface) and
// rd.iscsi.testroute=0 (it does not test the route before the login).
func (p *parser) parseISCSINoop(key, v string) error {
	_, err := p.parseBool(key, v)
	return err
}

// addISCSITarget parses one iscsi:<target> (netroot=, root=, iscsiroot=)
// and records it in ISCSITargets; the first one is also merged into ISCSI.
func (p *parser) addISCSITarget(key, v string) error {
	t, shown, err := p.parseISCSITarget(key, v)
	if err != nil {
		return err
	}
	p.askISCSI(key, shown)
	if len(p.c.ISCSITargets) == 0 {
		for k, x := range t {
			p.c.ISCSI[k] = x
		}
	}
	p.c.ISCSITargets = append(p.c.ISCSITargets, t)
	return nil
}

// parseISCSITarget parses RFC 4173's
// iscsi:[<user>:<password>[:<in-user>:<in-password>]@][<server>]:[<protocol>]:[<port>][:[<iface>]:[<netdev>]]:[<lun>]:<target>
// as dracut's parse_iscsi_root does. Credentials are taken only if 4 ':'
// follow the first '@', so a target name may hold an '@' (an empty
// credentials part, "iscsi:@server...", allows one anywhere). The target
// name is what follows the last ":iqn.", ":eui." or ":naa.", so it may
// hold ':'; without one, it is what follows the LUN field.
func (p *parser) parseISCSITarget(key, v string) (t map[string]string, shown string, err error) {
	rest, _ := strings.CutPrefix(v, "iscsi:")
	shown = v
	bad := func(reason string) error {
		return &ParamError{Param: key, Value: shown, Reason: reason, Expected: netrootForm}
	}
	t = map[string]string{}
	if at := strings.IndexByte(rest, '@'); at >= 0 && strings.Count(rest[at+1:], ":") >= 4 {
		user := rest[:at]
		rest = rest[at+1:]
		if user != "" {
			shown = "iscsi:***@" + rest
			cred := strings.Split(user, ":")
			set := func(k, x string) {
				if x != "" {
					t[k] = x
				}
			}
			switch len(cred) {
			case 2:
				set(iscsi.KeyUsername, cred[0])
				set(iscsi.KeyPassword, cred[1])
			case 4:
				set(iscsi.KeyUsername, cred[0])
				set(iscsi.KeyPassword, cred[1])
				set(iscsi.KeyInUsername, cred[2])
				set(iscsi.KeyInPassword, cred[3])
			default:
				return nil, shown, bad("credentials must be <user>:<password> or <user>:<password>:<in-user>:<in-password>")
			}
		}
	}
	var server string
	if strings.HasPrefix(rest, "[") { // [IPv6]
		end := strings.IndexByte(rest, ']')
		if end < 0 || !strings.HasPrefix(rest[end+1:], ":") {
			return nil, shown, bad("unterminated [address]")
		}
		server, rest = rest[1:end], rest[end+2:]
		if ip := net.ParseIP(server); ip == nil || ip.To4() != nil {
			return nil, shown, bad(fmt.Sprintf("[%s] is not an IPv6 address", server))
		}
	} else {
		var ok bool
		if server, rest, ok = strings.Cut(rest, ":"); !ok {
			return nil, shown, bad("too few fields")
		}
		if server != "" && checkServer(server) != nil {
			return nil, shown, bad(fmt.Sprintf("server %q is neither an IPv4 address, [an IPv6 address] nor a host name", server))
		}
	}
	var fields []string
	var target string
	found := -1
	for _, prefix := range []string{":iqn.", ":eui.", ":naa."} {
		if i := strings.LastIndex(rest, prefix); i >= 0 {
			found = i
			break
		}
	}
	var iface, netdev string
	if found >= 0 {
		target = rest[found+1:]
		fields = strings.Split(rest[:found], ":")
		switch len(fields) {
		case 3: // protocol, port, LUN
		case 4:
			netdev = fields[2]
			fields = []string{fields[0], fields[1], fields[3]}
		case 5:
			iface, netdev = fields[2], fields[3]
			fields = []string{fields[0], fields[1], fields[4]}
		default:
			return nil, shown, bad(fmt.Sprintf("%d fields before the target name, expected <protocol>:<port>:[[<iface>:]<netdev>:]<lun>", len(fields)))
		}
	} else {
		f := strings.SplitN(rest, ":", 4)
		if len(f) != 4 {
			return nil, shown, bad("too few fields")
		}
		fields, target = f[:3], f[3]
	}
	proto, port, lun := fields[0], fields[1], fields[2]
	if proto != "" && proto != "6" {
		p.warn(key, shown, "protocol %q ignored: iSCSI runs over TCP (6)", proto)
	}
	if iface != "" || netdev != "" {
		p.warn(key, shown, "binding to iface %q / netdev %q is not supported; the login goes over the boot network", iface, netdev)
	}
	if port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || !allDigits(port) {
			return nil, shown, bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
		}
	}
	if lun != "" && (!allDigits(lun) || len(lun) > 5) {
		return nil, shown, bad(fmt.Sprintf("LUN %q is not a number", lun))
	}
	if target == "" {
		return nil, shown, bad("empty target name")
	}
	t[iscsi.KeyTargetIP], t[iscsi.KeyTargetName] = server, target
	if port != "" {
		t[iscsi.KeyTargetPort] = port
	}
	if lun != "" {
		t[iscsi.KeyLUN] = lun
	}
	return t, shown, nil
}
