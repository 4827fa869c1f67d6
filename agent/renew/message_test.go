package renew

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sidus-go/sidus/agent/handover"
)

func TestBuildMessage(t *testing.T) {
	for _, c := range []struct {
		kind      Kind
		typ       dhcpv4.MessageType
		ciaddr    net.IP
		broadcast bool
		opt50     net.IP
		opt54     net.IP
	}{
		{KindRenew, dhcpv4.MessageTypeRequest, nodeIP, false, nil, nil},
		{KindRebind, dhcpv4.MessageTypeRequest, nodeIP, false, nil, nil},
		{KindReboot, dhcpv4.MessageTypeRequest, net.IPv4zero, true, nodeIP, nil},
		{KindDiscover, dhcpv4.MessageTypeDiscover, net.IPv4zero, true, nodeIP, nil},
		{KindSelect, dhcpv4.MessageTypeRequest, net.IPv4zero, true, nodeIP, server2},
	} {
		req := Request{Kind: c.kind, XID: 0xdeadbeef, ClientIP: nodeIP, ServerID: server2, RequestedIP: nodeIP}
		if c.kind == KindRenew || c.kind == KindRebind {
			req.RequestedIP = nil
		}
		m, err := dhcpv4.FromBytes(buildMessage(req, nodeMAC).ToBytes())
		if err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		if m.OpCode != dhcpv4.OpcodeBootRequest || m.MessageType() != c.typ || m.TransactionID != (dhcpv4.TransactionID{0xde, 0xad, 0xbe, 0xef}) ||
			!m.ClientIPAddr.Equal(c.ciaddr) || m.IsBroadcast() != c.broadcast || m.ClientHWAddr.String() != nodeMAC.String() {
			t.Errorf("%s: %s", c.kind, m.Summary())
		}
		if got := m.RequestedIPAddress(); !got.Equal(c.opt50) {
			t.Errorf("%s: option 50 = %v, want %v", c.kind, got, c.opt50)
		}
		if got := m.ServerIdentifier(); !got.Equal(c.opt54) {
			t.Errorf("%s: option 54 = %v, want %v", c.kind, got, c.opt54)
		}
		if !m.IsOptionRequested(dhcpv4.OptionRenewTimeValue) || !m.IsOptionRequested(dhcpv4.OptionHostName) {
			t.Errorf("%s: request list %v", c.kind, m.ParameterRequestList())
		}
	}
}

func serverReply(t *testing.T, typ dhcpv4.MessageType, xid uint32, mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootReply, HWType: 1, ClientHWAddr: mac,
		TransactionID: dhcpv4.TransactionID{byte(xid >> 24), byte(xid >> 16), byte(xid >> 8), byte(xid)},
		ClientIPAddr:  net.IPv4zero, YourIPAddr: nodeIP, ServerIPAddr: net.IPv4zero, GatewayIPAddr: net.IPv4zero,
		Options: make(dhcpv4.Options)}
	m.UpdateOption(dhcpv4.OptMessageType(typ))
	for _, f := range mods {
		f(m)
	}
	// Through the wire format, as the exchanger sees it.
	p, err := dhcpv4.FromBytes(m.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplyFor(t *testing.T) {
	req := Request{Kind: KindRenew, XID: 7, ClientIP: nodeIP, ServerID: server1}
	m := serverReply(t, dhcpv4.MessageTypeAck, 7, nodeMAC,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server1)),
		dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(2*time.Minute)),
		dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(50*time.Second)),
		dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(100*time.Second)),
		dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))),
		dhcpv4.WithOption(dhcpv4.OptRouter(server1, server2)),
		dhcpv4.WithOption(dhcpv4.OptDNS(server2, server1)),
		dhcpv4.WithOption(dhcpv4.OptHostName("node21")),
		dhcpv4.WithOption(dhcpv4.OptDomainName("cluster")))
	rep := replyFor(m, req, nodeMAC)
	if rep == nil {
		t.Fatal("ACK not taken")
	}
	if rep.Type != ReplyACK || !rep.YourIP.Equal(nodeIP) || !rep.ServerID.Equal(server1) || rep.LeaseTime != 2*time.Minute ||
		rep.T1 != 50*time.Second || rep.T2 != 100*time.Second || !rep.Gateway.Equal(server1) || len(rep.DNS) != 2 ||
		!rep.DNS[0].Equal(server2) || rep.Hostname != "node21" || rep.Domain != "cluster" || net.IP(rep.Netmask).String() != "255.255.255.0" {
		t.Errorf("reply %+v", rep)
	}
	nak := serverReply(t, dhcpv4.MessageTypeNak, 7, nodeMAC, dhcpv4.WithOption(dhcpv4.OptMessage("no")))
	if rep := replyFor(nak, req, nodeMAC); rep == nil || rep.Type != ReplyNAK || rep.Message != "no" {
		t.Errorf("NAK: %+v", rep)
	}
	for name, c := range map[string]struct {
		m   *dhcpv4.DHCPv4
		req Request
	}{
		"other xid":          {serverReply(t, dhcpv4.MessageTypeAck, 8, nodeMAC), req},
		"other MAC":          {serverReply(t, dhcpv4.MessageTypeAck, 7, net.HardwareAddr{2, 0, 0, 0, 0, 1}), req},
		"offer to a request": {serverReply(t, dhcpv4.MessageTypeOffer, 7, nodeMAC), req},
		"ACK to a discover":  {serverReply(t, dhcpv4.MessageTypeAck, 7, nodeMAC), Request{Kind: KindDiscover, XID: 7}},
		"a request":          {buildMessage(req, nodeMAC), req},
	} {
		if rep := replyFor(c.m, c.req, nodeMAC); rep != nil {
			t.Errorf("%s: taken as %+v", name, rep)
		}
	}
	offer := serverReply(t, dhcpv4.MessageTypeOffer, 9, nodeMAC)
	if rep := replyFor(offer, Request{Kind: KindDiscover, XID: 9}, nodeMAC); rep == nil || rep.Type != ReplyOffer {
		t.Errorf("offer: %+v", rep)
	}
}

// The package must not reach crypto/rand (dhcpv4.New does, through its
// transaction ID; this package builds messages by hand).
func TestNoCryptoRand(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	for _, goos := range []string{"linux", "darwin"} {
		cmd := exec.Command(goCmd, "list", "-deps", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		deps := strings.Fields(string(out))
		for _, bad := range []string{"crypto/rand", "github.com/insomniacslk/dhcp/dhcpv4/nclient4", "github.com/sidus-go/sidus/initramfs"} {
			if slices.Contains(deps, bad) {
				t.Errorf("GOOS=%s: the package depends on %s", goos, bad)
			}
		}
	}
	// And no source here, or in netconf that builds the messages, names
	// them.
	files, _ := filepath.Glob("*.go")
	nc, _ := filepath.Glob("../../netconf/*.go")
	if len(nc) == 0 {
		t.Error("no netconf sources found")
	}
	files = append(files, nc...)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"crypto/rand"`) || strings.Contains(string(b), "dhcpv4.New(") {
			t.Errorf("%s uses crypto/rand or dhcpv4.New", f)
		}
	}
}

func TestFromHandover(t *testing.T) {
	s := &handover.State{Device: "eth0", MAC: "52:54:00:12:34:56", Lease: &handover.Lease{
		IP: "10.0.0.21", PrefixLen: 24, Gateway: "10.0.0.1", DNS: []string{"10.0.0.1", "bogus"}, Hostname: "node21",
		Domain: "cluster", ServerID: "10.0.0.1", LeaseSeconds: 120, T1Seconds: 50, Acquired: 1700000000}}
	l, err := FromHandover(s)
	if err != nil {
		t.Fatal(err)
	}
	if l.Device != "eth0" || l.MAC.String() != "52:54:00:12:34:56" || !l.IP.Equal(nodeIP) || net.IP(l.Netmask).String() != "255.255.255.0" ||
		!l.Gateway.Equal(server1) || len(l.DNS) != 1 || l.Hostname != "node21" || l.Domain != "cluster" || !l.ServerID.Equal(server1) ||
		l.LeaseTime != 2*time.Minute || l.T1 != 50*time.Second || l.T2 != 0 || l.Acquired.Unix() != 1700000000 {
		t.Errorf("lease %+v", l)
	}
	for _, bad := range []*handover.State{nil, {Device: "eth0", MAC: "52:54:00:12:34:56"},
		{MAC: "nope", Lease: &handover.Lease{IP: "10.0.0.21"}}, {MAC: "52:54:00:12:34:56", Lease: &handover.Lease{IP: "x"}}} {
		if _, err := FromHandover(bad); err == nil {
			t.Errorf("FromHandover(%+v) accepted it", bad)
		}
	}
}
