package initramfs

import (
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sidus-go/sidus/netconf"
)

// newDHCPMessage builds a broadcast BOOTREQUEST (netconf.Message) that
// sends hostname.
func newDHCPMessage(typ dhcpv4.MessageType, mac net.HardwareAddr, xid uint32, hostname string) *dhcpv4.DHCPv4 {
	m := netconf.Message(typ, mac, xid)
	// Ask for a broadcast reply: we have no address yet.
	m.SetBroadcast()
	if hostname != "" {
		m.UpdateOption(dhcpv4.OptHostName(hostname))
	}
	return m
}

// newDHCPRequest builds the REQUEST for offer.
func newDHCPRequest(offer *dhcpv4.DHCPv4, mac net.HardwareAddr, xid uint32, hostname string) *dhcpv4.DHCPv4 {
	m := newDHCPMessage(dhcpv4.MessageTypeRequest, mac, xid, hostname)
	m.UpdateOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr))
	m.UpdateOption(dhcpv4.OptServerIdentifier(offer.ServerIdentifier()))
	return m
}

// leaseFromACK reads the lease out of the server's ACK.
func leaseFromACK(dev string, ack *dhcpv4.DHCPv4) *Lease {
	l := &Lease{
		Config: netconf.Config{
			Device:    dev,
			IP:        ack.YourIPAddr,
			Netmask:   ack.SubnetMask(),
			DNS:       ack.DNS(),
			Hostname:  ack.HostName(),
			Domain:    ack.DomainName(),
			ServerID:  ack.ServerIdentifier(),
			LeaseTime: ack.IPAddressLeaseTime(0),
		},
		Proto:      "dhcp",
		NextServer: ack.ServerIPAddr,
		RootPath:   ack.RootPath(),
		BootFile:   ack.BootFileNameOption(),
	}
	if l.BootFile == "" {
		l.BootFile = ack.BootFileName
	}
	if r := ack.Router(); len(r) > 0 {
		l.Gateway = r[0]
	}
	if l.Netmask == nil {
		l.Netmask = l.IP.DefaultMask()
	}
	if l.NextServer != nil && l.NextServer.IsUnspecified() {
		l.NextServer = nil
	}
	return l
}

// backoff returns the wait before DHCP/NFS attempt n (0-based): exponential
// from 1 s, capped at max, with ±25% jitter from rnd (a value in [0,1)) so
// that hundreds of nodes powered on together do not retry in lockstep.
func backoff(n int, max time.Duration, rnd float64) time.Duration {
	d := time.Second
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	j := time.Duration((rnd - 0.5) * 0.5 * float64(d))
	return d + j
}
