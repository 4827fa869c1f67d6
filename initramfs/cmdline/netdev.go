package cmdline

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// parseIfName parses dracut's ifname=<name>:<MAC> (the MAC with colons).
func (p *parser) parseIfName(key, v string) error {
	name, macs, _ := strings.Cut(v, ":")
	bad := func(reason string) error {
		return &ParamError{Param: key, Value: v, Reason: reason, Expected: "ifname=<name>:<MAC>, e.g. ifname=bootnet:52:54:00:12:34:56"}
	}
	if !validIfName(name) {
		return bad(fmt.Sprintf("%q is not an interface name", name))
	}
	mac, err := parseEthernetMAC(macs)
	if err != nil {
		return bad(fmt.Sprintf("MAC %q: %v", macs, err))
	}
	for i, n := range p.c.IfNames {
		if n.Name == name {
			p.c.IfNames[i].MAC = mac
			return nil
		}
	}
	p.c.IfNames = append(p.c.IfNames, IfName{Name: name, MAC: mac})
	return nil
}

// bondModes are the bonding driver's modes, by name and number.
var bondModes = []string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}

// bondNumeric are the bonding options that take a whole number.
var bondNumeric = []string{"miimon", "updelay", "downdelay", "peer_notif_delay", "arp_interval", "min_links",
	"resend_igmp", "num_grat_arp", "num_unsol_na", "packets_per_slave", "lp_interval", "tlb_dynamic_lb",
	"all_slaves_active", "use_carrier", "ad_actor_sys_prio", "ad_user_port_key"}

// parseBond parses dracut's bond=<name>[:<slaves>[:<options>[:<mtu>]]]
// (parse-bond.sh). A bare bond is bond0 on eth0,eth1 in balance-rr, as
// dracut.cmdline(7) says; slaves default to eth0,eth1.
func (p *parser) parseBond(key, v string) error {
	bad := func(reason string) error {
		return &ParamError{Param: key, Value: v, Reason: reason, Expected: bondForm}
	}
	if v == "" {
		v = "bond0:eth0,eth1:mode=balance-rr"
	}
	f := strings.Split(v, ":")
	if len(f) > 4 {
		return bad(fmt.Sprintf("%d fields, at most 4", len(f)))
	}
	f = append(f, make([]string, 4-len(f))...)
	b := Bond{Name: f[0], Slaves: []string{"eth0", "eth1"}}
	if !validIfName(b.Name) {
		return bad(fmt.Sprintf("%q is not an interface name", b.Name))
	}
	if f[1] != "" {
		b.Slaves = nil
		for _, s := range strings.Split(f[1], ",") {
			if !validIfName(s) || s == b.Name {
				return bad(fmt.Sprintf("slave %q is not another interface's name", s))
			}
			if !slices.Contains(b.Slaves, s) {
				b.Slaves = append(b.Slaves, s)
			}
		}
	}
	if f[2] != "" {
		b.Options = map[string]string{}
		for _, o := range strings.Split(f[2], ",") {
			k, val, ok := strings.Cut(o, "=")
			if !ok || !validOptionName(k) || val == "" {
				return bad(fmt.Sprintf("option %q is not <name>=<value>", o))
			}
			switch {
			case k == "mode":
				if !slices.Contains(bondModes, val) && !(len(val) == 1 && val >= "0" && val <= "6") {
					return bad(fmt.Sprintf("mode %q is not one of %s or 0-6", val, strings.Join(bondModes, ", ")))
				}
			case slices.Contains(bondNumeric, k):
				if !allDigits(val) || len(val) > 9 {
					return bad(fmt.Sprintf("%s=%s needs a whole number", k, val))
				}
			}
			b.Options[k] = val
		}
	}
	if f[3] != "" {
		n, err := strconv.Atoi(f[3])
		if err != nil || !allDigits(f[3]) || n < 68 || n > 65535 {
			return bad(fmt.Sprintf("MTU %q must be 68 to 65535", f[3]))
		}
		b.MTU = n
	}
	p.addBond(b)
	return nil
}

func (p *parser) addBond(b Bond) {
	for i, old := range p.c.Bonds {
		if old.Name == b.Name {
			p.c.Bonds[i] = b
			return
		}
	}
	p.c.Bonds = append(p.c.Bonds, b)
}

// teamRunners maps teamd's runners onto the nearest bonding mode.
var teamRunners = map[string]string{
	"roundrobin": "balance-rr", "random": "balance-rr", "activebackup": "active-backup",
	"loadbalance": "balance-xor", "broadcast": "broadcast", "lacp": "802.3ad",
}

// parseTeam parses dracut's team=<master>:<slaves>[:<runner>] as a bond:
// there is no teamd in the initramfs.
func (p *parser) parseTeam(key, v string) error {
	if v == "" {
		v = "team0:eth0,eth1:activebackup"
	}
	f := strings.Split(v, ":")
	form := "team=<master>:<slave>,<slave>...[:<runner>], the runner one of roundrobin, activebackup, loadbalance, broadcast, lacp, random"
	if len(f) < 2 || len(f) > 3 {
		return &ParamError{Param: key, Value: v, Reason: "expected 2 or 3 fields", Expected: form}
	}
	runner := "activebackup"
	if len(f) == 3 && f[2] != "" {
		runner = f[2]
	}
	mode, ok := teamRunners[runner]
	if !ok {
		return &ParamError{Param: key, Value: v, Reason: fmt.Sprintf("unknown runner %q", runner), Expected: form}
	}
	before := len(p.c.Warnings)
	if err := p.parseBond(key, f[0]+":"+f[1]+":mode="+mode); err != nil {
		return err
	}
	p.c.Warnings = p.c.Warnings[:before]
	p.warn(key, v, "teamd is not supported; %s is set up as a bond in mode %s", f[0], mode)
	return nil
}

// parseVLAN parses dracut's vlan=<vlanname>:<phydevice>. The VLAN ID comes
// from the name, as dracut's ifup does (get_vid): what follows "vlan", else
// what follows the last '.'.
func (p *parser) parseVLAN(key, v string) error {
	bad := func(reason string) error {
		return &ParamError{Param: key, Value: v, Reason: reason, Expected: vlanForm}
	}
	f := strings.Split(v, ":")
	if len(f) != 2 {
		return bad(fmt.Sprintf("%d ':'-separated fields, want 2", len(f)))
	}
	name, parent := f[0], f[1]
	if !validIfName(name) || !validIfName(parent) || name == parent {
		return bad("the name and the parent must be two interface names")
	}
	var digits string
	if d, ok := strings.CutPrefix(name, "vlan"); ok {
		digits = d
	} else if i := strings.LastIndexByte(name, '.'); i >= 0 {
		digits = name[i+1:]
	}
	n, err := strconv.Atoi(digits)
	if err != nil || !allDigits(digits) || len(digits) > 4 || n < 1 || n > 4094 {
		return bad(fmt.Sprintf("no VLAN ID 1-4094 in the name %q", name))
	}
	vl := VLAN{Name: name, Parent: parent, ID: n}
	for i, old := range p.c.VLANs {
		if old.Name == name {
			p.c.VLANs[i] = vl
			return nil
		}
	}
	p.c.VLANs = append(p.c.VLANs, vl)
	return nil
}
