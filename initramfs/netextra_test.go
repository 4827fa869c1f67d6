package initramfs

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/netconf"
)

// setLink completes fakeSys's Network: op on the link named n fails if
// netFail["op n"] says so or the link is absent, else fn changes it.
func (f *fakeSys) setLink(n, op string, fn func(*Link)) error {
	if err := f.netFail[op+" "+n]; err != nil {
		return err
	}
	for i := range f.links {
		if f.links[i].Name == n {
			fn(&f.links[i])
			return nil
		}
	}
	return errors.New("no such device")
}

func (f *fakeSys) Down(n string) error {
	f.rec("down %s", n)
	return f.setLink(n, "down", func(l *Link) { l.Up = false })
}

func (f *fakeSys) Rename(old, new string) error {
	f.rec("rename %s %s", old, new)
	for _, l := range f.links {
		if l.Name == new {
			return errors.New("file exists")
		}
	}
	return f.setLink(old, "rename", func(l *Link) {
		if l.Up {
			panic("rename of " + old + " while it is up")
		}
		l.Name = new
	})
}

func (f *fakeSys) SetMTU(n string, mtu int) error {
	f.rec("mtu %s %d", n, mtu)
	return f.setLink(n, "mtu", func(*Link) {})
}

func (f *fakeSys) SetMAC(n string, mac net.HardwareAddr) error {
	f.rec("mac %s %s", n, mac)
	return f.setLink(n, "mac", func(l *Link) {
		if l.Up {
			panic("MAC of " + n + " set while it is up")
		}
		l.MAC = mac.String()
	})
}

// inOrder reports the first of want (call prefixes) missing from calls
// in that order, or "".
func inOrder(calls, want []string) string {
	last := -1
	for _, o := range want {
		i := has(calls[last+1:], o)
		if i < 0 {
			return o
		}
		last += i + 1
	}
	return ""
}

// exactly reports whether call is in calls as such.
func exactly(calls []string, call string) bool {
	for _, c := range calls {
		if c == call {
			return true
		}
	}
	return false
}

// lateFake shows the link with MAC lateMAC only from lateAt on.
type lateFake struct {
	*fakeSys
	lateMAC string
	lateAt  time.Time
}

func (l *lateFake) Net() Network { return l }
func (l *lateFake) Links() ([]Link, error) {
	var out []Link
	for _, x := range l.links {
		if x.MAC != l.lateMAC || !l.now.Before(l.lateAt) {
			out = append(out, x)
		}
	}
	return out, nil
}

const nfsLine = "root=/dev/nfs nfsroot=10.0.0.2:/srv/nfsroot/sidus aufs=tmpfs "

func TestBootIfName(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		up         bool          // the NICs are up before the init
		late       time.Duration // eth1 appears after that
		fail       map[string]error
		order      []string // calls, in this order
		not        []string // call prefixes that must not be there
		log        []string
		fatal      string // the boot's error
	}{
		{name: "ip= on the new name", line: "ip=boot0:dhcp ifname=boot0:52:54:00:77:00:11",
			order: []string{"rename eth1 boot0", "up boot0", "dhcp boot0", "configure boot0", "write /run/net-boot0.conf", "switch_root"},
			not:   []string{"down eth1", "up eth1", "dhcp eth0"},
			log:   []string{"ifname=boot0:52:54:00:77:00:11: renamed eth1 to boot0", "boot NIC boot0 (ip= device)"}},
		{name: "late NIC", line: "ip=boot0:dhcp ifname=boot0:52:54:00:77:00:11", late: 3 * time.Second,
			order: []string{"rename eth1 boot0", "dhcp boot0"},
			log:   []string{"waiting for ip= device boot0", "renamed eth1 to boot0", "boot NIC boot0 (ip= device)"}},
		{name: "up NIC is set down first", line: "ip=boot0:dhcp ifname=boot0:52:54:00:77:00:11", up: true,
			order: []string{"down eth1", "rename eth1 boot0", "up boot0", "dhcp boot0"}},
		{name: "BOOTIF and ifname", line: "BOOTIF=01-52-54-00-77-00-11 ifname=pxe0:52:54:00:77:00:11",
			order: []string{"rename eth1 pxe0", "dhcp pxe0"},
			log:   []string{"boot NIC pxe0 (BOOTIF=52:54:00:77:00:11)"}},
		{name: "a rename frees the name another wants", line: "ip=net0:dhcp ifname=eth1:52:54:00:77:00:10 ifname=net0:52:54:00:77:00:11",
			order: []string{"rename eth1 net0", "rename eth0 eth1", "dhcp net0"}},
		{name: "bond slaves by their new names", line: "bond=bond0:net0,net1:mode=active-backup ip=bond0:dhcp ifname=net0:52:54:00:77:00:10 ifname=net1:52:54:00:77:00:11",
			order: []string{"rename eth0 net0", "rename eth1 net1", "bond bond0 slaves=net0,net1", "dhcp bond0", "switch_root"}},
		{name: "name taken", line: "ifname=eth0:52:54:00:77:00:11",
			order: []string{"dhcp eth0", "switch_root"}, not: []string{"rename"},
			log: []string{"warning: ifname=eth0:52:54:00:77:00:11: cannot rename eth1 to eth0: the NIC with MAC 52:54:00:77:00:10 has that name"}},
		{name: "swap", line: "ifname=eth0:52:54:00:77:00:11 ifname=eth1:52:54:00:77:00:10",
			order: []string{"dhcp eth0", "switch_root"}, not: []string{"rename"},
			log: []string{"warning: ifname=eth0:52:54:00:77:00:11: cannot rename eth1 to eth0: another ifname= NIC has that name",
				"warning: ifname=eth1:52:54:00:77:00:10: cannot rename eth0 to eth1"}},
		{name: "rename fails, the boot goes on", line: "ifname=data0:52:54:00:77:00:11", fail: map[string]error{"rename eth1": errors.New("device or resource busy")},
			order: []string{"rename eth1 data0", "dhcp eth0", "switch_root"},
			log:   []string{"warning: ifname=data0:52:54:00:77:00:11: rename eth1 to data0: device or resource busy; check"}},
		{name: "absent MAC", line: "ifname=data0:52:54:00:77:00:99", order: []string{"dhcp eth0", "switch_root"}, not: []string{"rename"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.links = twoNICs()
			f.links[0].Up, f.links[1].Up = tc.up, tc.up
			f.netFail = tc.fail
			var sys interface {
				System
				Handover
			} = f
			if tc.late > 0 {
				sys = &lateFake{fakeSys: f, lateMAC: "52:54:00:77:00:11", lateAt: f.now.Add(tc.late)}
			}
			cfg, err := cmdline.Parse(nfsLine+tc.line, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var log strings.Builder
			_, err = Boot(t.Context(), cfg, sys, sys, NewLogger(&log, nil, f.Now), Options{})
			want := "exec stopped by test"
			if tc.fatal != "" {
				want = tc.fatal
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Boot: %v, want %q\n%s", err, want, log.String())
			}
			calls := strings.Join(f.calls, "\n")
			if tc.fatal == "" {
				if o := inOrder(f.calls, tc.order); o != "" {
					t.Errorf("missing %q in order %q:\n%s", o, tc.order, calls)
				}
			}
			checkCallsAndLog(t, f.calls, tc.not, log.String(), tc.log)
		})
	}
}

// The boot NIC gets its ip= MAC while it is down, before DHCP, and its
// MTU once it is up, before DHCP; a refusal is a warning.
func TestBootIPMTUAndMAC(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		fail       map[string]error
		bond       bool
		order, not []string
		log        []string
	}{
		{name: "MAC and MTU", line: "ip=eth0:dhcp:1400:52:54:00:aa:bb:cc",
			order: []string{"up eth0", "down eth0", "mac eth0 52:54:00:aa:bb:cc", "up eth0", "mtu eth0 1400", "dhcp eth0", "switch_root"},
			log:   []string{"boot NIC eth0: mac 52:54:00:aa:bb:cc, mtu 1400 (ip=eth0:dhcp:1400:52:54:00:aa:bb:cc)"}},
		{name: "MTU alone", line: "ip=eth0:dhcp:9000", order: []string{"mtu eth0 9000", "dhcp eth0"}, not: []string{"down", "mac"},
			log: []string{"boot NIC eth0: mtu 9000 (ip=eth0:dhcp:9000)"}},
		{name: "MAC alone, no ip= device", line: "ip=::::::dhcp::52:54:00:aa:bb:cc", order: []string{"down eth0", "mac eth0 52:54:00:aa:bb:cc", "up eth0", "dhcp eth0"}, not: []string{"mtu"}},
		{name: "static", line: "ip=10.0.0.9::10.0.0.1:255.255.255.0::eth0:none:1500",
			order: []string{"mtu eth0 1500", "configure eth0 10.0.0.9 gw 10.0.0.1"}, not: []string{"dhcp"}},
		{name: "MTU refused", line: "ip=eth0:dhcp:1400", fail: map[string]error{"mtu eth0": errors.New("invalid argument")},
			order: []string{"mtu eth0 1400", "dhcp eth0", "switch_root"},
			log:   []string{"warning: ip=eth0:dhcp:1400: set MTU of eth0 to 1400: invalid argument; check the NIC supports it"}},
		{name: "MAC refused", line: "ip=eth0:dhcp::52:54:00:aa:bb:cc", fail: map[string]error{"mac eth0": errors.New("operation not supported")},
			order: []string{"mac eth0", "up eth0", "dhcp eth0", "switch_root"},
			log:   []string{"warning: ip=eth0:dhcp::52:54:00:aa:bb:cc: set MAC of eth0 to 52:54:00:aa:bb:cc: operation not supported; check the NIC driver"}},
		{name: "on the bond", line: "bond=bond0:eth0,eth1 ip=bond0:dhcp:9000", bond: true,
			order: []string{"bond bond0", "mtu bond0 9000", "dhcp bond0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			if tc.bond {
				f.links = twoNICs()
			}
			f.netFail = tc.fail
			var log strings.Builder
			_, err := bootWith(t, f, nfsLine+tc.line, &log, Options{})
			if err == nil || !strings.Contains(err.Error(), "exec stopped by test") {
				t.Fatalf("Boot: %v\n%s", err, log.String())
			}
			calls := strings.Join(f.calls, "\n")
			if o := inOrder(f.calls, tc.order); o != "" {
				t.Errorf("missing %q in order %q:\n%s", o, tc.order, calls)
			}
			checkCallsAndLog(t, f.calls, tc.not, log.String(), tc.log)
		})
	}
}

// The interfaces of the other ip= are configured after the boot NIC,
// never take its default route unless their ip= gives a gateway, and
// never stop the boot.
func TestBootExtraInterfaces(t *testing.T) {
	eth1Lease := &Lease{Config: netconf.Config{Device: "eth1", IP: net.IPv4(10, 1, 0, 7).To4(), Netmask: net.CIDRMask(24, 32),
		Gateway: net.IPv4(10, 1, 0, 254).To4(), Hostname: "other", ServerID: net.IPv4(10, 1, 0, 1).To4(), LeaseTime: time.Hour}, Proto: "dhcp"}
	for _, tc := range []struct {
		name, line string
		fail       map[string]error
		bond       bool
		order      []string // calls in order (prefixes)
		exact      []string // calls as such
		not        []string
		conf       []string // in /run/net-eth1.conf
		log        []string
		report     []string // in boot.json
	}{
		{name: "static, no gateway", line: "ip=eth0:dhcp ip=192.168.2.10:::255.255.255.0::eth1:none",
			order:  []string{"configure eth0 10.0.0.5", "write /run/net-eth0.conf", "up eth1", "configure eth1 192.168.2.10", "write /run/net-eth1.conf", "mount 10.0.0.2:", "switch_root"},
			exact:  []string{"configure eth1 192.168.2.10"},
			not:    []string{"dhcp eth1"},
			conf:   []string{"DEVICE='eth1'", "PROTO='none'", "IPV4ADDR='192.168.2.10'"},
			log:    []string{"extra interface eth1 (ip=192.168.2.10:::255.255.255.0::eth1:none): static 192.168.2.10/24, no gateway; /run/net-eth1.conf written"},
			report: []string{`"extra_interfaces"`, `"device": "eth1"`, `"mode": "static"`, `"default_route": false`, `"/run/net-eth1.conf"`}},
		{name: "static with a gateway: the admin's default route", line: "ip=eth0:dhcp ip=192.168.2.10::192.168.2.1:24::eth1:none",
			exact: []string{"configure eth1 192.168.2.10 gw 192.168.2.1"},
			log:   []string{"static 192.168.2.10/24, default route via 192.168.2.1 (this ip='s gateway)"}},
		{name: "dhcp", line: "ip=eth0:dhcp ip=eth1:dhcp",
			order:  []string{"dhcp eth0", "configure eth0", "dhcp eth1", "configure eth1 10.1.0.7", "write /run/net-eth1.conf", "switch_root"},
			exact:  []string{"configure eth1 10.1.0.7"}, // no gw, no hostname
			conf:   []string{"DEVICE='eth1'", "PROTO='dhcp'", "IPV4ADDR='10.1.0.7'", "IPV4GATEWAY='10.1.0.254'"},
			log:    []string{"extra interface eth1 (ip=eth1:dhcp): DHCP 10.1.0.7/24 from 10.1.0.1, router 10.1.0.254 not made the default route; lease 1h0m0s not renewed by the node agent (the root's network manager takes it over); /run/net-eth1.conf written"},
			report: []string{`"mode": "dhcp"`, `"ip": "10.1.0.7"`}},
		{name: "dhcp with MTU and MAC", line: "ip=eth0:dhcp ip=eth1:dhcp:9000:52:54:00:aa:bb:cc",
			order:  []string{"dhcp eth0", "down eth1", "mac eth1 52:54:00:aa:bb:cc", "up eth1", "mtu eth1 9000", "dhcp eth1"},
			log:    []string{"not renewed by the node agent (the root's network manager takes it over); mac 52:54:00:aa:bb:cc; mtu 9000; /run/net-eth1.conf written"},
			report: []string{`"mtu": 9000`, `"mac": "52:54:00:aa:bb:cc"`}},
		{name: "off", line: "ip=eth0:dhcp ip=eth1:off",
			order: []string{"configure eth0", "up eth1", "switch_root"}, not: []string{"dhcp eth1", "configure eth1", "write /run/net-eth1.conf"},
			log: []string{"extra interface eth1 (ip=eth1:off): up, no address (ip=off)"}},
		{name: "boot NIC off, extra still done", line: "ip=eth0:off ip=eth1:dhcp",
			order: []string{"dhcp eth1", "configure eth1"}, not: []string{"dhcp eth0"}},
		{name: "dhcp fails once: a warning, no retry", line: "ip=eth0:dhcp ip=eth1:dhcp", fail: map[string]error{"dhcp eth1": errors.New("no DHCP offer")},
			order: []string{"dhcp eth1", "mount 10.0.0.2:", "switch_root"}, not: []string{"configure eth1", "write /run/net-eth1.conf"},
			log: []string{"warning: ip=eth1:dhcp: eth1: DHCP: no DHCP offer (one attempt of 10s; is a DHCP server on that segment?); the boot goes on without eth1"}},
		{name: "configure fails", line: "ip=eth0:dhcp ip=192.168.2.10:::24::eth1:none", fail: map[string]error{"configure eth1": errors.New("file exists")},
			order: []string{"configure eth1", "switch_root"},
			log:   []string{"warning: ip=192.168.2.10:::255.255.255.0::eth1:none: eth1: configure 192.168.2.10/24: file exists; the boot goes on without eth1"}},
		{name: "absent device", line: "ip=eth0:dhcp ip=eth7:dhcp",
			order: []string{"switch_root"}, not: []string{"dhcp eth7", "up eth7"},
			log: []string{"warning: ip=eth7:dhcp: eth7: did not appear after 10s; links seen: [eth0=52:54:00:77:00:10 eth1=52:54:00:77:00:11]"}},
		{name: "renamed extra", line: "ip=eth0:dhcp ip=data0:dhcp ifname=data0:52:54:00:77:00:11",
			order: []string{"rename eth1 data0", "dhcp eth0", "dhcp data0", "write /run/net-data0.conf"}},
		{name: "a bond slave", line: "bond=bond0:eth0,eth1 ip=bond0:dhcp ip=eth1:dhcp", bond: true,
			order: []string{"dhcp bond0", "switch_root"}, not: []string{"dhcp eth1"},
			log: []string{"warning: ip=eth1:dhcp: eth1 is under the boot interface bond0 (bond=/vlan=); it is not configured on its own"}},
		{name: "bootdev= picks the boot NIC among several", line: "ip=eth1:dhcp ip=eth0:dhcp bootdev=eth0",
			order: []string{"dhcp eth0", "configure eth0 10.0.0.5", "dhcp eth1", "configure eth1 10.1.0.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.links = twoNICs()
			f.devLease = map[string]*Lease{"eth1": eth1Lease, "data0": eth1Lease}
			f.netFail = tc.fail
			if tc.bond {
				f.lease.Device = "bond0"
			}
			var log strings.Builder
			_, err := bootWith(t, f, nfsLine+tc.line, &log, Options{})
			if err == nil || !strings.Contains(err.Error(), "exec stopped by test") {
				t.Fatalf("Boot: %v, want switch_root reached\n%s", err, log.String())
			}
			calls := strings.Join(f.calls, "\n")
			if o := inOrder(f.calls, tc.order); o != "" {
				t.Errorf("missing %q in order %q:\n%s", o, tc.order, calls)
			}
			for _, c := range tc.exact {
				if !exactly(f.calls, c) {
					t.Errorf("no call %q:\n%s", c, calls)
				}
			}
			for _, c := range tc.not {
				if has(f.calls, c) >= 0 {
					t.Errorf("unwanted %q:\n%s", c, calls)
				}
			}
			for _, c := range tc.conf {
				if !strings.Contains(f.files["/run/net-eth1.conf"], c) {
					t.Errorf("/run/net-eth1.conf lacks %s:\n%s", c, f.files["/run/net-eth1.conf"])
				}
			}
			for _, l := range tc.log {
				if !strings.Contains(log.String(), l) {
					t.Errorf("log lacks %q:\n%s", l, log.String())
				}
			}
			for _, r := range tc.report {
				if !strings.Contains(f.files[ReportPath], r) {
					t.Errorf("boot.json lacks %s:\n%s", r, f.files[ReportPath])
				}
			}
			if c := f.files["/run/net-eth0.conf"]; !tc.bond && !strings.Contains(tc.line, "eth0:off") && !strings.Contains(c, "IPV4ADDR='10.0.0.5'") {
				t.Errorf("/run/net-eth0.conf:\n%s", c)
			}
			if strings.Contains(log.String(), "not acted on") {
				t.Errorf("log:\n%s", log.String())
			}
		})
	}
}

func TestNotYetQuietForNetworkForms(t *testing.T) {
	for _, line := range []string{
		"ifname=boot0:52:54:00:77:00:11",
		"ip=eth0:dhcp:1400",
		"ip=eth0:dhcp::52:54:00:aa:bb:cc",
		"ip=eth0:dhcp ip=eth1:dhcp",
		"ip=eth0:dhcp ip=192.168.2.10:::24::eth1:none",
	} {
		if w := notYet(parse(t, line)); len(w) != 0 {
			t.Errorf("%s: notYet = %q", line, w)
		}
	}
}

func TestIPParam(t *testing.T) {
	for line, want := range map[string]string{
		"ip=eth1:dhcp":                              "ip=eth1:dhcp",
		"ip=eth1:dhcp:9000":                         "ip=eth1:dhcp:9000",
		"ip=eth1:on::52:54:00:aa:bb:cc":             "ip=eth1:dhcp::52:54:00:aa:bb:cc",
		"ip=eth1:none":                              "ip=eth1:off",
		"ip=10.0.0.9::10.0.0.1:24:n1:eth1:off:1500": "ip=10.0.0.9::10.0.0.1:255.255.255.0:n1:eth1:none:1500",
	} {
		c := parse(t, line)
		if got := ipParam(c.IPs[0], "eth0"); got != want {
			t.Errorf("%s: ipParam = %q, want %q", line, got, want)
		}
		if _, err := cmdline.Parse(want, nil, nil); err != nil {
			t.Errorf("%s: %q does not parse: %v", line, want, err)
		}
	}
	if got := ipParam(parse(t, "ip=dhcp").IP, "eth0"); got != "ip=eth0:dhcp" {
		t.Errorf("ip=dhcp on eth0: %q", got)
	}
}

// checkCallsAndLog fails t for each call of not that the boot made, each
// line of logs its log lacks, and a "not acted on" warning.
func checkCallsAndLog(t *testing.T, calls, not []string, log string, logs []string) {
	t.Helper()
	for _, c := range not {
		if has(calls, c) >= 0 {
			t.Errorf("unwanted %q:\n%s", c, strings.Join(calls, "\n"))
		}
	}
	for _, l := range logs {
		if !strings.Contains(log, l) {
			t.Errorf("log lacks %q:\n%s", l, log)
		}
	}
	if strings.Contains(log, "not acted on") {
		t.Errorf("log:\n%s", log)
	}
}
