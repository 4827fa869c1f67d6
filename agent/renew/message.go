package renew

import (
	"bytes"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sidus-go/sidus/netconf"
)

// buildMessage builds req's message (netconf.Message), asking for the
// init's parameters and T1 and T2.
func buildMessage(req Request, mac net.HardwareAddr) *dhcpv4.DHCPv4 {
	typ := dhcpv4.MessageTypeRequest
	if req.Kind == KindDiscover {
		typ = dhcpv4.MessageTypeDiscover
	}
	m := netconf.Message(typ, mac, req.XID, dhcpv4.OptionRenewTimeValue, dhcpv4.OptionRebindingTimeValue)
	switch req.Kind {
	case KindRenew, KindRebind:
		// RFC 2131 4.3.2: ciaddr, no option 50 or 54; the server answers
		// ciaddr by unicast.
		m.ClientIPAddr = req.ClientIP.To4()
	case KindReboot, KindDiscover:
		m.SetBroadcast()
		m.UpdateOption(dhcpv4.OptRequestedIPAddress(req.RequestedIP))
	case KindSelect:
		m.SetBroadcast()
		m.UpdateOption(dhcpv4.OptRequestedIPAddress(req.RequestedIP))
		m.UpdateOption(dhcpv4.OptServerIdentifier(req.ServerID))
	}
	return m
}

// replyFor returns m as a Reply if it answers req from a client with mac,
// else nil.
func replyFor(m *dhcpv4.DHCPv4, req Request, mac net.HardwareAddr) *Reply {
	if m.OpCode != dhcpv4.OpcodeBootReply || m.TransactionID != netconf.XID(req.XID) ||
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
