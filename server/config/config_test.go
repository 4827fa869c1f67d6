package config

import (
	"errors"
	"strings"
	"testing"
)

const minimal = "[network]\ncidr = \"192.168.1.0/24\"\nserver_ip = \"192.168.1.1\"\n"

func TestExampleParses(t *testing.T) {
	c, err := Parse(strings.NewReader(Example))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tree != "/srv/nfsroot/sidus" || c.DHCP.Include != "/etc/dhcp/sidus.conf" || c.Prefix.String() != "192.168.1.0/24" {
		t.Errorf("Example = %+v", c)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse(strings.NewReader(minimal + "[dhcp]\nserver = \"dnsmasq\"\n[nfs]\nserver = \"nfs-ganesha\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{
		{c.DHCP.Hosts, "/etc/sidus/dnsmasq-hosts"},
		{c.DHCP.Leases, "/var/lib/misc/dnsmasq.leases"},
		{c.NFS.GaneshaExport, "/etc/ganesha/sidus-export.conf"},
		{c.Network.DNS[0], "192.168.1.1"},
		{c.ISCSI.Label, "ISCSI"},
		{strings.Join(c.DHCP.Reload, " "), "systemctl try-reload-or-restart dnsmasq"},
	} {
		if kv[0] != kv[1] {
			t.Errorf("got %q, want %q", kv[0], kv[1])
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, key, want string
	}{
		{"no cidr", "", "network.cidr", "missing"},
		{"bad cidr", "[network]\ncidr = \"192.168.1.0\"\n", "network.cidr", "IPv4 prefix"},
		{"v6 cidr", "[network]\ncidr = \"fd00::/64\"\n", "network.cidr", "IPv4 prefix"},
		{"no server", "[network]\ncidr = \"10.0.0.0/24\"\n", "network.server_ip", "missing"},
		{"server outside", "[network]\ncidr = \"10.0.0.0/24\"\nserver_ip = \"10.0.1.1\"\n", "network.server_ip", "inside network.cidr"},
		{"dhcp kind", minimal + "[dhcp]\nserver = \"kea\"\n", "dhcp.server", "isc-dhcp-server or dnsmasq"},
		{"nfs kind", minimal + "[nfs]\nserver = \"knfsd\"\n", "nfs.server", "nfs-kernel-server or nfs-ganesha"},
		{"relative tree", "tree = \"srv/sidus\"\n" + minimal, "tree", "absolute path"},
		{"root tree", "tree = \"/\"\n" + minimal, "tree", "not /"},
		{"label", minimal + "[iscsi]\nlabel = \"MY LABEL\"\n", "iscsi.label", "ext4 label"},
		{"long label", minimal + "[iscsi]\nlabel = \"ABCDEFGHIJKLMNOPQ\"\n", "iscsi.label", "ext4 label"},
		{"iqn", minimal + "[iscsi]\ntarget_prefix = \"zone.sidus\"\n", "iscsi.target_prefix", "IQN"},
		{"size", minimal + "[iscsi]\ndefault_size = \"big\"\n", "iscsi.default_size", "size"},
		{"default label", minimal + "[boot]\ndefault_label = \"disk\"\n", "boot.default_label", "tmpfs or iscsi"},
		{"compression", minimal + "[boot]\ncompression = \"xz\"\n", "boot.compression", "zstd"},
		{"dns", minimal + "dns = [\"one\"]\n", "network.dns[0]", "IP address"},
		{"unknown", minimal + "[dhcp]\nservr = \"dnsmasq\"\n", "dhcp.servr", "unknown key"},
		{"export id", minimal + "[nfs]\nexport_id = 70000\n", "nfs.export_id", "1 to 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.text))
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("err = %v, want a *KeyError", err)
			}
			if ke.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want key %s and %q", err, tc.key, tc.want)
			}
		})
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Parse(strings.NewReader(minimal + "tree = \n"))
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("err = %v, want the line", err)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"20G", 20 << 30, true}, {"512M", 512 << 20, true}, {"1T", 1 << 40, true}, {"4096", 4096, true},
		{"2GiB", 2 << 30, true}, {"1gb", 1 << 30, true}, {"", 0, false}, {"G", 0, false}, {"0", 0, false},
		{"-1G", 0, false}, {"1.5G", 0, false}, {"99999999999T", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v", tc.in, got, err)
		}
	}
	if s := FormatSize(20 << 30); s != "20G" {
		t.Errorf("FormatSize = %s", s)
	}
}

func TestValidObjectSize(t *testing.T) {
	for s, want := range map[string]bool{"4K": true, "1M": true, "32M": true, "512K": true, "4M": true,
		"2K": false, "64M": false, "3M": false, "1G": false, "1": false, "M": false, "-1M": false, "": false} {
		if got := validObjectSize(s); got != want {
			t.Errorf("validObjectSize(%q) = %v, want %v", s, got, want)
		}
	}
}
