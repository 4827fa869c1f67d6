package renew

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/netconf"
)

// initNetConf is what the init writes for the test lease.
func initNetConf() string {
	return netconf.NetConf(testLease(2*time.Minute).Config, netconf.Boot{Proto: "dhcp", RootServer: server1, RootPath: "/srv/sidus"})
}

func TestSystemApply(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write("etc/hostname", "node21\n")
	write("run/net-eth0.conf", initNetConf())
	// resolv.conf as a symlink into /run: replaced, not followed.
	write("run/resolv.target", "nameserver 127.0.0.53\n")
	if err := os.Symlink("../run/resolv.target", filepath.Join(root, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	var set []string
	s := &System{Root: root, Hostname: true, Resolv: true, NetConf: true,
		SetHostname: func(n string) error { set = append(set, n); return nil }}
	old := testLease(2 * time.Minute)
	nl := old.clone()
	nl.Hostname, nl.DNS = "node21b", []net.IP{server2}
	if err := s.Apply(old, nl); err != nil {
		t.Fatal(err)
	}
	if got := read("etc/hostname"); got != "node21b\n" || len(set) != 1 || set[0] != "node21b" {
		t.Errorf("hostname %q, sethostname %v", got, set)
	}
	if got := read("etc/resolv.conf"); got != "# Written by sidus-agent from DHCP\nsearch cluster\nnameserver 10.0.0.2\n" {
		t.Errorf("resolv.conf %q", got)
	}
	if got := read("run/resolv.target"); got != "nameserver 127.0.0.53\n" {
		t.Errorf("the symlink's target was written: %q", got)
	}
	if got := read("run/net-eth0.conf"); !strings.Contains(got, "HOSTNAME='node21b'\n") || !strings.Contains(got, "ROOTPATH='/srv/sidus'\n") ||
		!strings.Contains(got, "IPV4DNS0='10.0.0.2'\n") {
		t.Errorf("net-eth0.conf:\n%s", got)
	}
	// What the init did not write stays alone; unchanged values are not
	// rewritten.
	write("etc/hostname", "admin\n")
	s = &System{Root: root, NetConf: false, SetHostname: func(n string) error { t.Errorf("sethostname %q", n); return nil }}
	nl2 := nl.clone()
	nl2.Hostname, nl2.Domain = "node21c", "hpc"
	if err := s.Apply(nl, nl2); err != nil {
		t.Fatal(err)
	}
	if got := read("etc/hostname"); got != "admin\n" {
		t.Errorf("hostname %q", got)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "etc")); len(entries) != 2 {
		t.Errorf("etc holds %v", entries)
	}
}
