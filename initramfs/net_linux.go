package initramfs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
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

// Configure sets the lease's address and default route. The address is
// added without a lifetime, so it is permanent: the booted OS runs on an
// NFS root through this address, and an address that expired with the
// lease would cut the root from under it when nothing renews it.
func (linuxNetwork) Configure(name string, l *Lease) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netlink: link %s: %w", name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: l.IP.To4(), Mask: l.Netmask}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("netlink: add %s to %s: %w", addr.IPNet, name, err)
	}
	if l.Gateway != nil && !l.Gateway.IsUnspecified() {
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
