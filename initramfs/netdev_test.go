package initramfs

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/initramfs/cmdline"
)

// AddBond and AddVLAN complete fakeSys's Network: they record the call
// and add the new interface to the links, with carrier if a member has it.
func (f *fakeSys) AddBond(b cmdline.Bond) error {
	keys := make([]string, 0, len(b.Options))
	for k, v := range b.Options {
		keys = append(keys, k+"="+v)
	}
	slices.Sort(keys)
	f.rec("bond %s slaves=%s opts=%s mtu=%d", b.Name, strings.Join(b.Slaves, ","), strings.Join(keys, ","), b.MTU)
	l := Link{Name: b.Name, MAC: "52:54:00:bb:00:00", Up: true}
	for _, x := range f.links {
		if slices.Contains(b.Slaves, x.Name) {
			l.Carrier = l.Carrier || x.Carrier
		}
	}
	f.links = append(f.links, l)
	return nil
}

func (f *fakeSys) AddVLAN(v cmdline.VLAN) error {
	f.rec("vlan %s parent=%s id=%d", v.Name, v.Parent, v.ID)
	f.links = append(f.links, Link{Name: v.Name, MAC: "52:54:00:cc:00:00", Up: true, Carrier: true, OperUp: true})
	return nil
}

func parse(t *testing.T, line string) *cmdline.Config {
	t.Helper()
	c, err := cmdline.Parse(line, nil, nil)
	if err != nil {
		t.Fatalf("Parse(%q): %v", line, err)
	}
	return c
}

func TestPlanNetdevs(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		boot       string
		phys       []string
		bad        string // substring of the error
	}{
		{"bond, ip= on it", "bond=bond0:eth0,eth1:mode=active-backup ip=bond0:dhcp", "bond0", []string{"eth0", "eth1"}, ""},
		{"bond, no ip=: the bond", "bond=bond0:ens3,ens4", "bond0", []string{"ens3", "ens4"}, ""},
		{"bare bond", "bond", "bond0", []string{"eth0", "eth1"}, ""},
		{"vlan, no ip=: the vlan", "vlan=vlan5:eth0", "vlan5", []string{"eth0"}, ""},
		{"vlan on a bond", "bond=bond0:eth0,eth1:mode=802.3ad vlan=bond0.7:bond0 ip=bond0.7:dhcp", "bond0.7", []string{"eth0", "eth1"}, ""},
		{"bootdev names the bond", "bond=bond0:eth0,eth1 vlan=vlan5:eth2 bootdev=bond0", "bond0", []string{"eth0", "eth1", "eth2"}, ""},
		{"physical ip= device keeps the NIC", "vlan=vlan5:eth1 ip=eth0:dhcp", "", []string{"eth1"}, ""},
		{"ip= on a slave", "bond=bond0:eth0,eth1 ip=eth0:dhcp", "", nil, "ip=/bootdev= device eth0 is a slave of bond bond0"},
		{"slave in two bonds", "bond=bond0:eth0,eth1 bond=bond1:eth1,eth2", "", nil, "eth1 is already a slave of bond bond0"},
		{"bond of bonds", "bond=bond0:eth0,eth1 bond=bond1:bond0,eth2", "", nil, "slave bond0 is a bond itself"},
		{"vlan on a slave", "bond=bond0:eth0,eth1 vlan=vlan5:eth0", "", nil, "put the VLAN on the bond (vlan=bond0.5:bond0)"},
		{"vlan on a vlan", "vlan=vlan5:eth0 vlan=vlan6:vlan5", "", nil, "QinQ"},
		{"bond of a vlan", "vlan=vlan5:eth0 bond=bond0:vlan5,eth1", "", nil, "slave vlan5 is a VLAN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planNetdevs(parse(t, tc.line))
			if tc.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.bad)
				}
				return
			}
			if err != nil || p.boot != tc.boot || !slices.Equal(p.phys, tc.phys) {
				t.Errorf("plan %+v, %v; want boot %q phys %q", p, err, tc.boot, tc.phys)
			}
		})
	}
}

func TestNetStack(t *testing.T) {
	c := parse(t, "bond=bond0:eth0,eth1 vlan=bond0.7:bond0 vlan=vlan9:eth2")
	for dev, want := range map[string][]string{
		"bond0.7": {"bond0.7", "bond0", "eth0", "eth1"},
		"bond0":   {"bond0", "eth0", "eth1"},
		"vlan9":   {"vlan9", "eth2"},
		"eth3":    {"eth3"},
	} {
		if got := netStack(c, dev); !slices.Equal(got, want) {
			t.Errorf("netStack(%s) = %q, want %q", dev, got, want)
		}
	}
}

func TestBondWrites(t *testing.T) {
	b := cmdline.Bond{Name: "bond0", Options: map[string]string{
		"miimon": "100", "mode": "802.3ad", "lacp_rate": "fast", "primary": "eth1",
		"arp_ip_target": "10.0.0.1;10.0.0.2", "xmit_hash_policy": "layer3+4"}}
	before, after := bondWrites("/sys/class/net", b)
	var got []string
	for _, w := range before {
		got = append(got, strings.TrimPrefix(w.path, "/sys/class/net/bond0/bonding/")+"="+w.value)
	}
	want := []string{"mode=802.3ad", "arp_ip_target=+10.0.0.1", "arp_ip_target=+10.0.0.2", "lacp_rate=fast", "miimon=100", "xmit_hash_policy=layer3+4"}
	if !slices.Equal(got, want) {
		t.Errorf("before the slaves: %q, want %q", got, want)
	}
	if len(after) != 1 || after[0] != (sysWrite{"/sys/class/net/bond0/bonding/primary", "eth1"}) {
		t.Errorf("after the slaves: %v", after)
	}
	if before, after := bondWrites("/sys/class/net", cmdline.Bond{Name: "bond1"}); before != nil || after != nil {
		t.Errorf("no options: %v %v", before, after)
	}
}

func twoNICs() []Link {
	return []Link{
		{Name: "eth0", MAC: "52:54:00:77:00:10", Carrier: true, OperUp: true},
		{Name: "eth1", MAC: "52:54:00:77:00:11", Carrier: true, OperUp: true},
	}
}

// A bond in active-backup: created over both NICs, DHCP and the address
// on the bond, and the bond and both slaves kept from the root's network
// managers.
func TestBootBondActiveBackup(t *testing.T) {
	f := newFake()
	f.links = twoNICs()
	f.lease.Device = "bond0"
	var log strings.Builder
	_, err := bootWith(t, f, cmdline.SeedTmpfs+" bond=bond0:eth0,eth1:mode=active-backup,miimon=100 ip=bond0:dhcp", &log, Options{})
	if err == nil || !strings.Contains(err.Error(), "exec stopped by test") {
		t.Fatalf("Boot: %v\n%s", err, log.String())
	}
	order := []string{"bond bond0 slaves=eth0,eth1 opts=miimon=100,mode=active-backup mtu=0", "dhcp bond0", "configure bond0 10.0.0.5", "mount 10.0.0.2:/srv/nfsroot/sidus /ro"}
	last := -1
	for _, o := range order {
		i := has(f.calls[last+1:], o)
		if i < 0 {
			t.Fatalf("missing %q after call %d in:\n%s", o, last, strings.Join(f.calls, "\n"))
		}
		last += i + 1
	}
	if !strings.Contains(log.String(), "bond bond0 (mode active-backup, miimon=100) over eth0, eth1") || strings.Contains(log.String(), "bond= is read but not acted on") {
		t.Errorf("log:\n%s", log.String())
	}
	for _, d := range []string{"bond0", "eth0", "eth1"} {
		if c := f.files["/run/systemd/network/10-sidus-"+d+".network"]; !strings.Contains(c, "Name="+d+"\n") || !strings.Contains(c, "Unmanaged=yes") {
			t.Errorf("networkd file for %s: %q", d, c)
		}
		if c := f.files["/aufs/etc/network/interfaces.d/sidus-"+d]; !strings.Contains(c, "iface "+d+" inet manual") {
			t.Errorf("ifupdown file for %s: %q", d, c)
		}
	}
	if c := f.files["/run/NetworkManager/conf.d/sidus-bond0.conf"]; !strings.Contains(c, "unmanaged-devices=interface-name:bond0;interface-name:eth0;interface-name:eth1\n") {
		t.Errorf("NetworkManager file: %q", c)
	}
	if c := f.files["/run/net-bond0.conf"]; !strings.Contains(c, "DEVICE='bond0'") {
		t.Errorf("net conf: %q", c)
	}
}

// 802.3ad with a static ip= on the bond; a missing slave is waited for,
// then the bond runs on the other with a warning.
func TestBootBond8023adStaticMissingSlave(t *testing.T) {
	f := newFake()
	f.links = twoNICs()[:1]
	var log strings.Builder
	start := f.now
	_, _ = bootWith(t, f, "root=/dev/nfs nfsroot=10.0.0.2:/srv/sidus bond=bond0:eth0,eth1:mode=802.3ad:9000 ip=10.0.0.9::10.0.0.1:255.255.255.0:n9:bond0:none", &log, Options{})
	if has(f.calls, "bond bond0 slaves=eth0 opts=mode=802.3ad mtu=9000") < 0 || has(f.calls, "configure bond0 10.0.0.9") < 0 || has(f.calls, "dhcp") >= 0 {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
	if !strings.Contains(log.String(), "warning: bond=bond0: eth1 missing; the bond runs on eth0 alone") || !strings.Contains(log.String(), "waiting for eth1 (") {
		t.Errorf("log:\n%s", log.String())
	}
	if d := f.now.Sub(start); d < linkWait {
		t.Errorf("waited %s for the missing slave, want %s", d, linkWait)
	}
}

func TestBootBondNoSlaves(t *testing.T) {
	f := newFake()
	f.links = []Link{{Name: "ens9", MAC: "52:54:00:00:00:09"}}
	_, err := boot(t, f, cmdline.SeedTmpfs+" bond=bond0:eth0,eth1")
	if err == nil || !strings.Contains(err.Error(), "bond=bond0: none of its slaves (eth0,eth1) appeared after 30s; links seen: [ens9=52:54:00:00:00:09]") {
		t.Errorf("err = %v", err)
	}
	if has(f.calls, "bond ") >= 0 {
		t.Errorf("a bond was created without slaves")
	}
}

// The boot network on a VLAN: DHCP on the VLAN device, the parent
// protected too.
func TestBootVLAN(t *testing.T) {
	f := newFake()
	f.lease.Device = "vlan5"
	_, _ = bootWith(t, f, cmdline.SeedTmpfs+" vlan=vlan5:eth0 ip=vlan5:dhcp", io.Discard, Options{})
	i, j := has(f.calls, "vlan vlan5 parent=eth0 id=5"), has(f.calls, "dhcp vlan5")
	if i < 0 || j < i || has(f.calls, "dhcp eth0") >= 0 {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
	for _, d := range []string{"vlan5", "eth0"} {
		if _, ok := f.files["/run/systemd/network/10-sidus-"+d+".network"]; !ok {
			t.Errorf("%s is not protected from systemd-networkd", d)
		}
	}
}

// A VLAN on an 802.3ad bond: the bond first, then the VLAN on it.
func TestBootVLANOnBond(t *testing.T) {
	f := newFake()
	f.links = twoNICs()
	_, _ = boot(t, f, cmdline.SeedTmpfs+" bond=bond0:eth0,eth1:mode=802.3ad vlan=bond0.7:bond0 ip=bond0.7:dhcp")
	i, j, k := has(f.calls, "bond bond0"), has(f.calls, "vlan bond0.7 parent=bond0 id=7"), has(f.calls, "dhcp bond0.7")
	if i < 0 || j < i || k < j {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
}
