package initramfs

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/initramfs/kmod"
)

// The virtual interfaces of dracut's bond= and vlan=: the network stage
// creates them (bonds first, a VLAN may sit on a bond) over the physical
// NICs they name, and the boot then runs over the bond or the VLAN. The
// plan is pure (planNetdevs); the netlink side is Network.AddBond and
// Network.AddVLAN.

// netPlan is what bond= and vlan= ask of the network stage.
type netPlan struct {
	// boot is the interface the boot runs over when it is a bond or a
	// VLAN; "" when it is a physical NIC (PickLink chooses it).
	boot string
	// phys are the physical interfaces the bonds and VLANs sit on, in
	// order of appearance.
	phys []string
}

// planNetdevs checks the bonds and VLANs of c against each other and
// against the ip= device, and chooses the boot interface: bootdev= or the
// ip= device if it names a bond or a VLAN; with neither, the first VLAN,
// else the first bond. A physical ip= device keeps the boot on that NIC
// (the bonds and VLANs are still created).
func planNetdevs(c *cmdline.Config) (netPlan, error) {
	var p netPlan
	bonds := map[string]cmdline.Bond{}
	vlans := map[string]cmdline.VLAN{}
	for _, b := range c.Bonds {
		bonds[b.Name] = b
	}
	for _, v := range c.VLANs {
		if _, ok := bonds[v.Name]; ok {
			return p, fmt.Errorf("vlan=%s:%s: %s is also a bond= name; give the VLAN another name (e.g. %s.%d)", v.Name, v.Parent, v.Name, v.Parent, v.ID)
		}
		vlans[v.Name] = v
	}
	addPhys := func(n string) {
		if !slices.Contains(p.phys, n) {
			p.phys = append(p.phys, n)
		}
	}
	slaveOf := map[string]string{}
	for _, b := range c.Bonds {
		for _, s := range b.Slaves {
			if _, ok := bonds[s]; ok {
				return p, fmt.Errorf("bond=%s: slave %s is a bond itself; nested bonds are not supported, list the NICs", b.Name, s)
			}
			if _, ok := vlans[s]; ok {
				return p, fmt.Errorf("bond=%s: slave %s is a VLAN; bond the NICs and put the VLAN on the bond (vlan=%s.ID:%s)", b.Name, s, b.Name, b.Name)
			}
			if o, ok := slaveOf[s]; ok {
				return p, fmt.Errorf("bond=%s: %s is already a slave of bond %s; a NIC can be in one bond only", b.Name, s, o)
			}
			slaveOf[s] = b.Name
			addPhys(s)
		}
	}
	for _, v := range c.VLANs {
		if _, ok := vlans[v.Parent]; ok {
			return p, fmt.Errorf("vlan=%s:%s: the parent is a VLAN; stacked VLANs (QinQ) are not supported", v.Name, v.Parent)
		}
		if o, ok := slaveOf[v.Parent]; ok {
			return p, fmt.Errorf("vlan=%s:%s: %s is a slave of bond %s; put the VLAN on the bond (vlan=%s.%d:%s)", v.Name, v.Parent, v.Parent, o, o, v.ID, o)
		}
		if _, ok := bonds[v.Parent]; !ok {
			addPhys(v.Parent)
		}
	}
	want := c.BootDev
	if want == "" {
		want = c.IP.Device
	}
	if o, ok := slaveOf[want]; ok {
		return p, fmt.Errorf("ip=/bootdev= device %s is a slave of bond %s; configure the bond instead (ip=%s:dhcp)", want, o, o)
	}
	_, isBond := bonds[want]
	_, isVLAN := vlans[want]
	switch {
	case isBond || isVLAN:
		p.boot = want
	case want != "":
		// A physical NIC: PickLink finds it.
	case len(c.VLANs) > 0:
		p.boot = c.VLANs[0].Name
	case len(c.Bonds) > 0:
		p.boot = c.Bonds[0].Name
	}
	return p, nil
}

// netStack returns dev and every interface under it (a VLAN's parent, a
// bond's slaves), dev first: the interfaces that carry the root, which
// the booted system's network managers must leave alone.
func netStack(c *cmdline.Config, dev string) []string {
	out := []string{dev}
	for i := 0; i < len(out); i++ {
		for _, v := range c.VLANs {
			if v.Name == out[i] && !slices.Contains(out, v.Parent) {
				out = append(out, v.Parent)
			}
		}
		for _, b := range c.Bonds {
			if b.Name == out[i] {
				for _, s := range b.Slaves {
					if !slices.Contains(out, s) {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

// sysWrite is one write to a sysfs attribute.
type sysWrite struct{ path, value string }

// bondAfterSlaves are the bonding options that name a slave, written once
// the slaves are enslaved.
var bondAfterSlaves = []string{"active_slave", "primary"}

// bondWrites returns the bonding driver's sysfs writes for b's options
// under sysClassNet (/sys/class/net), as dracut's ifup does: mode first
// (the driver takes it only while the bond is down and has no slaves),
// the others sorted, each arp_ip_target address as "+ADDR"; after are the
// options that name a slave.
func bondWrites(sysClassNet string, b cmdline.Bond) (before, after []sysWrite) {
	dir := path.Join(sysClassNet, b.Name, "bonding")
	keys := make([]string, 0, len(b.Options))
	for k := range b.Options {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == "mode") != (keys[j] == "mode") {
			return keys[i] == "mode"
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		v := b.Options[k]
		switch {
		case k == "arp_ip_target":
			for _, a := range strings.Split(v, ";") {
				if a != "" {
					before = append(before, sysWrite{path.Join(dir, k), "+" + a})
				}
			}
		case slices.Contains(bondAfterSlaves, k):
			after = append(after, sysWrite{path.Join(dir, k), v})
		default:
			before = append(before, sysWrite{path.Join(dir, k), v})
		}
	}
	return before, after
}

// netdevs creates the bonds and VLANs of the plan, waiting (up to
// linkWait, with progress lines) for the physical NICs they sit on. A bond
// runs on the slaves that appeared, with a warning for the others; a bond
// with none, or a VLAN whose parent is missing, fails the stage.
func (b *booter) netdevs(n Network, p netPlan) error {
	b.loadModules(nil, kmod.GroupNet)
	start := b.sys.Now()
	var present map[string]bool
	var seen []string
	for attempt := 0; ; attempt++ {
		links, err := n.Links()
		if err != nil {
			return err
		}
		links = b.renameLinks(n, links) // the bond= and vlan= names may be ifname= names
		present, seen = map[string]bool{}, nil
		for _, l := range links {
			present[l.Name] = true
			seen = append(seen, l.Name+"="+l.MAC)
		}
		var missing []string
		for _, ph := range p.phys {
			if !present[ph] {
				missing = append(missing, ph)
			}
		}
		if len(missing) == 0 {
			break
		}
		waited := b.sys.Now().Sub(start)
		if waited >= linkWait {
			b.log.Printf("warning: %s did not appear after %s; links seen: [%s]", strings.Join(missing, ", "), linkWait, strings.Join(seen, " "))
			break
		}
		if attempt%25 == 24 {
			b.log.Printf("waiting for %s (%s of %s)", strings.Join(missing, ", "), waited.Round(time.Second), linkWait)
		}
		if err := b.sys.Sleep(b.ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	check := "check that the NIC driver is packed (sidus-mkinitramfs -m DRIVER), the interface names (ifname=<name>:<MAC> names a NIC by its MAC) and the cables"
	for _, bd := range b.cfg.Bonds {
		var slaves, gone []string
		for _, s := range bd.Slaves {
			if present[s] {
				slaves = append(slaves, s)
			} else {
				gone = append(gone, s)
			}
		}
		if len(slaves) == 0 {
			return fmt.Errorf("bond=%s: none of its slaves (%s) appeared after %s; links seen: [%s]; %s",
				bd.Name, strings.Join(bd.Slaves, ","), linkWait, strings.Join(seen, " "), check)
		}
		if len(gone) > 0 {
			b.log.Printf("warning: bond=%s: %s missing; the bond runs on %s alone, without redundancy", bd.Name, strings.Join(gone, ","), strings.Join(slaves, ","))
		}
		bd.Slaves = slaves
		if err := n.AddBond(bd); err != nil {
			return fmt.Errorf("bond=%s: %w; check the bond= options against the bonding driver's (modinfo bonding)", bd.Name, err)
		}
		b.log.Printf("bond %s (%s) over %s", bd.Name, bondDesc(bd), strings.Join(slaves, ", "))
		present[bd.Name] = true
	}
	for _, v := range b.cfg.VLANs {
		if !present[v.Parent] {
			return fmt.Errorf("vlan=%s:%s: %s did not appear after %s; links seen: [%s]; %s",
				v.Name, v.Parent, v.Parent, linkWait, strings.Join(seen, " "), check)
		}
		if err := n.AddVLAN(v); err != nil {
			return fmt.Errorf("vlan=%s:%s: %w; is the 8021q module packed and the switch port a trunk for VLAN %d?", v.Name, v.Parent, err, v.ID)
		}
		b.log.Printf("vlan %s (ID %d) on %s", v.Name, v.ID, v.Parent)
		present[v.Name] = true
	}
	return nil
}

// bondDesc is a bond's options for the log: the mode first.
func bondDesc(bd cmdline.Bond) string {
	mode := bd.Options["mode"]
	if mode == "" {
		mode = "balance-rr"
	}
	parts := []string{"mode " + mode}
	var keys []string
	for k := range bd.Options {
		if k != "mode" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+bd.Options[k])
	}
	if bd.MTU != 0 {
		parts = append(parts, fmt.Sprintf("mtu %d", bd.MTU))
	}
	return strings.Join(parts, ", ")
}

// bootLink brings up the boot interface: with bond= or vlan=, it creates
// them and returns the bond or VLAN the boot runs over (or, for a physical
// ip= device, that NIC); without, the NIC waitLink picks.
func (b *booter) bootLink(n Network) (string, error) {
	if len(b.cfg.Bonds) == 0 && len(b.cfg.VLANs) == 0 {
		return b.waitLink(n)
	}
	p, err := planNetdevs(b.cfg)
	if err != nil {
		return "", err
	}
	if p.boot == "" {
		dev, err := b.waitLink(n)
		if err != nil {
			return "", err
		}
		if err := b.netdevs(n, p); err != nil {
			return "", err
		}
		return dev, nil
	}
	if b.cfg.BootIF != nil {
		b.log.Printf("BOOTIF=%s: the boot runs over %s (bond=/vlan=), not over the PXE NIC alone", b.cfg.BootIF, p.boot)
	}
	if err := b.netdevs(n, p); err != nil {
		return "", err
	}
	b.log.Printf("boot interface %s (%s)", p.boot, strings.Join(netStack(b.cfg, p.boot)[1:], ", "))
	b.netStack = netStack(b.cfg, p.boot)
	if err := b.bootLinkUp(n, p.boot); err != nil {
		return "", err
	}
	b.waitCarrier(n, p.boot)
	return p.boot, nil
}
