package netconf

import (
	"net"
	"slices"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Requested is the parameter request list (option 55) of the init's DHCP
// messages: what Config and the init's root need.
var Requested = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionHostName,
	dhcpv4.OptionDomainName,
	dhcpv4.OptionRootPath,
	dhcpv4.OptionIPAddressLeaseTime,
}

// XID is the transaction ID x.
func XID(x uint32) dhcpv4.TransactionID {
	return dhcpv4.TransactionID{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}
}

// Message builds a BOOTREQUEST of type typ from mac, with transaction ID
// xid and no address, that asks for Requested and then for extra. It is
// built by hand: dhcpv4.New would draw the transaction ID from crypto/rand,
// which blocks on early-boot nodes without RDRAND, so the caller supplies
// xid from a non-blocking source.
func Message(typ dhcpv4.MessageType, mac net.HardwareAddr, xid uint32, extra ...dhcpv4.OptionCode) *dhcpv4.DHCPv4 {
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		ClientHWAddr:  mac,
		TransactionID: XID(xid),
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		Options:       make(dhcpv4.Options),
	}
	m.UpdateOption(dhcpv4.OptMessageType(typ))
	m.UpdateOption(dhcpv4.OptParameterRequestList(append(slices.Clip(Requested), extra...)...))
	m.UpdateOption(dhcpv4.OptMaxMessageSize(1500))
	m.UpdateOption(dhcpv4.OptClassIdentifier("sidus-go"))
	return m
}
