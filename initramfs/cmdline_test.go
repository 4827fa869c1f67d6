package initramfs

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The two pxelinux APPEND lines of the 2013 SIDUS documentation, verbatim
// (the iscsi one ends with a space).
const (
	clSeedTmpfs = "console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=,rsize=8192,wsize=8192,tcp ip=dhcp aufs=tmpfs"
	clSeedISCSI = "console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=,rsize=8192,wsize=8192,tcp ip=dhcp aufs=iscsi ISCSI_TARGET_IP= ISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default root=LABEL=ISCSI "
)

// defaults is what Parse returns for an empty command line.
func clDefaults() *Config {
	return &Config{
		IP:       IPConfig{Mode: IPDHCP},
		Upper:    UpperTmpfs,
		ReadOnly: true,
		ISCSI:    map[string]string{},
		Sidus:    map[string]string{},
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
		c.RootIsNFS = true
		c.NFSOptions = []string{"rsize=8192", "wsize=8192", "proto=tcp"}
		c.Consoles = []string{"tty1"}
	}
	for _, tt := range []struct {
		name    string
		cmdline string
		env     []string
		want    func(c *Config)
	}{
		{"empty", "", nil, func(c *Config) {}},
		{"seed tmpfs", clSeedTmpfs, nil, seedNFS},
		{"seed iscsi", clSeedISCSI, nil, func(c *Config) {
			seedNFS(c)
			c.Upper = UpperISCSI
			c.RWLabel = "ISCSI"
			c.ISCSI = map[string]string{ISCSITargetIP: "", ISCSIInitiator: "iqn.2013-04.zone.sidus.target:default"}
		}},
		{"seed tmpfs serial console", clSeedTmpfs + " console=ttyS0,115200n8", nil, func(c *Config) {
			seedNFS(c)
			c.Consoles = []string{"tty1", "ttyS0,115200n8"}
		}},
		{"proc cmdline newline and tabs", "\troot=/dev/nfs\t aufs=tmpfs:2G\n", nil, func(c *Config) {
			c.RootIsNFS = true
			c.TmpfsSize = "2G"
		}},
		{"nfsroot server and path", "nfsroot=192.168.1.1:/srv/nfsroot/sidus,vers=4.1,udp,timeo=600,sec=sys", nil, func(c *Config) {
			c.RootIsNFS = true
			c.NFSServer, c.NFSPath, c.NFSVersion = "192.168.1.1", "/srv/nfsroot/sidus", "4.1"
			c.NFSOptions = []string{"proto=udp", "timeo=600", "sec=sys"}
		}},
		{"nfsroot hostname, nfsvers", "nfsroot=nfs-1.example.org:/srv/%s,nfsvers=3", nil, func(c *Config) {
			c.RootIsNFS = true
			c.NFSServer, c.NFSPath, c.NFSVersion = "nfs-1.example.org", "/srv/%s", "3"
		}},
		{"nfsroot path only, empty options skipped", "nfsroot=/srv/x,,rsize=4096,", nil, func(c *Config) {
			c.RootIsNFS = true
			c.NFSPath = "/srv/x"
			c.NFSOptions = []string{"rsize=4096"}
		}},
		{"nfsroot server only", "nfsroot=10.1.1.1:", nil, func(c *Config) {
			c.RootIsNFS = true
			c.NFSServer = "10.1.1.1"
		}},
		{"nfsroot last wins", "nfsroot=1.1.1.1:/a,tcp nfsroot=/b", nil, func(c *Config) {
			c.RootIsNFS = true
			c.NFSPath = "/b"
		}},
		{"nfsrootdelay", "nfsrootdelay=30", nil, func(c *Config) { c.RootDelay = 30 * time.Second }},
		{"rootdelay", "rootdelay=0 rootdelay=5", nil, func(c *Config) { c.RootDelay = 5 * time.Second }},
		{"repeated root", "root=/dev/nfs root=LABEL=ISCSI root=/dev/sda1 root=UUID=1234 root=LABEL=RW2", nil, func(c *Config) {
			c.RootIsNFS = true
			c.RWLabel = "RW2"
			c.RootOther = []string{"/dev/sda1", "UUID=1234"}
		}},
		{"ip keywords both and bootp", "ip=both", nil, func(c *Config) {}},
		{"ip bootp", "ip=off ip=bootp", nil, func(c *Config) {}},
		{"ip off", "ip=off", nil, func(c *Config) { c.IP.Mode = IPOff }},
		{"ip none", "ip=none", nil, func(c *Config) { c.IP.Mode = IPOff }},
		{"ip static full", "ip=192.168.1.50:192.168.1.1:192.168.1.254:255.255.255.0:node50:eth0:off:192.168.1.1:8.8.8.8:192.168.1.3", nil, func(c *Config) {
			c.IP = IPConfig{Mode: IPStatic, Client: clIP4("192.168.1.50"), Server: clIP4("192.168.1.1"), Gateway: clIP4("192.168.1.254"),
				Netmask: net.CIDRMask(24, 32), Hostname: "node50", Device: "eth0",
				DNS: []net.IP{clIP4("192.168.1.1"), clIP4("8.8.8.8")}, NTP: clIP4("192.168.1.3")}
		}},
		{"ip static prefix, trailing fields omitted", "ip=10.0.0.9::10.0.0.254:16", nil, func(c *Config) {
			c.IP = IPConfig{Mode: IPStatic, Client: clIP4("10.0.0.9"), Gateway: clIP4("10.0.0.254"), Netmask: net.CIDRMask(16, 32)}
		}},
		{"ip client only", "ip=10.0.0.9", nil, func(c *Config) {
			c.IP = IPConfig{Mode: IPStatic, Client: clIP4("10.0.0.9")}
		}},
		{"ip static none", "ip=10.0.0.9:::::eth2:none", nil, func(c *Config) {
			c.IP = IPConfig{Mode: IPStatic, Client: clIP4("10.0.0.9"), Device: "eth2"}
		}},
		{"ip device dhcp", "ip=:::::eth1:dhcp", nil, func(c *Config) { c.IP = IPConfig{Mode: IPDHCP, Device: "eth1"} }},
		{"ip device any with hostname", "ip=::::n1:eno1:any", nil, func(c *Config) {
			c.IP = IPConfig{Mode: IPDHCP, Device: "eno1", Hostname: "n1"}
		}},
		{"ip device, no autoconf, no address", "ip=:::::eth1", nil, func(c *Config) { c.IP = IPConfig{Mode: IPDHCP, Device: "eth1"} }},
		{"ip device off", "ip=:::::eth1:off", nil, func(c *Config) { c.IP = IPConfig{Mode: IPOff, Device: "eth1"} }},
		{"ip dns1 only", "ip=10.0.0.9::::::off::9.9.9.9", nil, func(c *Config) {
			c.IP = IPConfig{Mode: IPStatic, Client: clIP4("10.0.0.9"), DNS: []net.IP{clIP4("9.9.9.9")}}
		}},
		{"BOOTIF pxelinux", "BOOTIF=01-AA-bb-cc-dd-ee-ff", nil, func(c *Config) { c.BootIF = clMAC("aa:bb:cc:dd:ee:ff") }},
		{"BOOTIF no type", "BOOTIF=aa-bb-cc-dd-ee-ff", nil, func(c *Config) { c.BootIF = clMAC("aa:bb:cc:dd:ee:ff") }},
		{"BOOTIF colons", "BOOTIF=52:54:00:12:34:56", nil, func(c *Config) { c.BootIF = clMAC("52:54:00:12:34:56") }},
		{"BOOTIF 01 colons", "BOOTIF=01:52:54:00:12:34:56", nil, func(c *Config) { c.BootIF = clMAC("52:54:00:12:34:56") }},
		{"aufs tmpfs sizes", "aufs=tmpfs:512m", nil, func(c *Config) { c.TmpfsSize = "512m" }},
		{"aufs percent", "aufs=tmpfs:50%", nil, func(c *Config) { c.TmpfsSize = "50%" }},
		{"aufs last wins resets size", "aufs=tmpfs:1G aufs=iscsi", nil, func(c *Config) { c.Upper = UpperISCSI }},
		{"init, panic, break, rw", "init=/bin/sh panic=-1 break rw", nil, func(c *Config) {
			c.Init, c.Panic, c.PanicSet, c.Break, c.ReadOnly = "/bin/sh", -1, true, StagePremount, false
		}},
		{"panic 0, ro after rw", "panic=0 rw ro", nil, func(c *Config) { c.PanicSet = true }},
		{"break stages", "break=nfs", nil, func(c *Config) { c.Break = StageNFS }},
		{"break bottom alias", "break=bottom", nil, func(c *Config) { c.Break = StageInit }},
		{"break init", "break=init", nil, func(c *Config) { c.Break = StageInit }},
		{"break empty", "break=", nil, func(c *Config) { c.Break = StagePremount }},
		{"quoted value", `console=ttyS0 init="/sbin/my init" ISCSI_INITIATOR="iqn.x:a b"`, nil, func(c *Config) {
			c.Consoles = []string{"ttyS0"}
			c.Init = "/sbin/my init"
			c.ISCSI[ISCSIInitiator] = "iqn.x:a b"
		}},
		{"wholly quoted word", `"nfsroot=10.0.0.1:/srv/my root,vers=3" "aufs=iscsi"`, nil, func(c *Config) {
			c.RootIsNFS = true
			c.NFSServer, c.NFSPath, c.NFSVersion = "10.0.0.1", "/srv/my root", "3"
			c.Upper = UpperISCSI
		}},
		{"init args after --", `root=/dev/nfs -- single "a b" x="c d" aufs=bogus --`, nil, func(c *Config) {
			c.RootIsNFS = true
			c.InitArgs = []string{"single", "a b", "x=c d", "aufs=bogus", "--"}
		}},
		{"ignored", `initrd=initrd.img-Sidus BOOT_IMAGE=/vmlinuz quiet splash foo="bar baz" ro=1 =x`, nil, func(c *Config) {}},
		{"env iscsi, cmdline wins", "ISCSI_TARGET_IP=10.0.0.2 iscsi_target_port=3261",
			[]string{"PATH=/bin", "ISCSI_TARGET_IP=10.0.0.9", "ISCSI_TARGET_IP=10.0.0.10", "ISCSI_USERNAME=bob", "iscsi_password=s3cret", "ISCSI_TARGET_GROUP=", "junk"},
			func(c *Config) {
				c.ISCSI = map[string]string{ISCSITargetIP: "10.0.0.2", ISCSITargetPort: "3261", ISCSIUsername: "bob", ISCSIPassword: "s3cret", ISCSITargetGroup: ""}
			}},
		{"dracut rd.iscsi", "rd.iscsi.initiator=iqn.a rd.iscsi.target.name=iqn.t rd.iscsi.target.ip=1.2.3.4 rd.iscsi.target.port=3260 rd.iscsi.target.group=1 rd.iscsi.username=u rd.iscsi.password=p rd.iscsi.in.username=iu rd.iscsi.in.password=ip", nil, func(c *Config) {
			c.ISCSI = map[string]string{ISCSIInitiator: "iqn.a", ISCSITargetName: "iqn.t", ISCSITargetIP: "1.2.3.4", ISCSITargetPort: "3260",
				ISCSITargetGroup: "1", ISCSIUsername: "u", ISCSIPassword: "p", ISCSIInUsername: "iu", ISCSIInPassword: "ip"}
		}},
		{"bare ISCSI key is an init word", "ISCSI_TARGET_IP", nil, func(c *Config) {}},
		{"netroot iscsi", "netroot=iscsi:192.168.1.2::3260:0:iqn.2013-04.zone.sidus.target:default", nil, func(c *Config) {
			c.ISCSI = map[string]string{ISCSITargetIP: "192.168.1.2", ISCSITargetPort: "3260", ISCSILUN: "0", ISCSITargetName: "iqn.2013-04.zone.sidus.target:default"}
		}},
		{"netroot iscsi with credentials, empty ip", "netroot=iscsi:u:p:iu:ip@:6:::iqn.t", nil, func(c *Config) {
			c.ISCSI = map[string]string{ISCSITargetIP: "", ISCSITargetName: "iqn.t", ISCSIUsername: "u", ISCSIPassword: "p", ISCSIInUsername: "iu", ISCSIInPassword: "ip"}
		}},
		{"netroot ipv6", "netroot=iscsi:[fe80::1]::::iqn.t", nil, func(c *Config) {
			c.ISCSI = map[string]string{ISCSITargetIP: "fe80::1", ISCSITargetName: "iqn.t"}
		}},
		{"netroot nfs ignored", "netroot=nfs:1.2.3.4:/x", nil, func(c *Config) {}},
		{"sidus options", "sidus.format=never sidus.iscsi.fallback=wait sidus.hostname=off sidus.resolv=on sidus.fstab=off sidus.netprotect=on", nil, func(c *Config) {
			c.Sidus = map[string]string{"format": "never", "iscsi.fallback": "wait", "hostname": "off", "resolv": "on", "fstab": "off", "netprotect": "on"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.cmdline, tt.env)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.cmdline, err)
			}
			want := clDefaults()
			want.Raw = tt.cmdline
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse(%q) =\n %+v\nwant\n %+v", tt.cmdline, *got, *want)
			}
			checkCmdlineRoundTrip(t, got)
		})
	}
}

// checkCmdlineRoundTrip checks that c's canonical command line parses back to c.
func checkCmdlineRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	s := c.canonicalCmdline()
	c2, err := Parse(s, nil)
	if err != nil {
		t.Fatalf("Parse(canonical %q) = %v (from %q)", s, err, c.Raw)
	}
	c1 := *c
	c1.Raw, c2.Raw = "", ""
	if !reflect.DeepEqual(&c1, c2) {
		t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", c.Raw, s, *c2, c1)
	}
	if s2 := c2.canonicalCmdline(); s2 != s {
		t.Fatalf("canonical form not stable: %q then %q", s, s2)
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
		{"ip=1.2.3", nil, "ip", `ip=1.2.3: client address "1.2.3" is not an IPv4 address; expected ip=dhcp|off|<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>`},
		{"ip=10.0.0.1:10.0.0.300", nil, "ip", `server address "10.0.0.300"`},
		{"ip=10.0.0.1::gw", nil, "ip", `gateway address "gw"`},
		{"ip=10.0.0.1:::255.0.255.0", nil, "ip", `netmask "255.0.255.0"`},
		{"ip=10.0.0.1:::33", nil, "ip", `netmask "33"`},
		{"ip=10.0.0.1:::x", nil, "ip", `netmask "x"`},
		{"ip=10.0.0.1::::" + strings.Repeat("h", 65), nil, "ip", "hostname"},
		{"ip=10.0.0.1:::::a/b", nil, "ip", `device "a/b"`},
		{"ip=10.0.0.1:::::" + strings.Repeat("e", 16), nil, "ip", "device"},
		{"ip=10.0.0.1::::::rarp", nil, "ip", `autoconf "rarp"`},
		{"ip=10.0.0.1:::::::x", nil, "ip", `dns0 address "x"`},
		{"ip=10.0.0.1::::::::x", nil, "ip", `dns1 address "x"`},
		{"ip=10.0.0.1:::::::::x", nil, "ip", `ntp0 address "x"`},
		{"ip=1:2:3:4:5:6:7:8:9:10:11", nil, "ip", "11 fields"},
		{"ip=::1", nil, "ip", "not an IPv4 address"},
		{"ip=dhcp6", nil, "ip", "ip=dhcp6"},
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
		{"break=mountroot", nil, "break", "break=modules|network|nfs|premount|union|init"},
		{"break=nfs,union", nil, "break", "unknown stage"},
		{"BOOTIF=01-aa-bb-cc-dd-ee", nil, "BOOTIF", "multicast"},
		{"BOOTIF=01-aa-bb-cc-dd", nil, "BOOTIF", "not an Ethernet MAC address"},
		{"BOOTIF=aa-bb-cc-dd-ee-fg", nil, "BOOTIF", "BOOTIF=aa-bb-cc-dd-ee-fg"},
		{"BOOTIF=aa-bb-cc-dd-ee-fff", nil, "BOOTIF", "BOOTIF"},
		{"root=LABEL=", nil, "root", "empty label"},
		{"sidus.upper=tmpfs", nil, "sidus.upper", "unknown sidus option; expected one of sidus.format=empty|never, sidus.iscsi.fallback=wait|tmpfs|fail, sidus.hostname=on|off"},
		{"sidus.format=always", nil, "sidus.format", "expected sidus.format=empty|never"},
		{"sidus.netprotect", nil, "sidus.netprotect", "sidus.netprotect=on|off"},
		{"sidus.iscsi.fallback=", nil, "sidus.iscsi.fallback", "wait|tmpfs|fail"},
		{"netroot=iscsi", nil, "netroot", "no target"},
		{"netroot=iscsi:1.2.3.4", nil, "netroot", "too few fields"},
		{"netroot=iscsi:1.2.3.4::3260:0", nil, "netroot", "too few fields"},
		{"netroot=iscsi:1.2.3.4:17:3260:0:iqn.t", nil, "netroot", `protocol "17"`},
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
			c, err := Parse(tt.cmdline, tt.env)
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

func TestTokenizeCmdline(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []cmdlineToken
	}{
		{"", nil},
		{"  a  b=c ", []cmdlineToken{{key: "a"}, {key: "b", val: "c", hasVal: true}}},
		{`a="b c" d`, []cmdlineToken{{key: "a", val: "b c", hasVal: true}, {key: "d"}}},
		{`"a=b c" d`, []cmdlineToken{{key: "a", val: "b c", hasVal: true}, {key: "d"}}},
		{`"a b"`, []cmdlineToken{{key: "a b"}}},
		{`a=b"c d"e`, []cmdlineToken{{key: "a", val: `b"c d"e`, hasVal: true}}},
		{`a=`, []cmdlineToken{{key: "a", hasVal: true}}},
		{`a=""`, []cmdlineToken{{key: "a", hasVal: true}}},
		{`a="`, []cmdlineToken{{key: "a", hasVal: true, unterminated: true}}},
		{`=a=b`, []cmdlineToken{{key: "=a", val: "b", hasVal: true}}},
		{`a="b c`, []cmdlineToken{{key: "a", val: "b c", hasVal: true, unterminated: true}}},
		{`""`, []cmdlineToken{{key: ""}}},
		{`"`, []cmdlineToken{{key: "", unterminated: true}}},
	} {
		if got := tokenizeCmdline(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("tokenizeCmdline(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestParseTestdata parses every testdata/cmdline/*.txt: bad-*.txt must
// fail with a *ParamError, the others must parse.
func TestParseTestdata(t *testing.T) {
	files, err := filepath.Glob("../testdata/cmdline/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(string(b), nil)
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
			checkCmdlineRoundTrip(t, c)
		})
	}
}

func TestParseSeedFiles(t *testing.T) {
	for f, want := range map[string]string{"sidus-2013-tmpfs.txt": clSeedTmpfs, "sidus-2013-iscsi.txt": clSeedISCSI} {
		b, err := os.ReadFile(filepath.Join("../testdata/cmdline", f))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(string(b), "\n"); got != want {
			t.Errorf("%s = %q, want the seed line %q", f, got, want)
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

func TestResolveNFS(t *testing.T) {
	for _, tt := range []struct {
		name                                   string
		cmdline                                string
		dhcpServer, siaddr, rootPath, clientIP string
		server, path, err                      string
	}{
		{"seed: next-server, default path", clSeedTmpfs, "10.0.0.1", "10.0.0.2", "", "10.0.0.50", "10.0.0.2", "/tftpboot/10.0.0.50", ""},
		{"server identifier when no next-server", clSeedTmpfs, "10.0.0.1", "", "", "10.0.0.50", "10.0.0.1", "/tftpboot/10.0.0.50", ""},
		{"0.0.0.0 next-server ignored", clSeedTmpfs, "10.0.0.1", "0.0.0.0", "", "10.0.0.50", "10.0.0.1", "/tftpboot/10.0.0.50", ""},
		{"root-path path", clSeedTmpfs, "10.0.0.1", "10.0.0.2", "/srv/nfsroot/sidus", "10.0.0.50", "10.0.0.2", "/srv/nfsroot/sidus", ""},
		{"root-path server:path overrides empty server", clSeedTmpfs, "10.0.0.1", "10.0.0.2", "10.0.0.3:/srv/sidus,vers=3", "10.0.0.50", "10.0.0.3", "/srv/sidus", ""},
		{"root-path alone", clSeedTmpfs, "", "", "nfs.example.org:/srv/%s", "10.0.0.50", "nfs.example.org", "/srv/10.0.0.50", ""},
		{"nfsroot server kept over root-path server", "nfsroot=10.9.9.9:", "", "10.0.0.2", "10.0.0.3:/srv/sidus", "10.0.0.50", "10.9.9.9", "/srv/sidus", ""},
		{"nfsroot full wins", "nfsroot=10.9.9.9:/srv/a", "10.0.0.1", "10.0.0.2", "10.0.0.3:/srv/b", "10.0.0.50", "10.9.9.9", "/srv/a", ""},
		{"nfsroot path, DHCP server", "nfsroot=/srv/a/%s", "10.0.0.1", "", "10.0.0.3:/srv/b", "10.0.0.50", "10.0.0.1", "/srv/a/10.0.0.50", ""},
		{"no server", clSeedTmpfs, "", "", "", "10.0.0.50", "", "",
			"nfsroot: no NFS server: nfsroot= has none and DHCP gave no next-server or root-path; set nfsroot=SERVER:/path"},
		{"no server, root-path without one", clSeedTmpfs, "", "", "/srv/x", "10.0.0.50", "", "", "nfsroot: no NFS server"},
		{"bad root-path", clSeedTmpfs, "10.0.0.1", "", "relative", "10.0.0.50", "", "", "DHCP root-path (option 17)"},
		{"%s without client", clSeedTmpfs, "10.0.0.1", "", "", "", "", "", "needs the client address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.cmdline, nil)
			if err != nil {
				t.Fatal(err)
			}
			server, path, err := c.ResolveNFS(tt.dhcpServer, tt.siaddr, tt.rootPath, tt.clientIP)
			if tt.err != "" {
				var pe *ParamError
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &pe) || pe.Param != "nfsroot" {
					t.Fatalf("ResolveNFS = %q, %q, %v; want a nfsroot error containing %q", server, path, err, tt.err)
				}
				return
			}
			if err != nil || server != tt.server || path != tt.path {
				t.Errorf("ResolveNFS = %q, %q, %v; want %q, %q", server, path, err, tt.server, tt.path)
			}
		})
	}
}

func TestNFSMountOptions(t *testing.T) {
	for _, tt := range []struct {
		cmdline, server, client, version, want string
	}{
		{clSeedTmpfs, "10.0.0.2", "10.0.0.50", "4", "rsize=8192,wsize=8192,proto=tcp,vers=4,addr=10.0.0.2,clientaddr=10.0.0.50"},
		{clSeedTmpfs, "10.0.0.2", "10.0.0.50", "4.2", "rsize=8192,wsize=8192,proto=tcp,vers=4.2,addr=10.0.0.2,clientaddr=10.0.0.50"},
		{clSeedTmpfs, "10.0.0.2", "10.0.0.50", "3", "rsize=8192,wsize=8192,proto=tcp,vers=3,addr=10.0.0.2,nolock,mountproto=tcp"},
		{"nfsroot=/x,vers=3,udp", "10.0.0.2", "10.0.0.50", "", "proto=udp,vers=3,addr=10.0.0.2,nolock"},
		{"nfsroot=/x,lock,mountproto=udp,tcp", "10.0.0.2", "10.0.0.50", "3", "lock,mountproto=udp,proto=tcp,vers=3,addr=10.0.0.2"},
		{"nfsroot=/x,nolock", "10.0.0.2", "", "3", "nolock,vers=3,addr=10.0.0.2"},
		{"nfsroot=/x,clientaddr=10.1.1.1,addr=10.2.2.2", "10.0.0.2", "10.0.0.50", "4.1", "clientaddr=10.1.1.1,addr=10.2.2.2,vers=4.1"},
		{"", "10.0.0.2", "", "4", "vers=4,addr=10.0.0.2"},
		{"", "10.0.0.2", "10.0.0.50", "", "addr=10.0.0.2"},
		{"nfsroot=/x,vers=4.1,ro", "10.0.0.2", "10.0.0.50", "", "ro,vers=4.1,addr=10.0.0.2,clientaddr=10.0.0.50"},
	} {
		c, err := Parse(tt.cmdline, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.NFSMountOptions(tt.server, tt.client, tt.version); got != tt.want {
			t.Errorf("%q: NFSMountOptions(%q, %q, %q) = %q, want %q", tt.cmdline, tt.server, tt.client, tt.version, got, tt.want)
		}
	}
}

func TestBreakStagesMatchBoot(t *testing.T) {
	// Every stage name parses to itself.
	for _, s := range BreakStages {
		c, err := Parse("break="+s, nil)
		if err != nil || c.Break != s {
			t.Errorf("break=%s: %v, %q", s, err, c.Break)
		}
	}
}

// sidus.test* words belong to the booted root (the e2e test root reads
// them); the init must not reject them as unknown sidus options.
func TestParseIgnoresSidusTestWords(t *testing.T) {
	c, err := Parse("root=/dev/nfs sidus.test=hold sidus.test.report=/proc/cpuinfo,/etc/hostname", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(c.Sidus) != 0 {
		t.Errorf("Sidus = %v, want none recorded", c.Sidus)
	}
}
