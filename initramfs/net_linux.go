package initramfs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

type linuxNetwork struct{}

func (linuxNetwork) Links() ([]Link, error) {
	ls, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("netlink: list links: %w", err)
	}
	var out []Link
	for _, l := range ls {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || len(a.HardwareAddr) != 6 {
			continue
		}
		out = append(out, Link{
			Name:    a.Name,
			MAC:     a.HardwareAddr.String(),
			Carrier: a.OperState == netlink.OperUp || a.RawFlags&unix.IFF_RUNNING != 0,
			Up:      a.Flags&net.FlagUp != 0,
			OperUp:  a.OperState == netlink.OperUp,
		})
	}
	return out, nil
}

func (linuxNetwork) Up(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netlink: link %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("netlink: set %s up: %w", name, err)
	}
	if lo, err := netlink.LinkByName("lo"); err == nil {
		_ = netlink.LinkSetUp(lo)
	}
	return nil
}

func (linuxNetwork) Down(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netlink: link %s: %w", name, err)
	}
	if err := netlink.LinkSetDown(l); err != nil {
		return fmt.Errorf("netlink: set %s down: %w", name, err)
	}
	return nil
}

func (linuxNetwork) Rename(old, new string) error {
	l, err := netlink.LinkByName(old)
	if err != nil {
		return fmt.Errorf("netlink: link %s: %w", old, err)
	}
	if err := netlink.LinkSetName(l, new); err != nil {
		return fmt.Errorf("netlink: rename %s to %s: %w", old, new, err)
	}
	return nil
}

func (linuxNetwork) SetMTU(name string, mtu int) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netlink: link %s: %w", name, err)
	}
	if err := netlink.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("netlink: MTU %d on %s: %w", mtu, name, err)
	}
	return nil
}

func (linuxNetwork) SetMAC(name string, mac net.HardwareAddr) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netlink: link %s: %w", name, err)
	}
	if err := netlink.LinkSetHardwareAddr(l, mac); err != nil {
		return fmt.Errorf("netlink: address %s on %s: %w", mac, name, err)
	}
	return nil
}

func (linuxNetwork) DHCP(ctx context.Context, name string, xid uint32, hostname string) (*Lease, error) {
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	c, err := nclient4.New(name, nclient4.WithTimeout(time.Second), nclient4.WithRetry(3))
	if err != nil {
		return nil, fmt.Errorf("open DHCP socket on %s: %w", name, err)
	}
	defer c.Close()
	discover := newDHCPMessage(dhcpv4.MessageTypeDiscover, iface.HardwareAddr, xid, hostname)
	offer, err := c.SendAndRead(ctx, nclient4.DefaultServers, discover, nclient4.IsMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		return nil, fmt.Errorf("no DHCP offer: %w", err)
	}
	req := newDHCPRequest(offer, iface.HardwareAddr, xid, hostname)
	ack, err := c.SendAndRead(ctx, nclient4.DefaultServers, req, nclient4.IsAll(
		nclient4.IsCorrectServer(offer.ServerIdentifier()),
		nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak)))
	if err != nil {
		return nil, fmt.Errorf("no DHCP ACK from %s: %w", offer.ServerIdentifier(), err)
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, fmt.Errorf("DHCP server %s refused the request (NAK): %s", offer.ServerIdentifier(), ack.Message())
	}
	return leaseFromACK(name, ack), nil
}

func (linuxNetwork) LookupHost(ctx context.Context, host string) ([]string, error) {
	return net.DefaultResolver.LookupHost(ctx, host)
}

// Configure sets the lease's address and default route (none with
// l.NoDefaultRoute). The address is added without a lifetime, so it is
// permanent: the booted OS runs on an NFS root through this address, and
// an address that expired with the lease would cut the root from under it
// when nothing renews it.
func (linuxNetwork) Configure(name string, l *Lease) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netlink: link %s: %w", name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: l.IP.To4(), Mask: l.Netmask}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("netlink: add %s to %s: %w", addr.IPNet, name, err)
	}
	if !l.NoDefaultRoute && l.Gateway != nil && !l.Gateway.IsUnspecified() {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: l.Gateway.To4()}
		if err := netlink.RouteReplace(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("netlink: default route via %s: %w", l.Gateway, err)
		}
	}
	if l.Hostname != "" {
		if err := unix.Sethostname([]byte(l.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", l.Hostname, err)
		}
	}
	return nil
}

// AddBond creates the bond with netlink and sets its options through the
// bonding driver's sysfs attributes, as dracut's ifup does: netlink's bond
// attributes cover only part of what bond= may carry.
func (linuxNetwork) AddBond(b cmdline.Bond) error {
	l, err := netlink.LinkByName(b.Name)
	if err != nil {
		if err := netlink.LinkAdd(netlink.NewLinkBond(netlink.LinkAttrs{Name: b.Name})); err != nil {
			return fmt.Errorf("netlink: create bond %s: %w (is the bonding module packed and loaded?)", b.Name, err)
		}
		if l, err = netlink.LinkByName(b.Name); err != nil {
			return fmt.Errorf("netlink: bond %s: %w", b.Name, err)
		}
	}
	if _, ok := l.(*netlink.Bond); !ok {
		return fmt.Errorf("%s exists and is a %s, not a bond", b.Name, l.Type())
	}
	if err := netlink.LinkSetDown(l); err != nil {
		return fmt.Errorf("netlink: set %s down: %w", b.Name, err)
	}
	before, after := bondWrites("/sys/class/net", b)
	write := func(ws []sysWrite) error {
		for _, w := range ws {
			if err := os.WriteFile(w.path, []byte(w.value), 0); err != nil {
				return fmt.Errorf("option %s=%s: %w", path.Base(w.path), w.value, err)
			}
		}
		return nil
	}
	if err := write(before); err != nil {
		return err
	}
	for _, s := range b.Slaves {
		sl, err := netlink.LinkByName(s)
		if err != nil {
			return fmt.Errorf("netlink: slave %s: %w", s, err)
		}
		if sl.Attrs().MasterIndex == l.Attrs().Index {
			continue
		}
		if err := netlink.LinkSetDown(sl); err != nil {
			return fmt.Errorf("netlink: set slave %s down: %w", s, err)
		}
		if err := netlink.LinkSetMasterByIndex(sl, l.Attrs().Index); err != nil {
			return fmt.Errorf("netlink: enslave %s: %w", s, err)
		}
		_ = netlink.LinkSetUp(sl)
	}
	if err := write(after); err != nil {
		return err
	}
	if b.MTU != 0 {
		if err := netlink.LinkSetMTU(l, b.MTU); err != nil {
			return fmt.Errorf("netlink: MTU %d on %s: %w", b.MTU, b.Name, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("netlink: set %s up: %w", b.Name, err)
	}
	if lo, err := netlink.LinkByName("lo"); err == nil {
		_ = netlink.LinkSetUp(lo)
	}
	return nil
}

// AddVLAN creates the 802.1Q interface with netlink.
func (linuxNetwork) AddVLAN(v cmdline.VLAN) error {
	parent, err := netlink.LinkByName(v.Parent)
	if err != nil {
		return fmt.Errorf("netlink: parent %s: %w", v.Parent, err)
	}
	if err := netlink.LinkSetUp(parent); err != nil {
		return fmt.Errorf("netlink: set %s up: %w", v.Parent, err)
	}
	l, err := netlink.LinkByName(v.Name)
	if err == nil {
		vl, ok := l.(*netlink.Vlan)
		if !ok || vl.VlanId != v.ID || vl.ParentIndex != parent.Attrs().Index {
			return fmt.Errorf("%s exists and is not VLAN %d on %s", v.Name, v.ID, v.Parent)
		}
	} else {
		vl := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: parent.Attrs().Index}, VlanId: v.ID}
		if err := netlink.LinkAdd(vl); err != nil {
			return fmt.Errorf("netlink: create VLAN %s (ID %d) on %s: %w (is the 8021q module packed and loaded?)", v.Name, v.ID, v.Parent, err)
		}
		if l, err = netlink.LinkByName(v.Name); err != nil {
			return fmt.Errorf("netlink: VLAN %s: %w", v.Name, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("netlink: set %s up: %w", v.Name, err)
	}
	return nil
}
