package cmdline

import (
	"errors"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/iscsi"
)

// defaults is what Parse returns for an empty command line.
func clDefaults() *Config {
	return &Config{
		IP:    IPConfig{Mode: IPDHCP},
		Upper: UpperTmpfs,
		Lower: LowerNFS,
		ISCSI: map[string]string{},
		Sidus: map[string]string{},
	}
}

func clIP4(s string) net.IP { return net.ParseIP(s).To4() }

func clMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestParse(t *testing.T) {
	seedNFS := func(c *Config) {
		c.NFSOptions = []string{"rsize=8192", "wsize=8192", "proto=tcp"}
		c.IPs = []IPConfig{{Mode: IPDHCP}}
	}
	// oneIP records the only ip= of a line: it is also the boot NIC's.
	oneIP := func(c *Config, ipc IPConfig) { c.IP, c.IPs = ipc, []IPConfig{ipc} }
	for _, tt := range []struct {
		name    string
		cmdline string
		env     []string
		want    func(c *Config)
	}{
		{"empty", "", nil, func(c *Config) {}},
		{"seed tmpfs", SeedTmpfs, nil, seedNFS},
		{"seed iscsi", SeedISCSI, nil, func(c *Config) {
			seedNFS(c)
			c.Upper = UpperISCSI
			c.RWLabel = "ISCSI"
			c.ISCSI = map[string]string{iscsi.KeyTargetIP: "", iscsi.KeyInitiator: "iqn.2013-04.zone.sidus.target:default"}
		}},
		{"seed tmpfs serial console", SeedTmpfs + " console=ttyS0,115200n8", nil, func(c *Config) {
			seedNFS(c)
		}},
		{"proc cmdline newline and tabs", "\troot=/dev/nfs\t aufs=tmpfs:2G\n", nil, func(c *Config) {
			c.TmpfsSize = "2G"
		}},
		{"nfsroot server and path", "nfsroot=192.168.1.1:/srv/nfsroot/sidus,vers=4.1,udp,timeo=600,sec=sys", nil, func(c *Config) {
			c.NFSServers, c.NFSServer, c.NFSPath, c.NFSVersion = []string{"192.168.1.1"}, "192.168.1.1", "/srv/nfsroot/sidus", "4.1"
			c.NFSOptions = []string{"proto=udp", "timeo=600", "sec=sys"}
		}},
		{"nfsroot hostname, nfsvers", "nfsroot=nfs-1.example.org:/srv/%s,nfsvers=3", nil, func(c *Config) {
			c.NFSServers, c.NFSServer, c.NFSPath, c.NFSVersion = []string{"nfs-1.example.org"}, "nfs-1.example.org", "/srv/%s", "3"
		}},
		{"nfsroot path only, empty options skipped", "nfsroot=/srv/x,,rsize=4096,", nil, func(c *Config) {
			c.NFSPath = "/srv/x"
			c.NFSOptions = []string{"rsize=4096"}
		}},
		{"nfsroot server only", "nfsroot=10.1.1.1:", nil, func(c *Config) {
			c.NFSServers, c.NFSServer = []string{"10.1.1.1"}, "10.1.1.1"
		}},
		{"nfsroot last wins", "nfsroot=1.1.1.1:/a,tcp nfsroot=/b", nil, func(c *Config) {
			c.NFSPath = "/b"
		}},
		{"nfsrootdelay", "nfsrootdelay=30", nil, func(c *Config) { c.RootDelay = 30 * time.Second }},
		{"rootdelay", "rootdelay=0 rootdelay=5", nil, func(c *Config) { c.RootDelay = 5 * time.Second }},
		{"repeated root", "root=/dev/nfs root=LABEL=ISCSI root=/dev/sda1 root=UUID=1234 root=LABEL=RW2", nil, func(c *Config) {
			c.RWLabel = "RW2"
			c.RootOther = []string{"/dev/sda1", "UUID=1234"}
		}},
		{"ip keywords both and bootp", "ip=both", nil, func(c *Config) {
			oneIP(c, IPConfig{Mode: IPDHCP})
			c.Warnings = []string{"ip=both: BOOTP and RARP are not supported; DHCP is used"}
		}},
		{"ip bootp", "ip=off ip=bootp", nil, func(c *Config) {
			oneIP(c, IPConfig{Mode: IPDHCP})
			c.Warnings = []string{"ip=bootp: BOOTP is not supported; DHCP is used (a DHCP server answers, a BOOTP-only server may not)"}
		}},
		{"ip off", "ip=off", nil, func(c *Config) { oneIP(c, IPConfig{Mode: IPOff}) }},
		{"ip none", "ip=none", nil, func(c *Config) { oneIP(c, IPConfig{Mode: IPOff}) }},
		{"ip static full", "ip=192.168.1.50:192.168.1.1:192.168.1.254:255.255.255.0:node50:eth0:off:192.168.1.1:8.8.8.8:192.168.1.3", nil, func(c *Config) {
			oneIP(c, IPConfig{Mode: IPStatic, Client: clIP4("192.168.1.50"), Server: clIP4("192.168.1.1"), Gateway: clIP4("192.168.1.254"),
				Netmask: net.CIDRMask(24, 32), Hostname: "node50", Device: "eth0",
				DNS: []net.IP{clIP4("192.168.1.1"), clIP4("8.8.8.8")}})
		}},
		{"ip static prefix, trailing fields omitted", "ip=10.0.0.9::10.0.0.254:16", nil, func(c *Config) {
			oneIP(c, IPConfig{Mode: IPStatic, Client: clIP4("10.0.0.9"), Gateway: clIP4("10.0.0.254"), Netmask: net.CIDRMask(16, 32)})
		}},
		{"ip client only", "ip=10.0.0.9", nil, func(c *Config) {
			oneIP(c, IPConfig{Mode: IPStatic, Client: clIP4("10.0.0.9")})
		}},
		{"ip static none", "ip=10.0.0.9:::::eth2:none", nil, func(c *Config) {
			oneIP(c, IPConfig{Mode: IPStatic, Client: clIP4("10.0.0.9"), Device: "eth2"})
		}},
		{"ip device dhcp", "ip=:::::eth1:dhcp", nil, func(c *Config) { oneIP(c, IPConfig{Mode: IPDHCP, Device: "eth1"}) }},
		{"ip device any with hostname", "ip=::::n1:eno1:any", nil, func(c *Config) {
			oneIP(c, IPConfig{Mode: IPDHCP, Device: "eno1", Hostname: "n1"})
		}},
		{"ip device, no autoconf, no address", "ip=:::::eth1", nil, func(c *Config) { oneIP(c, IPConfig{Mode: IPDHCP, Device: "eth1"}) }},
		{"ip device off", "ip=:::::eth1:off", nil, func(c *Config) { oneIP(c, IPConfig{Mode: IPOff, Device: "eth1"}) }},
		{"ip dns1 only", "ip=10.0.0.9::::::off::9.9.9.9", nil, func(c *Config) {
			oneIP(c, IPConfig{Mode: IPStatic, Client: clIP4("10.0.0.9"), DNS: []net.IP{clIP4("9.9.9.9")}})
		}},
		{"BOOTIF pxelinux", "BOOTIF=01-AA-bb-cc-dd-ee-ff", nil, func(c *Config) { c.BootIF = clMAC("aa:bb:cc:dd:ee:ff") }},
		{"BOOTIF no type", "BOOTIF=aa-bb-cc-dd-ee-ff", nil, func(c *Config) { c.BootIF = clMAC("aa:bb:cc:dd:ee:ff") }},
		{"BOOTIF colons", "BOOTIF=52:54:00:12:34:56", nil, func(c *Config) { c.BootIF = clMAC("52:54:00:12:34:56") }},
		{"BOOTIF 01 colons", "BOOTIF=01:52:54:00:12:34:56", nil, func(c *Config) { c.BootIF = clMAC("52:54:00:12:34:56") }},
		{"aufs tmpfs sizes", "aufs=tmpfs:512m", nil, func(c *Config) { c.TmpfsSize = "512m" }},
		{"aufs percent", "aufs=tmpfs:50%", nil, func(c *Config) { c.TmpfsSize = "50%" }},
		{"aufs last wins resets size", "aufs=tmpfs:1G aufs=iscsi", nil, func(c *Config) { c.Upper = UpperISCSI }},
		{"init, panic, break, rw", "init=/bin/sh panic=-1 break rw", nil, func(c *Config) {
			c.Init, c.Break, c.Breaks = "/bin/sh", StagePremount, []string{StagePremount}
		}},
		{"panic 0, ro after rw", "panic=0 rw ro", nil, func(c *Config) {}},
		{"break stages", "break=nfs", nil, func(c *Config) { c.Break, c.Breaks = StageNFS, []string{StageNFS} }},
		{"break bottom alias", "break=bottom", nil, func(c *Config) { c.Break, c.Breaks = StagePremount, []string{StagePremount} }},
		{"break init", "break=init", nil, func(c *Config) { c.Break, c.Breaks = StageInit, []string{StageInit} }},
		{"break empty", "break=", nil, func(c *Config) { c.Break, c.Breaks = StagePremount, []string{StagePremount} }},
		{"break list and rd.break, boot order", "break=union,nfs rd.break=pre-udev break=init", nil, func(c *Config) {
			c.Break, c.Breaks = StageModules, []string{StageModules, StageNFS, StageUnion, StageInit}
		}},
		{"quoted value", `console=ttyS0 init="/sbin/my init" ISCSI_INITIATOR="iqn.x:a b"`, nil, func(c *Config) {
			c.Init = "/sbin/my init"
			c.ISCSI[iscsi.KeyInitiator] = "iqn.x:a b"
		}},
		{"wholly quoted word", `"nfsroot=10.0.0.1:/srv/my root,vers=3" "aufs=iscsi"`, nil, func(c *Config) {
			c.NFSServers, c.NFSServer, c.NFSPath, c.NFSVersion = []string{"10.0.0.1"}, "10.0.0.1", "/srv/my root", "3"
			c.Upper = UpperISCSI
		}},
		{"words after -- are init's", `root=/dev/nfs -- single "a b" x="c d" aufs=bogus --`, nil, func(c *Config) {}},
		{"ignored", `initrd=initrd.img-Sidus BOOT_IMAGE=/vmlinuz quiet splash foo="bar baz" ro=1 =x`, nil, func(c *Config) {}},
		{"env iscsi, cmdline wins", "ISCSI_TARGET_IP=10.0.0.2 iscsi_target_port=3261",
			[]string{"PATH=/bin", "ISCSI_TARGET_IP=10.0.0.9", "ISCSI_TARGET_IP=10.0.0.10", "ISCSI_USERNAME=bob", "iscsi_password=s3cret", "ISCSI_TARGET_GROUP=", "junk"},
			func(c *Config) {
				c.ISCSI = map[string]string{iscsi.KeyTargetIP: "10.0.0.2", iscsi.KeyTargetPort: "3261", iscsi.KeyUsername: "bob", iscsi.KeyPassword: "s3cret", iscsi.KeyTargetGroup: ""}
			}},
		{"dracut rd.iscsi", "rd.iscsi.initiator=iqn.a rd.iscsi.target.name=iqn.t rd.iscsi.target.ip=1.2.3.4 rd.iscsi.target.port=3260 rd.iscsi.target.group=1 rd.iscsi.username=u rd.iscsi.password=p rd.iscsi.in.username=iu rd.iscsi.in.password=ip", nil, func(c *Config) {
			c.ISCSI = map[string]string{iscsi.KeyInitiator: "iqn.a", iscsi.KeyTargetName: "iqn.t", iscsi.KeyTargetIP: "1.2.3.4", iscsi.KeyTargetPort: "3260",
				iscsi.KeyTargetGroup: "1", iscsi.KeyUsername: "u", iscsi.KeyPassword: "p", iscsi.KeyInUsername: "iu", iscsi.KeyInPassword: "ip"}
		}},
		{"bare ISCSI key is an init word", "ISCSI_TARGET_IP", nil, func(c *Config) {}},
		{"netroot iscsi", "aufs=iscsi netroot=iscsi:192.168.1.2::3260:0:iqn.2013-04.zone.sidus.target:default", nil, func(c *Config) {
			c.Upper = UpperISCSI
			c.ISCSI = map[string]string{iscsi.KeyTargetIP: "192.168.1.2", iscsi.KeyTargetPort: "3260", iscsi.KeyLUN: "0", iscsi.KeyTargetName: "iqn.2013-04.zone.sidus.target:default"}
			c.ISCSITargets = []map[string]string{maps.Clone(c.ISCSI)}
		}},
		{"netroot iscsi with credentials, empty ip", "netroot=iscsi:u:p:iu:ip@:6:::iqn.t aufs=iscsi", nil, func(c *Config) {
			c.Upper = UpperISCSI
			c.ISCSI = map[string]string{iscsi.KeyTargetIP: "", iscsi.KeyTargetName: "iqn.t", iscsi.KeyUsername: "u", iscsi.KeyPassword: "p", iscsi.KeyInUsername: "iu", iscsi.KeyInPassword: "ip"}
			c.ISCSITargets = []map[string]string{maps.Clone(c.ISCSI)}
		}},
		{"netroot ipv6, tmpfs warned", "netroot=iscsi:[fe80::1]::::iqn.t", nil, func(c *Config) {
			c.ISCSI = map[string]string{iscsi.KeyTargetIP: "fe80::1", iscsi.KeyTargetName: "iqn.t"}
			c.ISCSITargets = []map[string]string{maps.Clone(c.ISCSI)}
			c.Warnings = []string{"netroot=iscsi:[fe80::1]::::iqn.t: an iSCSI target is configured but the writable layer is tmpfs (by default); add aufs=iscsi to keep the node's changes on it"}
		}},
		{"two netroot targets: the first is ISCSI, rd.iscsi.* overrides it", "aufs=iscsi netroot=iscsi:10.0.0.1::::iqn.a netroot=iscsi:10.0.0.2::::iqn.b rd.iscsi.target.port=3261", nil, func(c *Config) {
			c.Upper = UpperISCSI
			c.ISCSI = map[string]string{iscsi.KeyTargetIP: "10.0.0.1", iscsi.KeyTargetName: "iqn.a", iscsi.KeyTargetPort: "3261"}
			c.ISCSITargets = []map[string]string{
				{iscsi.KeyTargetIP: "10.0.0.1", iscsi.KeyTargetName: "iqn.a"},
				{iscsi.KeyTargetIP: "10.0.0.2", iscsi.KeyTargetName: "iqn.b"}}
		}},
		{"netroot nfs ignored", "netroot=nfs:1.2.3.4:/x", nil, func(c *Config) {}},
		{"sidus options", "sidus.format=never sidus.iscsi.fallback=wait sidus.hostname=off sidus.resolv=on sidus.fstab=off sidus.netprotect=on", nil, func(c *Config) {
			c.Sidus = map[string]string{"format": "never", "iscsi.fallback": "wait", "hostname": "off", "resolv": "on", "fstab": "off", "netprotect": "on"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.cmdline, nil, tt.env)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.cmdline, err)
			}
			want := clDefaults()
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q) =\n %+v\nwant\n %+v", tt.cmdline, *got, *want)
			}
			checkRoundTrip(t, tt.cmdline, got)
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		cmdline string
		env     []string
		param   string // ParamError.Param
		want    string // substring of the message
	}{
		{"aufs=bogus", nil, "aufs", "aufs=bogus: expected aufs=tmpfs, aufs=tmpfs:SIZE (e.g. 2G or 50%) or aufs=iscsi"},
		{"aufs=", nil, "aufs", "aufs: expected aufs=tmpfs"},
		{"aufs=tmpfs:", nil, "aufs", "size"},
		{"aufs=tmpfs:2T", nil, "aufs", `size "2T"`},
		{"aufs=tmpfs:-1", nil, "aufs", `size "-1"`},
		{"ip=1.2.3", nil, "ip", `ip=1.2.3: client address "1.2.3" is not an IPv4 address; expected ip=dhcp|on|any|off|none|<device>:dhcp`},
		{"ip=10.0.0.1:10.0.0.300", nil, "ip", `server address "10.0.0.300"`},
		{"ip=10.0.0.1::gw", nil, "ip", `gateway address "gw"`},
		{"ip=10.0.0.1:::255.0.255.0", nil, "ip", `netmask "255.0.255.0"`},
		{"ip=10.0.0.1:::33", nil, "ip", `netmask "33"`},
		{"ip=10.0.0.1:::x", nil, "ip", `netmask "x"`},
		{"ip=10.0.0.1::::" + strings.Repeat("h", 65), nil, "ip", "hostname"},
		{"ip=10.0.0.1:::::a/b", nil, "ip", `device "a/b"`},
		{"ip=10.0.0.1:::::" + strings.Repeat("e", 16), nil, "ip", "device"},
		{"ip=10.0.0.1::::::bogus", nil, "ip", `autoconf "bogus"`},
		{"nfsaddrs=10.0.0.1::::::bogus", nil, "nfsaddrs", `nfsaddrs=10.0.0.1::::::bogus: autoconf "bogus"`},
		{"ip=10.0.0.1:::::::x", nil, "ip", `dns0 address "x"`},
		{"ip=10.0.0.1::::::::x", nil, "ip", `dns1 address "x"`},
		{"ip=10.0.0.1:::::::::x", nil, "ip", `ntp0 address "x"`},
		{"ip=1.1.1.1::::::off:1.1.1.1:1.1.1.1:1.1.1.1:2.2.2.2", nil, "ip", "11 fields"},
		{"ip=1:2:3:4:5:6:7:8:9:10:11:12:13:14:15", nil, "ip", "15 fields"},
		{"ip=[2001:db8::1]::[2001:db8::fe]:64::eth0:none", nil, "ip", "IPv6 addresses are not supported"},
		{"ip=eth0:dhcp:9000000", nil, "ip", `MTU "9000000"`},
		{"ip=eth0:dhcp:1500:01:00:5e:00:00:01", nil, "ip", "multicast"},
		{"ip=eth0:dhcp::52:54:00", nil, "ip", "MAC address"},
		{"ip=eth0:dhcp:1.2.3.4", nil, "ip", "expected [<mtu>][:<macaddr>]"},
		{"ip=dhcp,1", nil, "ip", "client identifier"},
		{"ip=10.0.0.1:10.0.0.2/33::24::eth0:none", nil, "ip", "prefix length"},
		{"ip=::1", nil, "ip", "not an IPv4 address"},
		{"ip=dhcp7", nil, "ip", "ip=dhcp7"},
		{"nfsroot=myserver", nil, "nfsroot", `"myserver" is neither server: nor an absolute path`},
		{"nfsroot=srv:relative", nil, "nfsroot", `path "relative" is not absolute`},
		{"nfsroot=1.2.3:/x", nil, "nfsroot", `server "1.2.3" is not an IPv4 address`},
		{"nfsroot=bad_host:/x", nil, "nfsroot", `server "bad_host" is neither`},
		{"nfsroot=,rsize=8192,wsize=big", nil, "nfsroot", `option "wsize=big": wsize needs a positive integer; expected wsize=<positive integer>`},
		{"nfsroot=,rsize=0", nil, "nfsroot", `option "rsize=0"`},
		{"nfsroot=,timeo", nil, "nfsroot", `option "timeo"`},
		{"nfsroot=,port=-1", nil, "nfsroot", `option "port=-1"`},
		{"nfsroot=,=x", nil, "nfsroot", `option "=x"`},
		{"nfsroot=,vers=2", nil, "nfsroot", "NFSv2 is not supported"},
		{"nfsroot=,nfsvers=5", nil, "nfsroot", "nfsvers=3|4|4.0|4.1|4.2"},
		{"nfsroot=,tcp=1", nil, "nfsroot", `option "tcp=1"`},
		{"rootdelay=x", nil, "rootdelay", "rootdelay=x: expected rootdelay=<seconds>"},
		{"rootdelay=-1", nil, "rootdelay", "non-negative"},
		{"nfsrootdelay=1.5", nil, "nfsrootdelay", "nfsrootdelay=1.5"},
		{"rootdelay=99999999999", nil, "rootdelay", "rootdelay"},
		{"init=sbin/init", nil, "init", "not an absolute path"},
		{"init", nil, "init", "init: not an absolute path"},
		{"panic=soon", nil, "panic", "panic=soon: expected panic=<seconds>"},
		{"panic=+1", nil, "panic", "panic=+1"},
		{"break=postmount", nil, "break", "break=modules|network|nfs|premount|union|init"},
		{"break=nfs,bogus", nil, "break", `unknown stage "bogus"`},
		{"rd.break=pre-bogus", nil, "rd.break", "unknown stage"},
		{"BOOTIF=01-aa-bb-cc-dd-ee", nil, "BOOTIF", "multicast"},
		{"BOOTIF=01-aa-bb-cc-dd", nil, "BOOTIF", "not an Ethernet MAC address"},
		{"BOOTIF=aa-bb-cc-dd-ee-fg", nil, "BOOTIF", "BOOTIF=aa-bb-cc-dd-ee-fg"},
		{"BOOTIF=aa-bb-cc-dd-ee-fff", nil, "BOOTIF", "BOOTIF"},
		{"root=LABEL=", nil, "root", "empty label"},
		{"sidus.upper=tmpfs", nil, "sidus.upper", "unknown sidus option; expected one of sidus.format=empty|never, sidus.iscsi.fallback=wait|tmpfs|fail, sidus.hostname=on|off"},
		{"sidus.format=always", nil, "sidus.format", "expected sidus.format=empty|never"},
		{"sidus.netprotect", nil, "sidus.netprotect", "sidus.netprotect=on|off"},
		{"sidus.iscsi.fallback=", nil, "sidus.iscsi.fallback", "wait|tmpfs|fail"},
		{"netroot=iscsi:1.2.3.4::3260:a:b:c:0:iqn.t:x", nil, "netroot", "fields before the target name"},
		{"netroot=iscsi:1.2.3:::0:iqn.t", nil, "netroot", `server "1.2.3"`},
		{"netroot=iscsi:[10.0.0.1]:::0:iqn.t", nil, "netroot", "not an IPv6 address"},
		{"netroot=iscsi::a:b:c:d@1.2.3.4::3260:0:iqn.t", nil, "netroot", "credentials"},
		{"root=iscsi:1.2.3.4::99999::iqn.t", nil, "root", `port "99999"`},
		{"netroot=iscsi:1.2.3.4", nil, "netroot", "too few fields"},
		{"netroot=iscsi:1.2.3.4::3260:0", nil, "netroot", "too few fields"},
		{"netroot=iscsi:1.2.3.4::99999:0:iqn.t", nil, "netroot", `port "99999"`},
		{"netroot=iscsi:1.2.3.4::3260:x:iqn.t", nil, "netroot", `LUN "x"`},
		{"netroot=iscsi:1.2.3.4::3260:0:", nil, "netroot", "empty target name"},
		{"netroot=iscsi:[fe80::1::::iqn.t", nil, "netroot", "unterminated [address]"},
		{"netroot=iscsi:user@1.2.3.4::3260:0:iqn.t", nil, "netroot", "netroot=iscsi:***@1.2.3.4::3260:0:iqn.t: credentials"},
		{`init="/sbin/init rw aufs=iscsi`, nil, "init", "unterminated double quote"},
		{`console=tty"S0`, nil, "console", "stray"},
		{`ISCSI_PASSWORD=a"b`, nil, "ISCSI_PASSWORD", "ISCSI_PASSWORD=***: stray"},
		{"", []string{`ISCSI_USERNAME=a"b`}, "ISCSI_USERNAME", "from the environment"},
		{`-- a"b`, nil, "--", "init argument"},
	} {
		t.Run(tt.cmdline, func(t *testing.T) {
			c, err := Parse(tt.cmdline, nil, tt.env)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error", tt.cmdline, *c)
			}
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T %v, want *ParamError", tt.cmdline, err, err)
			}
			if pe.Param != tt.param || !strings.HasPrefix(err.Error(), tt.param) {
				t.Errorf("Parse(%q) error %q: Param %q, want %q and the message to start with it", tt.cmdline, err, pe.Param, tt.param)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error %q, want it to contain %q", tt.cmdline, err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q leaks a password", err)
			}
		})
	}
}

// TestParseTestdata parses every testdata/cmdline/*.txt: bad-*.txt must
// fail with a *ParamError, the others must parse.
func TestParseTestdata(t *testing.T) {
	files, err := filepath.Glob("../../testdata/cmdline/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(string(b), nil, nil)
			if strings.HasPrefix(filepath.Base(f), "bad-") {
				var pe *ParamError
				if err == nil || !errors.As(err, &pe) {
					t.Fatalf("Parse = %v, want a *ParamError", err)
				}
				t.Logf("%v", err)
				return
			}
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			checkRoundTrip(t, string(b), c)
		})
	}
}

// testdata/cmdline/sidus-2013-*.txt are the seed lines, one per file with a
// final newline, and every seed line has its file.
func TestParseSeedFiles(t *testing.T) {
	files, err := filepath.Glob("../../testdata/cmdline/sidus-2013-*.txt")
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[string]string{"sidus-2013-tmpfs.txt": SeedTmpfs, "sidus-2013-iscsi.txt": SeedISCSI}
	if len(files) != len(seeds) {
		t.Errorf("files %q, want one per seed line: %d", files, len(seeds))
	}
	for _, f := range files {
		want, ok := seeds[filepath.Base(f)]
		if !ok {
			t.Errorf("%s: not a seed line's file (want %v)", f, slices.Sorted(maps.Keys(seeds)))
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != want+"\n" {
			t.Errorf("%s = %q, want the seed line %q and a newline", f, got, want)
		}
	}
}

func TestParamErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		e    ParamError
		want string
	}{
		{ParamError{Param: "aufs", Value: "x", Expected: "aufs=iscsi"}, "aufs=x: expected aufs=iscsi"},
		{ParamError{Param: "ip", Value: "1", Reason: "bad", Expected: "ip=dhcp"}, "ip=1: bad; expected ip=dhcp"},
		{ParamError{Param: "nfsroot", Reason: "no server"}, "nfsroot: no server"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// Every stage name parses to itself; initramfs's TestBootRunsBreakStages
// checks that Boot runs these stages in this order.
func TestBreakStagesParse(t *testing.T) {
	for _, s := range BreakStages {
		c, err := Parse("break="+s, nil, nil)
		if err != nil || c.Break != s {
			t.Errorf("break=%s: %v, %q", s, err, c.Break)
		}
	}
}

// sidus.test* words belong to the booted root (the e2e test root reads
// them); the init must not reject them as unknown sidus options.
func TestParseIgnoresSidusTestWords(t *testing.T) {
	c, err := Parse("root=/dev/nfs sidus.test=hold sidus.test.report=/proc/cpuinfo,/etc/hostname", nil, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(c.Sidus) != 0 {
		t.Errorf("Sidus = %v, want none recorded", c.Sidus)
	}
}

// InitArgs are what the kernel gave /init, unchanged: the words after "--"
// and, before it, the bare words the kernel did not know (here "single").
// Parse does not read the words after "--" as parameters.
func TestParseInitArgs(t *testing.T) {
	line := `root=/dev/nfs single -- "a b" x="c d" aufs=bogus --`
	args := []string{"single", "a b", "x=c d", "aufs=bogus", "--"}
	c, err := Parse(line, args, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !slices.Equal(c.InitArgs, args) || c.Upper != UpperTmpfs {
		t.Errorf("InitArgs %q, Upper %q; want %q and the default tmpfs", c.InitArgs, c.Upper, args)
	}
	args[0] = "changed"
	if c.InitArgs[0] != "single" {
		t.Errorf("InitArgs shares the caller's slice")
	}
}

// PanicTimeout follows Parse's rule (the last panic= wins) on a line Parse
// accepts, and still answers on a line Parse rejects.
func TestPanicTimeout(t *testing.T) {
	for _, tt := range []struct {
		cmdline  string
		parseErr bool // Parse rejects the line
		secs     int
		set      bool
	}{
		{"", false, 0, false},
		{SeedTmpfs, false, 0, false},
		{"panic=1 panic=2", false, 2, true},
		{"panic=2 panic=1", false, 1, true},
		{"panic=-1", false, -1, true},
		{"panic=0", false, 0, true},
		{"init=/bin/sh panic=-1 break rw", false, -1, true},
		{"panic=0 rw ro", false, 0, true},
		{`"panic=30" root=/dev/nfs`, false, 30, true},
		{"panic=5 -- panic=9", false, 5, true},
		{"aufs=bogus panic=10", true, 10, true},             // Parse fails on another word
		{"panic=10 panic=soon", true, 10, true},             // a malformed panic= is skipped
		{"panic=+1", true, 0, false},                        // malformed, and the only one
		{`panic=7 init="/sbin/init panic=3`, true, 7, true}, // inside an unterminated quote
		{"ip=1.2.3 panic=1 panic=2", true, 2, true},         // Parse fails, the last one still wins
	} {
		secs, set := PanicTimeout(tt.cmdline)
		if secs != tt.secs || set != tt.set {
			t.Errorf("PanicTimeout(%q) = %d, %v; want %d, %v", tt.cmdline, secs, set, tt.secs, tt.set)
		}
		if _, err := Parse(tt.cmdline, nil, nil); (err != nil) != tt.parseErr {
			t.Errorf("Parse(%q) = %v, want an error: %v", tt.cmdline, err, tt.parseErr)
		}
	}
}

func TestSidusISCSIRecovery(t *testing.T) {
	c, err := Parse("aufs=iscsi sidus.iscsi.recovery=300", nil, nil)
	if err != nil || c.Sidus["iscsi.recovery"] != "300" {
		t.Fatalf("Parse: %v, %v", c, err)
	}
	for _, bad := range []string{"sidus.iscsi.recovery=-1", "sidus.iscsi.recovery=soon", "sidus.iscsi.recovery="} {
		_, err := Parse(bad, nil, nil)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != "sidus.iscsi.recovery" {
			t.Errorf("Parse(%q) = %v, want a ParamError naming sidus.iscsi.recovery", bad, err)
		}
	}
}
