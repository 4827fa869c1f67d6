package initramfs

import (
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// dhcpRequested is what we ask the server for.
var dhcpRequested = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionHostName,
	dhcpv4.OptionDomainName,
	dhcpv4.OptionRootPath,
	dhcpv4.OptionIPAddressLeaseTime,
}

// newDHCPMessage builds a BOOTREQUEST without dhcpv4.New, which reads
// crypto/rand for the transaction ID and blocks on early-boot entropy when
// the CPU has no RDRAND. The caller supplies xid from a non-blocking source.
func newDHCPMessage(typ dhcpv4.MessageType, mac net.HardwareAddr, xid uint32, hostname string) *dhcpv4.DHCPv4 {
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		ClientHWAddr:  mac,
		TransactionID: dhcpv4.TransactionID{byte(xid >> 24), byte(xid >> 16), byte(xid >> 8), byte(xid)},
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		Options:       make(dhcpv4.Options),
	}
	// Ask for a broadcast reply: we have no address yet.
	m.SetBroadcast()
	m.UpdateOption(dhcpv4.OptMessageType(typ))
	m.UpdateOption(dhcpv4.OptParameterRequestList(dhcpRequested...))
	m.UpdateOption(dhcpv4.OptMaxMessageSize(1500))
	m.UpdateOption(dhcpv4.OptClassIdentifier("sidus-go"))
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
		Device:     dev,
		Proto:      "dhcp",
		IP:         ack.YourIPAddr,
		Netmask:    ack.SubnetMask(),
		DNS:        ack.DNS(),
		Hostname:   ack.HostName(),
		Domain:     ack.DomainName(),
		ServerID:   ack.ServerIdentifier(),
		NextServer: ack.ServerIPAddr,
		RootPath:   ack.RootPath(),
		BootFile:   ack.BootFileNameOption(),
		LeaseTime:  ack.IPAddressLeaseTime(0),
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
