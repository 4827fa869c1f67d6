package cmdline

import (
	"net"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/iscsi"
)

// canonicalCmdline renders c as a command line that Parse (given c.InitArgs
// as its args) turns back into c, Warnings aside; ISCSI values that came
// from the environment are rendered as parameters. It includes iSCSI
// passwords: do not log it.
func (c *Config) canonicalCmdline() string {
	var w []string
	add := func(key, val string) { w = append(w, key+"="+quoteValue(val)) }
	if len(c.NFSServers) > 0 || c.NFSPath != "" || len(c.NFSOptions) > 0 || c.NFSVersion != "" {
		v := c.NFSPath
		if len(c.NFSServers) > 0 {
			v = strings.Join(c.NFSServers, ",") + ":" + v
		}
		opts := slices.Clone(c.NFSOptions)
		if c.NFSVersion != "" {
			opts = append(opts, "vers="+c.NFSVersion)
		}
		for _, o := range opts {
			v += "," + o
		}
		add("nfsroot", v)
	}
	if c.RWLabel != "" {
		add("root", "LABEL="+c.RWLabel)
	}
	for _, r := range c.RootOther {
		add("root", r)
	}
	// After RootOther, which names no kind of shared root: this root= is
	// the last that does.
	switch c.Lower {
	case LowerRBD:
		add("root", "rbd:"+c.RBD.String())
	case LowerCephFS:
		add("root", "cephfs:"+c.CephFSPath)
	}
	if len(c.CephMons) > 0 {
		add("sidus.ceph.mon", strings.Join(c.CephMons, ","))
	}
	for _, o := range []struct{ key, val string }{
		{"sidus.ceph.user", c.CephUser}, {"sidus.cephfs.fs", c.CephFS}, {"sidus.image", c.Image},
		{"sidus.verity", c.VerityRootHash}, {"rootfstype", c.LowerFSType},
	} {
		if o.val != "" {
			add(o.key, o.val)
		}
	}
	for _, n := range c.IfNames {
		add("ifname", n.Name+":"+n.MAC.String())
	}
	for _, b := range c.Bonds {
		v := b.Name + ":" + strings.Join(b.Slaves, ",")
		if len(b.Options) > 0 || b.MTU > 0 {
			var o []string
			for _, k := range sortedParamKeys(b.Options) {
				o = append(o, k+"="+b.Options[k])
			}
			v += ":" + strings.Join(o, ",")
		}
		if b.MTU > 0 {
			v += ":" + strconv.Itoa(b.MTU)
		}
		add("bond", v)
	}
	for _, vl := range c.VLANs {
		add("vlan", vl.Name+":"+vl.Parent)
	}
	for _, ipc := range c.IPs {
		add("ip", ipParamString(ipc))
	}
	if c.BootDev != "" {
		add("bootdev", c.BootDev)
	}
	if c.IBFTNetwork {
		add("rd.iscsi.ibft", "1")
	}
	if len(c.BootIF) > 0 {
		add("BOOTIF", "01-"+strings.ReplaceAll(c.BootIF.String(), ":", "-"))
	}
	switch {
	case c.Upper == UpperISCSI:
		add("aufs", "iscsi")
	case c.Upper == UpperDevice:
		v := "device:dev=" + c.UpperDev
		if c.UpperDevTimeout > 0 {
			v += ",timeout=" + strconv.Itoa(int(c.UpperDevTimeout/time.Second))
		}
		add("overlayroot", v)
	case c.TmpfsSize != "":
		add("aufs", "tmpfs:"+c.TmpfsSize)
	}
	if c.RootDelay > 0 {
		add("rootdelay", strconv.Itoa(int(c.RootDelay/time.Second)))
	}
	if c.Init != "" {
		add("init", c.Init)
	}
	if len(c.Breaks) > 0 {
		add("break", strings.Join(c.Breaks, ","))
	}
	if c.RescueShell != nil {
		add("rd.shell", map[bool]string{true: "1", false: "0"}[*c.RescueShell])
	}
	for _, t := range c.ISCSITargets {
		add("netroot", iscsiTargetString(t))
	}
	for _, k := range sortedParamKeys(c.ISCSI) {
		add(k, c.ISCSI[k])
	}
	if c.ISCSIFirmware {
		add("rd.iscsi.firmware", "1")
	}
	for _, k := range sortedParamKeys(c.Sidus) {
		add("sidus."+k, c.Sidus[k])
	}
	return strings.Join(w, " ")
}

// iscsiTargetString renders one ISCSITargets entry as netroot= would take it.
func iscsiTargetString(t map[string]string) string {
	auth := ""
	if u, p, iu, ip := t[iscsi.KeyUsername], t[iscsi.KeyPassword], t[iscsi.KeyInUsername], t[iscsi.KeyInPassword]; iu != "" || ip != "" {
		auth = u + ":" + p + ":" + iu + ":" + ip + "@"
	} else if u != "" || p != "" {
		auth = u + ":" + p + "@"
	} else if strings.Contains(t[iscsi.KeyTargetName], "@") {
		auth = "@"
	}
	server := t[iscsi.KeyTargetIP]
	if strings.Contains(server, ":") {
		server = "[" + server + "]"
	}
	return "iscsi:" + auth + server + "::" + t[iscsi.KeyTargetPort] + ":" + t[iscsi.KeyLUN] + ":" + t[iscsi.KeyTargetName]
}

// checkRoundTrip checks that c, parsed from raw, has a canonical command
// line that parses back to c.
func checkRoundTrip(t *testing.T, raw string, c *Config) {
	t.Helper()
	s := c.canonicalCmdline()
	c2, err := Parse(s, c.InitArgs, nil)
	if err != nil {
		t.Fatalf("Parse(canonical %q) = %v (from %q)", s, err, raw)
	}
	want := *c
	want.Warnings = nil
	c2.Warnings = nil
	if !reflect.DeepEqual(&want, c2) {
		t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", raw, s, *c2, want)
	}
	if s2 := c2.canonicalCmdline(); s2 != s {
		t.Fatalf("canonical form not stable: %q then %q", s, s2)
	}
}

func sortedParamKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// quoteValue quotes v if it holds white space.
// v must not contain a double quote (Parse rejects those).
func quoteValue(v string) string {
	for i := 0; i < len(v); i++ {
		if isSpace(v[i]) {
			return `"` + v + `"`
		}
	}
	return v
}

// ipParamString renders ipc in ip= syntax: "dhcp", "off" or the
// colon-separated form (with dracut's :<mtu>:<mac> tail when set).
func ipParamString(ipc IPConfig) string {
	str := func(ip net.IP) string {
		if ip == nil {
			return ""
		}
		return ip.String()
	}
	autoconf := ""
	switch ipc.Mode {
	case IPDHCP:
		autoconf = "dhcp"
	case IPOff:
		autoconf = "off"
	}
	f := []string{str(ipc.Client), str(ipc.Server), str(ipc.Gateway), "", ipc.Hostname, ipc.Device, autoconf, "", "", ""}
	if ipc.Netmask != nil {
		f[3] = net.IP(ipc.Netmask).String()
	}
	for i, d := range ipc.DNS {
		if i < 2 {
			f[7+i] = str(d)
		}
	}
	if ipc.MTU > 0 || ipc.MAC != nil {
		f = append(f[:7], "", "")
		if ipc.MTU > 0 {
			f[7] = strconv.Itoa(ipc.MTU)
		}
		if ipc.MAC != nil {
			f[8] = strings.ReplaceAll(ipc.MAC.String(), ":", "-")
		}
	}
	if ipc.Mode != IPStatic && strings.Join(append(f[:6:6], f[7:]...), "") == "" {
		return autoconf
	}
	for len(f) > 0 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	return strings.Join(f, ":")
}
