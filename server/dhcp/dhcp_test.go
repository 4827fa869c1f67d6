package dhcp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/server/internal/golden"
)

var hosts = []Host{
	{Name: "node22", MAC: "52:54:00:00:00:22", IP: netip.MustParseAddr("192.168.1.22")},
	{Name: "node21", MAC: "52:54:00:00:00:21", IP: netip.MustParseAddr("192.168.1.21")},
}

func TestGolden(t *testing.T) {
	c := golden.Config(t, "")
	golden.Check(t, "isc-sidus.conf", ISCInclude(c, hosts))
	golden.Check(t, "isc-sidus-empty.conf", ISCInclude(golden.Config(t, "[dhcp]\nsubnet = false\n"), nil))
	c = golden.Config(t, "[dhcp]\nserver = \"dnsmasq\"\n")
	golden.Check(t, "dnsmasq-sidus.conf", DnsmasqConf(c))
	golden.Check(t, "dnsmasq-hosts", DnsmasqHosts(hosts))
}

func TestLeases(t *testing.T) {
	isc := `# The format of this file is documented in the dhcpd.leases(5) manual page.
lease 192.168.1.150 {
  starts 2 2026/12/01 11:00:00;
  ends 2 2026/12/01 11:10:00;
  hardware ethernet 52:54:00:00:00:21;
}
lease 192.168.1.151 {
  starts 2 2026/12/01 12:00:00;
  ends 2 2026/12/01 12:10:00;
  binding state active;
  hardware ethernet 52:54:00:00:00:21;
  client-hostname "node21";
}
`
	l := ParseISCLeases(strings.NewReader(isc))
	got := l["52:54:00:00:00:21"]
	if got.IP.String() != "192.168.1.151" || !got.Ends.Equal(time.Date(2026, 12, 1, 12, 10, 0, 0, time.UTC)) {
		t.Errorf("isc lease = %+v", got)
	}
	d := ParseDnsmasqLeases(strings.NewReader("1796131800 52:54:00:00:00:22 192.168.1.22 node22 01:52:54:00:00:00:22\nbad\n"))
	if g := d["52:54:00:00:00:22"]; g.IP.String() != "192.168.1.22" || g.Ends.Unix() != 1796131800 {
		t.Errorf("dnsmasq lease = %+v", g)
	}
}
