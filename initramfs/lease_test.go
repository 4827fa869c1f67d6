package initramfs

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/sidus-go/sidus/netconf"
)

// Lease.NetConf's own part (the format is netconf's): PROTO, ROOTPATH,
// filename, and ROOTSERVER siaddr, else the DHCP server.
func TestNetConf(t *testing.T) {
	l := &Lease{Config: netconf.Config{Device: "eth0", IP: net.IPv4(10, 1, 2, 3).To4(), Netmask: net.CIDRMask(16, 32),
		ServerID: net.IPv4(10, 1, 0, 2).To4(), LeaseTime: time.Hour}, Proto: "dhcp", RootPath: "/srv/nfsroot/sidus", BootFile: "pxelinux.0"}
	for _, c := range []struct {
		next net.IP
		want string
	}{{nil, "10.1.0.2"}, {net.IPv4zero, "10.1.0.2"}, {net.IPv4(10, 1, 0, 3).To4(), "10.1.0.3"}} {
		l.NextServer = c.next
		got := l.NetConf()
		for _, want := range []string{"DEVICE='eth0'", "PROTO='dhcp'", "IPV4ADDR='10.1.2.3'", "ROOTSERVER='" + c.want + "'",
			"ROOTPATH='/srv/nfsroot/sidus'", "filename='pxelinux.0'", "DHCPLEASETIME='3600'"} {
			if !strings.Contains(got, want+"\n") {
				t.Errorf("siaddr %v: NetConf lacks %s:\n%s", c.next, want, got)
			}
		}
	}
}

// The DHCP messages are built without dhcpv4.New, which would read
// crypto/rand (and block early in boot without RDRAND).
func TestDHCPMessages(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 1, 2, 3}
	d := newDHCPMessage(dhcpv4.MessageTypeDiscover, mac, 0x01020304, "node1")
	if d.TransactionID != (dhcpv4.TransactionID{1, 2, 3, 4}) || !bytes.Equal(d.ClientHWAddr, mac) || !d.IsBroadcast() {
		t.Errorf("discover header: %v", d.Summary())
	}
	for _, o := range []dhcpv4.OptionCode{dhcpv4.OptionRootPath, dhcpv4.OptionHostName, dhcpv4.OptionDomainNameServer, dhcpv4.OptionRouter} {
		if !d.IsOptionRequested(o) {
			t.Errorf("%v not requested", o)
		}
	}
	if _, err := dhcpv4.FromBytes(d.ToBytes()); err != nil {
		t.Errorf("discover does not round-trip: %v", err)
	}
	offer := &dhcpv4.DHCPv4{YourIPAddr: net.IPv4(10, 0, 0, 9), Options: dhcpv4.Options{}}
	offer.UpdateOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 0, 1)))
	r := newDHCPRequest(offer, mac, 7, "")
	if !r.RequestedIPAddress().Equal(net.IPv4(10, 0, 0, 9)) || !r.ServerIdentifier().Equal(net.IPv4(10, 0, 0, 1)) || r.MessageType() != dhcpv4.MessageTypeRequest {
		t.Errorf("request: %v", r.Summary())
	}
}

func TestLeaseFromACK(t *testing.T) {
	ack := &dhcpv4.DHCPv4{YourIPAddr: net.IPv4(10, 0, 0, 9), ServerIPAddr: net.IPv4(10, 0, 0, 2), Options: dhcpv4.Options{}}
	ack.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)))
	ack.UpdateOption(dhcpv4.OptRouter(net.IPv4(10, 0, 0, 1)))
	ack.UpdateOption(dhcpv4.OptRootPath("10.0.0.3:/srv/nfsroot/sidus"))
	ack.UpdateOption(dhcpv4.OptHostName("node9"))
	l := leaseFromACK("eth0", ack)
	if !l.Gateway.Equal(net.IPv4(10, 0, 0, 1)) || l.RootPath != "10.0.0.3:/srv/nfsroot/sidus" || l.Hostname != "node9" || !l.NextServer.Equal(net.IPv4(10, 0, 0, 2)) {
		t.Errorf("lease: %+v", l)
	}
}

func TestFilterFstab(t *testing.T) {
	in := "# /etc/fstab\nUUID=abc / ext4 errors=remount-ro 0 1\n/dev/sda2 none swap sw 0 0\nserver:/home /home nfs4 defaults 0 0\n"
	out, changed := FilterFstab(in)
	if !changed || !strings.Contains(out, "# sidus-init: UUID=abc / ext4") || !strings.Contains(out, "# sidus-init: /dev/sda2 none swap") ||
		!strings.Contains(out, "\nserver:/home /home nfs4 defaults 0 0\n") {
		t.Errorf("FilterFstab:\n%s", out)
	}
	if _, changed := FilterFstab("server:/home /home nfs4 defaults 0 0\n"); changed {
		t.Errorf("an fstab without / or swap was changed")
	}
}

func TestPeakRSS(t *testing.T) {
	if got := peakRSS("Name:\tinit\nVmPeak:\t 1000 kB\nVmHWM:\t    5888 kB\n"); got != "5888" {
		t.Errorf("peakRSS = %q", got)
	}
}
