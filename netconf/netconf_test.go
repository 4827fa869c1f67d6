package netconf

import (
	"net"
	"strings"
	"testing"
	"time"
)

var (
	nodeIP  = net.IPv4(10, 0, 0, 21).To4()
	server1 = net.IPv4(10, 0, 0, 1).To4()
	server2 = net.IPv4(10, 0, 0, 2).To4()
)

func testConfig(lease time.Duration) Config {
	return Config{Device: "eth0", IP: nodeIP, Netmask: net.CIDRMask(24, 32), Gateway: server1,
		DNS: []net.IP{server1}, Hostname: "node21", Domain: "cluster", ServerID: server1, LeaseTime: lease}
}

var testBoot = Boot{Proto: "dhcp", RootServer: server1, RootPath: "/srv/sidus", BootFile: "pxelinux.0"}

// What NetConf writes for testConfig and testBoot: the init's file.
const initNetConf = `DEVICE='eth0'
PROTO='dhcp'
IPV4ADDR='10.0.0.21'
IPV4BROADCAST='10.0.0.255'
IPV4NETMASK='255.255.255.0'
IPV4GATEWAY='10.0.0.1'
IPV4DNS0='10.0.0.1'
IPV4DNS1='0.0.0.0'
HOSTNAME='node21'
DNSDOMAIN='cluster'
ROOTSERVER='10.0.0.1'
ROOTPATH='/srv/sidus'
filename='pxelinux.0'
DHCPLEASETIME='120'
`

func TestNetConf(t *testing.T) {
	if got := NetConf(testConfig(2*time.Minute), testBoot); got != initNetConf {
		t.Errorf("NetConf:\n%s\nwant:\n%s", got, initNetConf)
	}
	c := Config{Device: "eth0", IP: net.IPv4(10, 1, 2, 3).To4(), Netmask: net.CIDRMask(16, 32), Hostname: "it's"}
	got := NetConf(c, Boot{Proto: "none"})
	for _, want := range []string{
		"IPV4BROADCAST='10.1.255.255'", "IPV4NETMASK='255.255.0.0'", "IPV4GATEWAY='0.0.0.0'", "IPV4DNS0='0.0.0.0'",
		`HOSTNAME='it'\''s'`, "PROTO='none'", "ROOTSERVER='0.0.0.0'", "ROOTPATH=''", "DHCPLEASETIME='0'",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("NetConf lacks %s:\n%s", want, got)
		}
	}
	// No address: no mask or broadcast either.
	if got := NetConf(Config{Netmask: net.CIDRMask(24, 32)}, Boot{}); !strings.Contains(got, "IPV4NETMASK='0.0.0.0'\n") ||
		!strings.Contains(got, "IPV4BROADCAST='0.0.0.0'\n") {
		t.Errorf("no address:\n%s", got)
	}
}

func TestUpdateNetConf(t *testing.T) {
	c := testConfig(2 * time.Minute)
	if got := UpdateNetConf(initNetConf, c); got != initNetConf {
		t.Errorf("same lease, other file:\n%s", got)
	}
	c.Hostname, c.DNS, c.Domain, c.LeaseTime = "it's", []net.IP{server2, server1}, "hpc", time.Hour
	want := strings.NewReplacer("'node21'", `'it'\''s'`, "IPV4DNS0='10.0.0.1'", "IPV4DNS0='10.0.0.2'",
		"IPV4DNS1='0.0.0.0'", "IPV4DNS1='10.0.0.1'", "'cluster'", "'hpc'", "'120'", "'3600'").Replace(initNetConf)
	if got := UpdateNetConf(initNetConf, c); got != want {
		t.Errorf("updated:\n%s\nwant:\n%s", got, want)
	}
	// No file: a whole one, the init's keys in the init's order.
	fresh := UpdateNetConf("", testConfig(2*time.Minute))
	want = strings.NewReplacer("'/srv/sidus'", "''", "'pxelinux.0'", "''").Replace(initNetConf)
	if fresh != want {
		t.Errorf("fresh:\n%s\nwant:\n%s", fresh, want)
	}
	// Unknown lines are kept, missing keys appended.
	if got := UpdateNetConf("# hand edit\nFOO='bar'", testConfig(time.Minute)); !strings.HasPrefix(got, "# hand edit\nFOO='bar'\nDEVICE='eth0'\n") ||
		!strings.HasSuffix(got, "DHCPLEASETIME='60'\n") || strings.Contains(got, "ROOTPATH") {
		t.Errorf("partial:\n%s", got)
	}
}

func TestResolvConf(t *testing.T) {
	c := testConfig(time.Minute)
	c.DNS = []net.IP{server2, server1}
	if got, want := ResolvConf(c, "sidus-init"), "# Written by sidus-init from DHCP\nsearch cluster\nnameserver 10.0.0.2\nnameserver 10.0.0.1\n"; got != want {
		t.Errorf("ResolvConf = %q, want %q", got, want)
	}
	if got, want := ResolvConf(Config{DNS: []net.IP{server1}}, "sidus-agent"), "# Written by sidus-agent from DHCP\nnameserver 10.0.0.1\n"; got != want {
		t.Errorf("no domain: %q, want %q", got, want)
	}
}
