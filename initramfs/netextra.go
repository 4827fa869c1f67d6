package initramfs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
)

// What dracut.cmdline(7) asks of the network beyond the boot NIC's
// address: ifname=<name>:<MAC> (rename the NIC with that MAC before
// anything uses the names), an ip= MTU and MAC (set on its interface
// before DHCP), and several ip= (each other device configured after the
// boot interface, each failure a warning).

// renameLinks applies ifname=: each NIC whose MAC an ifname= gives is set
// down and renamed to that name, once per ifname= (b.ifnDone), as the
// NICs appear: the link loops call it on every Links() answer. It returns
// links with the new names (a renamed link is down), index for index. A
// rename that fails, or whose name another NIC holds, is a warning, once,
// and is not retried.
func (b *booter) renameLinks(n Network, links []Link) []Link {
	if len(b.cfg.IfNames) == 0 {
		return links
	}
	if b.ifnDone == nil {
		b.ifnDone = map[string]bool{}
	}
	links = slices.Clone(links)
	macIs := func(l Link, mac net.HardwareAddr) bool { return strings.EqualFold(l.MAC, mac.String()) }
	// byMAC finds the NIC of an ifname=: the one already so named first,
	// as a bond or a VLAN shares its member's MAC.
	byMAC := func(in cmdline.IfName) int {
		if i := slices.IndexFunc(links, func(l Link) bool { return l.Name == in.Name && macIs(l, in.MAC) }); i >= 0 {
			return i
		}
		return slices.IndexFunc(links, func(l Link) bool { return macIs(l, in.MAC) })
	}
	// pending: l is a NIC that a not yet applied ifname= renames.
	pending := func(l Link) bool {
		for _, in := range b.cfg.IfNames {
			if !b.ifnDone[in.Name] && in.Name != l.Name && macIs(l, in.MAC) {
				return true
			}
		}
		return false
	}
	// Passes until one changes nothing: a rename may free the name
	// another ifname= wants (ifname=a:M1 for the NIC named b, ifname=b:M2).
	for changed := true; changed; {
		changed = false
		var blocked []cmdline.IfName
		for _, in := range b.cfg.IfNames {
			if b.ifnDone[in.Name] {
				continue
			}
			i := byMAC(in)
			if i < 0 {
				continue // not there yet
			}
			param := "ifname=" + in.Name + ":" + in.MAC.String()
			old := links[i].Name
			if old == in.Name {
				b.ifnDone[in.Name], changed = true, true
				continue
			}
			if j := slices.IndexFunc(links, func(l Link) bool { return l.Name == in.Name }); j >= 0 {
				if pending(links[j]) {
					blocked = append(blocked, in)
					continue
				}
				b.ifnDone[in.Name], changed = true, true
				b.log.Printf("warning: %s: cannot rename %s to %s: the NIC with MAC %s has that name; check the MACs of ifname= (dracut.cmdline(7): use a name outside the kernel's eth*, ens*)", param, old, in.Name, links[j].MAC)
				continue
			}
			b.ifnDone[in.Name], changed = true, true
			var err error
			if links[i].Up {
				err = n.Down(old)
			}
			if err == nil {
				err = n.Rename(old, in.Name)
			}
			if err != nil {
				b.log.Printf("warning: %s: rename %s to %s: %v; check that no other interface has that name and that the NIC's driver allows renaming; the NIC keeps the name %s", param, old, in.Name, err, old)
				if links[i].Up {
					_ = n.Up(old) // as it was
				}
				continue
			}
			links[i].Name, links[i].Up = in.Name, false
			b.log.Printf("%s: renamed %s to %s", param, old, in.Name)
		}
		if !changed {
			// A cycle of names (ifname=eth0:<eth1's MAC> ifname=eth1:<eth0's MAC>).
			for _, in := range blocked {
				b.ifnDone[in.Name] = true
				b.log.Printf("warning: ifname=%s:%s: cannot rename %s to %s: another ifname= NIC has that name and wants this one's; swapping names is not supported, use names outside the kernel's eth*, ens* (dracut.cmdline(7))",
					in.Name, in.MAC, links[byMAC(in)].Name, in.Name)
			}
		}
	}
	return links
}

// bootLinkUp brings up the boot interface with the MAC and MTU of its
// ip=, and logs what it set.
func (b *booter) bootLinkUp(n Network, dev string) error {
	set, err := b.linkUp(n, dev, b.cfg.IP)
	if err != nil {
		return err
	}
	if did := set.did(b.cfg.IP); len(did) > 0 {
		b.log.Printf("boot NIC %s: %s (%s)", dev, strings.Join(did, ", "), ipParam(b.cfg.IP, dev))
	}
	return nil
}

// linkSet is what linkUp set.
type linkSet struct{ mac, mtu bool }

func (s linkSet) did(ipc cmdline.IPConfig) []string {
	var did []string
	if s.mac {
		did = append(did, "mac "+ipc.MAC.String())
	}
	if s.mtu {
		did = append(did, fmt.Sprintf("mtu %d", ipc.MTU))
	}
	return did
}

// linkUp brings dev up with ipc's MAC (set while the link is down) and
// MTU (set once it is up, before any DHCP). A MAC or MTU the NIC refuses
// is a warning: the link goes on with its own. The error is Up's.
func (b *booter) linkUp(n Network, dev string, ipc cmdline.IPConfig) (linkSet, error) {
	var set linkSet
	param := ipParam(ipc, dev)
	if ipc.MAC != nil {
		err := n.Down(dev)
		if err == nil {
			err = n.SetMAC(dev, ipc.MAC)
		}
		if err != nil {
			b.log.Printf("warning: %s: set MAC of %s to %s: %v; check the NIC driver allows a new address (%s keeps its own)", param, dev, ipc.MAC, err, dev)
		}
		set.mac = err == nil
	}
	if err := n.Up(dev); err != nil {
		return set, err
	}
	if ipc.MTU != 0 {
		err := n.SetMTU(dev, ipc.MTU)
		if err != nil {
			b.log.Printf("warning: %s: set MTU of %s to %d: %v; check the NIC supports it (%s keeps its MTU)", param, dev, ipc.MTU, err, dev)
		}
		set.mtu = err == nil
	}
	return set, nil
}

// ExtraLink is the interface of an ip= other than the boot interface's,
// as the network stage left it.
type ExtraLink struct {
	Device string
	Mode   cmdline.IPMode
	MTU    int    // set by the init; 0: the NIC's own
	MAC    string // set by the init; "": the NIC's own
	// Lease is its address (nil with ip=off). The node agent does not
	// renew it.
	Lease *Lease
	// DefaultRoute: Configure installed its gateway as the default route
	// (a static ip= with a gateway; never a DHCP router).
	DefaultRoute bool
}

// extraWait bounds the wait for an extra ip= interface to appear, and
// extraDHCP its one DHCP attempt.
const (
	extraWait = 10 * time.Second
	extraDHCP = 10 * time.Second
)

// extraLinks configures, after the boot interface boot, the device of
// each other ip=, in order: it waits for it (extraWait), brings it up
// with its MAC and MTU, and configures it (static, one DHCP attempt, or
// none with ip=off), writing /run/net-DEV.conf. A failure is a warning
// that names the ip= and the device: the root does not depend on it.
func (b *booter) extraLinks(n Network, boot string) {
	under := netStack(b.cfg, boot)
	for _, ipc := range b.cfg.IPs {
		dev := ipc.Device
		if dev == "" || dev == boot || dev == b.cfg.IP.Device {
			continue // the boot interface's ip=
		}
		param := ipParam(ipc, dev)
		if slices.Contains(under, dev) {
			b.log.Printf("warning: %s: %s is under the boot interface %s (bond=/vlan=); it is not configured on its own", param, dev, boot)
			continue
		}
		x, what, err := b.extraLink(n, ipc, param)
		if err != nil {
			b.log.Printf("warning: %s: %s: %v; the boot goes on without %s", param, dev, err, dev)
			continue
		}
		b.res.Extra = append(b.res.Extra, x)
		b.log.Printf("extra interface %s (%s): %s", dev, param, what)
	}
}

// extraLink brings up and configures one extra interface. It returns it
// and what was done, for the log.
func (b *booter) extraLink(n Network, ipc cmdline.IPConfig, param string) (ExtraLink, string, error) {
	dev := ipc.Device
	x := ExtraLink{Device: dev, Mode: ipc.Mode}
	if err := b.waitExtra(n, dev); err != nil {
		return x, "", err
	}
	set, err := b.linkUp(n, dev, ipc)
	if err != nil {
		return x, "", fmt.Errorf("bring up: %w; check the NIC and its driver", err)
	}
	if set.mtu {
		x.MTU = ipc.MTU
	}
	if set.mac {
		x.MAC = ipc.MAC.String()
	}
	var what []string
	var lease *Lease
	switch ipc.Mode {
	case cmdline.IPOff:
		what = append(what, "up, no address (ip=off)")
	case cmdline.IPStatic:
		b.waitCarrier(n, dev)
		lease = staticLease(dev, ipc)
		// Its gateway, if the ip= gives one, becomes the default route:
		// the admin's choice, in place of the boot interface's.
		x.DefaultRoute = lease.Gateway != nil && !lease.Gateway.IsUnspecified()
		gw := "no gateway"
		if x.DefaultRoute {
			gw = fmt.Sprintf("default route via %s (this ip='s gateway)", lease.Gateway)
		}
		what = append(what, fmt.Sprintf("static %s/%d, %s", lease.IP, ones(lease.Netmask), gw))
	default:
		b.waitCarrier(n, dev)
		ctx, cancel := context.WithTimeout(b.ctx, extraDHCP)
		l, err := n.DHCP(ctx, dev, rand.Uint32(), ipc.Hostname)
		cancel()
		if err != nil {
			return x, "", fmt.Errorf("DHCP: %w (one attempt of %s; is a DHCP server on that segment?)", err, extraDHCP)
		}
		c := *l
		lease = &c
		// Its router is not installed as the default route: the boot
		// NIC's route carries the NFS root and stays. Nor does it set the
		// hostname, which is the boot NIC's lease's.
		lease.NoDefaultRoute = true
		gw := "no router"
		if lease.Gateway != nil && !lease.Gateway.IsUnspecified() {
			gw = fmt.Sprintf("router %s not made the default route", lease.Gateway)
		}
		server := ipStr(lease.ServerID)
		if server == "" {
			server = "?"
		}
		what = append(what, fmt.Sprintf("DHCP %s/%d from %s, %s; lease %s not renewed by the node agent (the root's network manager takes it over)",
			lease.IP, ones(lease.Netmask), server, gw, lease.LeaseTime))
	}
	what = append(what, set.did(ipc)...)
	if lease != nil {
		lease.Device = dev
		cl := *lease
		cl.Hostname = "" // the boot interface's configuration sets the hostname
		if err := n.Configure(dev, &cl); err != nil {
			return x, "", fmt.Errorf("configure %s/%d: %w", lease.IP, ones(lease.Netmask), err)
		}
		x.Lease = lease
		if err := b.writeNetConf(dev, lease); err != nil {
			b.log.Printf("warning: %s: %v", param, err)
		} else {
			what = append(what, "/run/net-"+dev+".conf written")
		}
	}
	return x, strings.Join(what, "; "), nil
}

// waitExtra waits up to extraWait for dev to appear, renaming the NICs of
// ifname= on the way.
func (b *booter) waitExtra(n Network, dev string) error {
	deadline := b.sys.Now().Add(extraWait)
	for {
		links, err := n.Links()
		if err != nil {
			return err
		}
		links = b.renameLinks(n, links)
		if slices.ContainsFunc(links, func(l Link) bool { return l.Name == dev }) {
			return nil
		}
		if b.sys.Now().After(deadline) {
			var names []string
			for _, l := range links {
				names = append(names, l.Name+"="+l.MAC)
			}
			return fmt.Errorf("did not appear after %s; links seen: [%s]; check the device name (ifname=), that its driver is packed (sidus-mkinitramfs -m DRIVER)", extraWait, strings.Join(names, " "))
		}
		if err := b.sys.Sleep(b.ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// ipParam renders ipc (the ip= of dev) back as an ip= for messages:
// dracut's <device>:<autoconf>[:<mtu>[:<macaddr>]], or for a static one
// <client>:<server>:<gw>:<netmask>:<hostname>:<device>:none[:<mtu>[:<macaddr>]].
func ipParam(ipc cmdline.IPConfig, dev string) string {
	if ipc.Device != "" {
		dev = ipc.Device
	}
	var s string
	switch ipc.Mode {
	case cmdline.IPStatic:
		mask := ""
		if ipc.Netmask != nil {
			mask = net.IP(ipc.Netmask).String()
		}
		s = strings.Join([]string{ipStr(ipc.Client), ipStr(ipc.Server), ipStr(ipc.Gateway), mask, ipc.Hostname, dev, "none"}, ":")
	case cmdline.IPOff:
		s = dev + ":off"
	case cmdline.IPIBFT:
		s = "ibft"
	default:
		s = dev + ":dhcp"
	}
	if ipc.MTU != 0 || ipc.MAC != nil {
		s += ":"
		if ipc.MTU != 0 {
			s += strconv.Itoa(ipc.MTU)
		}
	}
	if ipc.MAC != nil {
		s += ":" + ipc.MAC.String()
	}
	return "ip=" + s
}
