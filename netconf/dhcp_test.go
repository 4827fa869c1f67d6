package netconf

import (
	"bytes"
	"net"
	"slices"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Messages are built without dhcpv4.New, which would read crypto/rand
// (and block early in boot without RDRAND).
func TestMessage(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 1, 2, 3}
	m, err := dhcpv4.FromBytes(Message(dhcpv4.MessageTypeDiscover, mac, 0x01020304, dhcpv4.OptionRenewTimeValue).ToBytes())
	if err != nil {
		t.Fatalf("the message does not round-trip: %v", err)
	}
	if m.OpCode != dhcpv4.OpcodeBootRequest || m.MessageType() != dhcpv4.MessageTypeDiscover || m.TransactionID != (dhcpv4.TransactionID{1, 2, 3, 4}) ||
		!bytes.Equal(m.ClientHWAddr, mac) || m.IsBroadcast() || !m.ClientIPAddr.Equal(net.IPv4zero) {
		t.Errorf("header: %v", m.Summary())
	}
	if got, want := m.ParameterRequestList(), dhcpv4.OptionCodeList(append(slices.Clone(Requested), dhcpv4.OptionRenewTimeValue)); !slices.Equal(got, want) {
		t.Errorf("request list %v, want %v", got, want)
	}
	if got := Message(dhcpv4.MessageTypeRequest, mac, 1).ParameterRequestList(); !slices.Equal(got, dhcpv4.OptionCodeList(Requested)) {
		t.Errorf("request list %v, want %v", got, Requested)
	}
	if size, err := m.MaxMessageSize(); err != nil || size != 1500 || m.ClassIdentifier() != "sidus-go" {
		t.Errorf("max message size %d (%v), class %q", size, err, m.ClassIdentifier())
	}
}
