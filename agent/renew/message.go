package renew

import (
	"bytes"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// requested is the parameter request list: the init's, plus T1 and T2.
var requested = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionHostName,
	dhcpv4.OptionDomainName,
	dhcpv4.OptionRootPath,
	dhcpv4.OptionIPAddressLeaseTime,
	dhcpv4.OptionRenewTimeValue,
	dhcpv4.OptionRebindingTimeValue,
}

// buildMessage builds req's message by hand, as the init does: dhcpv4.New
// would draw the transaction ID from the kernel's entropy pool.
func buildMessage(req Request, mac net.HardwareAddr) *dhcpv4.DHCPv4 {
	x := req.XID
	m := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootRequest,
		HWType:        iana.HWTypeEthernet,
		ClientHWAddr:  mac,
		TransactionID: dhcpv4.TransactionID{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)},
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: net.IPv4zero,
		Options:       make(dhcpv4.Options),
	}
	typ := dhcpv4.MessageTypeRequest
	switch req.Kind {
	case KindRenew, KindRebind:
		// RFC 2131 4.3.2: ciaddr, no option 50 or 54; the server answers
		// ciaddr by unicast.
		m.ClientIPAddr = req.ClientIP.To4()
	case KindReboot:
		m.SetBroadcast()
		m.UpdateOption(dhcpv4.OptRequestedIPAddress(req.RequestedIP))
	case KindDiscover:
		typ = dhcpv4.MessageTypeDiscover
		m.SetBroadcast()
		m.UpdateOption(dhcpv4.OptRequestedIPAddress(req.RequestedIP))
	case KindSelect:
		m.SetBroadcast()
		m.UpdateOption(dhcpv4.OptRequestedIPAddress(req.RequestedIP))
		m.UpdateOption(dhcpv4.OptServerIdentifier(req.ServerID))
	}
	m.UpdateOption(dhcpv4.OptMessageType(typ))
	m.UpdateOption(dhcpv4.OptParameterRequestList(requested...))
	m.UpdateOption(dhcpv4.OptMaxMessageSize(1500))
	m.UpdateOption(dhcpv4.OptClassIdentifier("sidus-go"))
	return m
}

// replyFor returns m as a Reply if it answers req from a client with mac,
// else nil.
func replyFor(m *dhcpv4.DHCPv4, req Request, mac net.HardwareAddr) *Reply {
	x := req.XID
	xid := dhcpv4.TransactionID{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}
	if m.OpCode != dhcpv4.OpcodeBootReply || m.TransactionID != xid ||
		len(m.ClientHWAddr) < len(mac) || !bytes.Equal(m.ClientHWAddr[:len(mac)], mac) {
		return nil
	}
	var t ReplyType
	switch m.MessageType() {
	case dhcpv4.MessageTypeAck:
		t = ReplyACK
	case dhcpv4.MessageTypeNak:
		t = ReplyNAK
	case dhcpv4.MessageTypeOffer:
		t = ReplyOffer
	default:
		return nil
	}
	if (req.Kind == KindDiscover) != (t == ReplyOffer) {
		return nil
	}
	rep := &Reply{
		Type:      t,
		YourIP:    m.YourIPAddr.To4(),
		ServerID:  m.ServerIdentifier(),
		Netmask:   m.SubnetMask(),
		DNS:       m.DNS(),
		Hostname:  m.HostName(),
		Domain:    m.DomainName(),
		LeaseTime: m.IPAddressLeaseTime(0),
		T1:        m.IPAddressRenewalTime(0),
		T2:        m.IPAddressRebindingTime(0),
		Message:   m.Message(),
	}
	if gw := m.Router(); len(gw) > 0 {
		rep.Gateway = gw[0]
	}
	return rep
}
