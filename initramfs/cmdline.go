package initramfs

// This file turns the kernel command line (and the environment the kernel
// hands to /init) into a Config. Parsing is pure: no I/O, no globals read.
// The Linux side (main_linux.go) reads /proc/cmdline and os.Environ() and
// calls Parse.
//
// The rules follow the kernel's Documentation/admin-guide/nfs/nfsroot.rst
// (nfsroot=, ip=), initramfs-tools (break=, rootdelay=, panic=), pxelinux
// (BOOTIF=), open-iscsi/initramfs-tools (ISCSI_*) and dracut (rd.iscsi.*,
// netroot=iscsi:).

import (
	"fmt"
	"github.com/sidus-go/sidus/iscsi"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Boot stages, in order. break=<stage> opens the rescue shell just before
// the stage runs. Boot runs its steps under these names.
const (
	StageModules  = "modules"  // load the kernel modules
	StageNetwork  = "network"  // bring up the NIC, DHCP or static ip=
	StageNFS      = "nfs"      // mount the NFS root read-only
	StagePremount = "premount" // mount the writable layer (before the union); bare "break" stops here
	StageUnion    = "union"    // stack the read-only and writable layers
	StageInit     = "init"     // just before switch_root and exec init=; "bottom" is an alias
)

// BreakStages lists the stages break= accepts, in boot order.
var BreakStages = []string{StageModules, StageNetwork, StageNFS, StagePremount, StageUnion, StageInit}

// breakAliases maps other accepted break= names to a stage.
var breakAliases = map[string]string{"bottom": StageInit}

// Canonical keys of Config.ISCSI (open-iscsi / initramfs-tools names); the
// iscsi package holds the one table of names and aliases.
const (
	ISCSIInitiator   = iscsi.KeyInitiator
	ISCSITargetName  = iscsi.KeyTargetName
	ISCSITargetIP    = iscsi.KeyTargetIP // present with "" value: use the DHCP next-server
	ISCSITargetPort  = iscsi.KeyTargetPort
	ISCSITargetGroup = iscsi.KeyTargetGroup
	ISCSIUsername    = iscsi.KeyUsername
	ISCSIPassword    = iscsi.KeyPassword
	ISCSIInUsername  = iscsi.KeyInUsername
	ISCSIInPassword  = iscsi.KeyInPassword
	ISCSILUN         = iscsi.KeyLUN // only from netroot=iscsi:...:<lun>:...
)

// iscsiCanonical returns the canonical name of an iSCSI parameter name.
func iscsiCanonical(name string) (string, bool) {
	return iscsi.Canonicalize(name)
}

// sidusOptions is the one table of sidus.KEY=VALUE options and their values.
var sidusOptions = []struct {
	key    string
	values []string
}{
	{"format", []string{"empty", "never"}},
	{"iscsi.fallback", []string{"wait", "tmpfs", "fail"}},
	{"hostname", []string{"on", "off"}},
	{"resolv", []string{"on", "off"}},
	{"fstab", []string{"on", "off"}},
	{"netprotect", []string{"on", "off"}},
}

// nfsNumericOptions are the nfsroot= options that take a positive integer.
var nfsNumericOptions = []string{
	"rsize", "wsize", "timeo", "retrans", "port", "mountport",
	"acregmin", "acregmax", "acdirmin", "acdirmax", "actimeo",
}

// Accepted forms, quoted in error messages.
const (
	nfsrootForm = "nfsroot=[<server>:][/<path>][,<option>[=<value>],...]"
	ipForm      = "ip=dhcp|off|<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>"
	aufsForm    = "aufs=tmpfs, aufs=tmpfs:SIZE (e.g. 2G or 50%) or aufs=iscsi"
	netrootForm = "netroot=iscsi:[<user>:<password>[:<in-user>:<in-password>]@]<target-ip>:[6]:[<port>]:[<lun>]:<target-name>"
	bootifForm  = "BOOTIF=01-aa-bb-cc-dd-ee-ff (or aa:bb:cc:dd:ee:ff)"
	quoteForm   = `double quotes only around a whole value, e.g. key="a b"`
)

// ParamError is a malformed known parameter. Its text starts with the
// parameter (and value) and says what was expected:
//
//	ip=1.2.3: client address "1.2.3" is not an IPv4 address; expected ip=dhcp|off|...
type ParamError struct {
	Param    string // the parameter name as written, e.g. "ip", "nfsroot", "ISCSI_TARGET_PORT"
	Value    string // the offending value (passwords are redacted)
	Reason   string // what is wrong; may be empty
	Expected string // the accepted form; may be empty
}

func (e *ParamError) Error() string {
	s := e.Param
	if e.Value != "" {
		s += "=" + e.Value
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Expected != "" {
		if e.Reason != "" {
			s += "; expected " + e.Expected
		} else {
			s += ": expected " + e.Expected
		}
	}
	return s
}

// cmdlineToken is one word of the command line, split like the kernel's next_arg.
type cmdlineToken struct {
	key, val     string
	hasVal       bool // the word had an '=' (val may be empty)
	unterminated bool // an opening double quote was never closed
}

// isCmdlineSpace is the kernel's isspace for ASCII.
func isCmdlineSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// tokenizeCmdline splits s the way the kernel's next_arg does: words are
// separated by white space outside double quotes; a word may be wholly
// quoted ("a=b c") or have a quoted value (a="b c"), and those quotes are
// dropped; a '=' at the very start of a word does not split it.
func tokenizeCmdline(s string) []cmdlineToken {
	var toks []cmdlineToken
	i := 0
	for {
		for i < len(s) && isCmdlineSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return toks
		}
		quoted := s[i] == '"'
		if quoted {
			i++
		}
		inQuote := quoted
		start, equals := i, -1
		for ; i < len(s); i++ {
			c := s[i]
			if isCmdlineSpace(c) && !inQuote {
				break
			}
			if equals < 0 && c == '=' && i > start {
				equals = i
			}
			if c == '"' {
				inQuote = !inQuote
			}
		}
		t := cmdlineToken{unterminated: inQuote}
		stripped := false
		if equals < 0 {
			t.key = s[start:i]
		} else {
			t.key, t.val, t.hasVal = s[start:equals], s[equals+1:i], true
			if strings.HasPrefix(t.val, `"`) {
				t.val = t.val[1:]
				if strings.HasSuffix(t.val, `"`) {
					t.val = t.val[:len(t.val)-1]
				}
				stripped = true
			}
		}
		if quoted && !stripped {
			if t.hasVal {
				t.val = strings.TrimSuffix(t.val, `"`)
			} else {
				t.key = strings.TrimSuffix(t.key, `"`)
			}
		}
		toks = append(toks, t)
	}
}

// Parse builds a Config from the kernel command line and the environment
// the kernel gave /init ("KEY=value" strings). It does no I/O.
//
// Unknown parameters are ignored; a malformed known parameter is a
// *ParamError. Words after "--" become InitArgs. iSCSI values are read
// from environ first and the command line overrides them. For a parameter
// given twice the last one wins, except root= (each is recorded) and
// console= (all are kept).
func Parse(cmdline string, environ []string) (*Config, error) {
	c := &Config{
		Raw:      cmdline,
		IP:       IPConfig{Mode: IPDHCP},
		Upper:    UpperTmpfs,
		ReadOnly: true,
		ISCSI:    map[string]string{},
		Sidus:    map[string]string{},
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		canon, known := iscsiCanonical(k)
		if !ok || !known {
			continue
		}
		if _, seen := c.ISCSI[canon]; seen {
			continue // the first one wins, as with getenv
		}
		if strings.Contains(v, `"`) {
			return nil, &ParamError{Param: k, Value: redactSecret(canon, v),
				Reason: "(from the environment) value contains a double quote", Expected: quoteForm}
		}
		c.ISCSI[canon] = v
	}
	toks := tokenizeCmdline(cmdline)
	for i, t := range toks {
		if t.key == "--" && !t.hasVal {
			for _, a := range toks[i+1:] {
				arg := a.key
				if a.hasVal {
					arg += "=" + a.val
				}
				if a.unterminated || strings.Contains(arg, `"`) {
					return nil, &ParamError{Param: "--", Value: arg,
						Reason: "init argument has a stray or unterminated double quote", Expected: quoteForm}
				}
				c.InitArgs = append(c.InitArgs, arg)
			}
			break
		}
		if err := c.applyCmdlineWord(t); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// cmdlineParams is the one table of the command-line parameters Parse acts on
// (besides the flags ro/rw, the iSCSI names of iscsiParams and sidus.*).
// Each handler gets the key as written and the unquoted value.
var cmdlineParams = map[string]func(c *Config, key, v string) error{
	"nfsroot": func(c *Config, _, v string) error { return c.parseNFSRoot(v) },
	"root":    func(c *Config, _, v string) error { return c.parseRoot(v) },
	"ip": func(c *Config, _, v string) error {
		ip, err := parseIPParam(v)
		if err == nil {
			c.IP = ip
		}
		return err
	},
	"BOOTIF": func(c *Config, _, v string) error {
		if v == "" {
			return nil
		}
		mac, err := parseBootIF(v)
		if err == nil {
			c.BootIF = mac
		}
		return err
	},
	"aufs":         func(c *Config, _, v string) error { return c.parseAufs(v) },
	"rootdelay":    parseRootDelay,
	"nfsrootdelay": parseRootDelay,
	"init": func(c *Config, key, v string) error {
		if !strings.HasPrefix(v, "/") {
			return &ParamError{Param: key, Value: v, Reason: "not an absolute path", Expected: "init=/absolute/path, e.g. init=/sbin/init"}
		}
		c.Init = v
		return nil
	},
	"panic": func(c *Config, key, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || !allDigits(strings.TrimPrefix(v, "-")) {
			return &ParamError{Param: key, Value: v, Expected: "panic=<seconds>, an integer: >0 reboot after that many seconds, 0 wait, <0 reboot at once"}
		}
		c.Panic, c.PanicSet = int(n), true
		return nil
	},
	"break": func(c *Config, _, v string) error { return c.parseBreak(v) },
	"console": func(c *Config, _, v string) error {
		if v != "" {
			c.Consoles = append(c.Consoles, v)
		}
		return nil
	},
	"netroot": func(c *Config, _, v string) error {
		if v == "iscsi" || strings.HasPrefix(v, "iscsi:") {
			return c.parseNetroot(v)
		}
		return nil // other netroot= types are not ours
	},
}

func parseRootDelay(c *Config, key, v string) error {
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil || !allDigits(v) {
		return &ParamError{Param: key, Value: v, Expected: key + "=<seconds>, a non-negative integer, e.g. " + key + "=30"}
	}
	c.RootDelay = time.Duration(n) * time.Second
	return nil
}

// applyCmdlineWord records one command-line word. A known parameter given without
// '=' is handled as if its value were empty.
func (c *Config) applyCmdlineWord(t cmdlineToken) error {
	key, v := t.key, t.val
	if !t.hasVal && (key == "ro" || key == "rw") {
		c.ReadOnly = key == "ro"
		return nil
	}
	canon, isISCSI := iscsiCanonical(key)
	isSidus := strings.HasPrefix(key, "sidus.")
	handler := cmdlineParams[key]
	if !isISCSI && !isSidus && handler == nil {
		return nil // initrd=, BOOT_IMAGE= and unknown words
	}
	if t.unterminated || strings.Contains(v, `"`) {
		return &ParamError{Param: key, Value: redactSecret(canon, v),
			Reason: "stray or unterminated double quote", Expected: quoteForm}
	}
	switch {
	case isISCSI:
		if t.hasVal { // a bare ISCSI_X is an init argument, not a variable
			c.ISCSI[canon] = v
		}
		return nil
	case isSidus:
		return c.parseSidus(key, v)
	}
	return handler(c, key, v)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// redactSecret hides password values in error messages.
func redactSecret(canon, v string) string {
	if strings.Contains(canon, "PASSWORD") && v != "" {
		return "***"
	}
	return v
}

func (c *Config) parseRoot(v string) error {
	switch {
	case v == "":
	case v == "/dev/nfs":
		c.RootIsNFS = true
	case strings.HasPrefix(v, "LABEL="):
		label := strings.TrimPrefix(v, "LABEL=")
		if label == "" {
			return &ParamError{Param: "root", Value: v, Reason: "empty label", Expected: "root=/dev/nfs or root=LABEL=<label of the writable device>"}
		}
		c.RWLabel = label
	default:
		c.RootOther = append(c.RootOther, v)
	}
	return nil
}

func (c *Config) parseBreak(v string) error {
	stage := v
	if stage == "" {
		c.Break = StagePremount
		return nil
	}
	if a, ok := breakAliases[stage]; ok {
		stage = a
	}
	if !slices.Contains(BreakStages, stage) {
		return &ParamError{Param: "break", Value: v, Reason: "unknown stage",
			Expected: "break (= premount) or break=" + strings.Join(BreakStages, "|") + " (bottom = init)"}
	}
	c.Break = stage
	return nil
}

func (c *Config) parseAufs(v string) error {
	switch {
	case v == "tmpfs":
		c.Upper, c.TmpfsSize = UpperTmpfs, ""
	case v == "iscsi":
		c.Upper, c.TmpfsSize = UpperISCSI, ""
	case strings.HasPrefix(v, "tmpfs:"):
		size := strings.TrimPrefix(v, "tmpfs:")
		if !validTmpfsSize(size) {
			return &ParamError{Param: "aufs", Value: v,
				Reason: fmt.Sprintf("size %q is not digits with an optional k, m, g suffix or N%%", size), Expected: aufsForm}
		}
		c.Upper, c.TmpfsSize = UpperTmpfs, size
	default:
		return &ParamError{Param: "aufs", Value: v, Expected: aufsForm}
	}
	return nil
}

// validTmpfsSize accepts what tmpfs's size= takes: digits with an optional
// k/m/g (either case) suffix, or a percentage of RAM.
func validTmpfsSize(s string) bool {
	if s == "" {
		return false
	}
	if strings.ContainsRune("kKmMgG%", rune(s[len(s)-1])) {
		s = s[:len(s)-1]
	}
	return allDigits(s) && len(s) <= 18
}

func (c *Config) parseSidus(key, v string) error {
	name := strings.TrimPrefix(key, "sidus.")
	if name == "test" || strings.HasPrefix(name, "test.") {
		return nil // sidus.test*: reserved for the booted root (the test harness's root reads them)
	}
	for _, o := range sidusOptions {
		if o.key != name {
			continue
		}
		if !slices.Contains(o.values, v) {
			return &ParamError{Param: key, Value: v, Expected: key + "=" + strings.Join(o.values, "|")}
		}
		c.Sidus[name] = v
		return nil
	}
	var known []string
	for _, o := range sidusOptions {
		known = append(known, "sidus."+o.key+"="+strings.Join(o.values, "|"))
	}
	return &ParamError{Param: key, Value: v, Reason: "unknown sidus option", Expected: "one of " + strings.Join(known, ", ")}
}

// parseNFSRoot parses nfsroot=[server:][path][,options].
func (c *Config) parseNFSRoot(v string) error {
	c.RootIsNFS = true
	c.NFSServer, c.NFSPath, c.NFSOptions, c.NFSVersion = "", "", nil, ""
	head, opts, hasOpts := strings.Cut(v, ",")
	server, path, err := splitServerPath(head)
	if err != nil {
		return &ParamError{Param: "nfsroot", Value: v, Reason: err.Error(), Expected: nfsrootForm}
	}
	c.NFSServer, c.NFSPath = server, path
	if !hasOpts {
		return nil
	}
	for _, o := range strings.Split(opts, ",") {
		if o == "" {
			continue // the kernel skips empty options too
		}
		bad := func(reason, expected string) error {
			return &ParamError{Param: "nfsroot", Value: v, Reason: fmt.Sprintf("option %q: %s", o, reason), Expected: expected}
		}
		name, val, hasEq := strings.Cut(o, "=")
		if !validOptionName(name) {
			return bad("option name must be non-empty letters, digits, '_' or '-'", "options of the form name or name=value, e.g. nfsroot=,rsize=8192,tcp")
		}
		switch {
		case name == "tcp" || name == "udp":
			if hasEq {
				return bad(name+" takes no value", name+" or proto="+name)
			}
			o = "proto=" + name
		case name == "vers" || name == "nfsvers":
			switch val {
			case "3", "4", "4.0", "4.1", "4.2":
				c.NFSVersion = val
				continue
			case "2":
				return bad("NFSv2 is not supported (modern kernels lack it)", name+"=3|4|4.0|4.1|4.2")
			}
			return bad("unknown NFS version", name+"=3|4|4.0|4.1|4.2")
		case slices.Contains(nfsNumericOptions, name):
			if n, err := strconv.ParseUint(val, 10, 32); err != nil || n == 0 || !allDigits(val) {
				return bad(name+" needs a positive integer", name+"=<positive integer>, e.g. "+name+"=8192")
			}
		}
		c.NFSOptions = append(c.NFSOptions, o)
	}
	return nil
}

func validOptionName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// splitServerPath splits "[server:][/path]". An empty server or path is
// left empty. The path, if any, must be absolute.
func splitServerPath(s string) (server, path string, err error) {
	if s == "" {
		return "", "", nil
	}
	if !strings.HasPrefix(s, "/") {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return "", "", fmt.Errorf("%q is neither server: nor an absolute path", s)
		}
		server, s = s[:i], s[i+1:]
		if server != "" {
			if err := checkServer(server); err != nil {
				return "", "", err
			}
		}
	}
	if s != "" && !strings.HasPrefix(s, "/") {
		return "", "", fmt.Errorf("path %q is not absolute", s)
	}
	return server, s, nil
}

// checkServer accepts an IPv4 address or a host name.
func checkServer(s string) error {
	if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
		return nil
	}
	if strings.Trim(s, "0123456789.") == "" {
		return fmt.Errorf("server %q is not an IPv4 address", s)
	}
	if !validHostname(s) {
		return fmt.Errorf("server %q is neither an IPv4 address nor a host name", s)
	}
	return nil
}

// validHostname checks RFC 1123 host name syntax.
func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			b := l[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-') {
				return false
			}
		}
	}
	return true
}

// parseIPParam parses ip= (kernel Documentation/admin-guide/nfs/nfsroot.rst).
func parseIPParam(v string) (IPConfig, error) {
	switch v {
	case "", "dhcp", "on", "any", "both", "bootp":
		return IPConfig{Mode: IPDHCP}, nil
	case "off", "none":
		return IPConfig{Mode: IPOff}, nil
	}
	bad := func(reason string) error {
		return &ParamError{Param: "ip", Value: v, Reason: reason, Expected: ipForm}
	}
	f := strings.Split(v, ":")
	if len(f) > 10 {
		return IPConfig{}, bad(fmt.Sprintf("%d fields, at most 10 (<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>:<dns1>:<ntp0>)", len(f)))
	}
	f = append(f, make([]string, 10-len(f))...)
	var ipc IPConfig
	addr := func(field, s string) (net.IP, error) {
		if s == "" {
			return nil, nil
		}
		ip := net.ParseIP(s).To4()
		if ip == nil || strings.Contains(s, ":") {
			return nil, bad(fmt.Sprintf("%s address %q is not an IPv4 address", field, s))
		}
		return ip, nil
	}
	var err error
	if ipc.Client, err = addr("client", f[0]); err != nil {
		return IPConfig{}, err
	}
	if ipc.Server, err = addr("server", f[1]); err != nil {
		return IPConfig{}, err
	}
	if ipc.Gateway, err = addr("gateway", f[2]); err != nil {
		return IPConfig{}, err
	}
	if f[3] != "" {
		if allDigits(f[3]) {
			n, _ := strconv.Atoi(f[3])
			if len(f[3]) > 2 || n > 32 {
				return IPConfig{}, bad(fmt.Sprintf("netmask %q: a prefix length must be 0 to 32", f[3]))
			}
			ipc.Netmask = net.CIDRMask(n, 32)
		} else {
			ip := net.ParseIP(f[3]).To4()
			m := net.IPMask(ip)
			if _, bits := m.Size(); ip == nil || bits == 0 {
				return IPConfig{}, bad(fmt.Sprintf("netmask %q is neither a dotted mask like 255.255.255.0 nor a prefix length like 24", f[3]))
			}
			ipc.Netmask = m
		}
	}
	if h := f[4]; h != "" {
		if len(h) > 64 || strings.IndexFunc(h, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' }) >= 0 {
			return IPConfig{}, bad(fmt.Sprintf("hostname %q must be at most 64 printable characters without spaces", h))
		}
		ipc.Hostname = h
	}
	if d := f[5]; d != "" {
		if len(d) > 15 || d == "." || d == ".." || strings.IndexFunc(d, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' || r == '"' }) >= 0 {
			return IPConfig{}, bad(fmt.Sprintf("device %q is not an interface name (at most 15 characters, no '/' or spaces)", d))
		}
		ipc.Device = d
	}
	for i, s := range f[7:9] {
		ip, err := addr(fmt.Sprintf("dns%d", i), s)
		if err != nil {
			return IPConfig{}, err
		}
		if ip != nil {
			ipc.DNS = append(ipc.DNS, ip)
		}
	}
	if ipc.NTP, err = addr("ntp0", f[9]); err != nil {
		return IPConfig{}, err
	}
	switch f[6] {
	case "dhcp", "on", "any", "both", "bootp":
		ipc.Mode = IPDHCP
	case "", "off", "none":
		switch {
		case ipc.Client != nil:
			ipc.Mode = IPStatic
		case f[6] == "":
			ipc.Mode = IPDHCP // no address and no autoconf: ask DHCP
		default:
			ipc.Mode = IPOff
		}
	default:
		return IPConfig{}, bad(fmt.Sprintf("autoconf %q is not one of dhcp, on, any, both, bootp, off, none", f[6]))
	}
	return ipc, nil
}

// parseBootIF parses pxelinux's BOOTIF=01-aa-bb-cc-dd-ee-ff (IPAPPEND 2),
// also without the 01- hardware type and with colons.
func parseBootIF(v string) (net.HardwareAddr, error) {
	parts := strings.Split(strings.ReplaceAll(v, ":", "-"), "-")
	if len(parts) == 7 && parts[0] == "01" {
		parts = parts[1:]
	}
	bad := &ParamError{Param: "BOOTIF", Value: v, Reason: "not an Ethernet MAC address", Expected: bootifForm}
	if len(parts) != 6 {
		return nil, bad
	}
	mac := make(net.HardwareAddr, 6)
	for i, p := range parts {
		if len(p) != 2 {
			return nil, bad
		}
		b, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return nil, bad
		}
		mac[i] = byte(b)
	}
	if mac[0]&1 != 0 { // a NIC's own address is never multicast: most likely an octet is missing after 01-
		bad.Reason = "a multicast address, not a NIC's address (an octet missing?)"
		return nil, bad
	}
	return mac, nil
}

// parseNetroot parses dracut's
// netroot=iscsi:[user:pass[:inuser:inpass]@]<ip>:[<proto>]:[<port>]:[<lun>]:<target>
// into c.ISCSI. The target name may itself contain ':'.
func (c *Config) parseNetroot(v string) error {
	bad := func(shown, reason string) error {
		return &ParamError{Param: "netroot", Value: shown, Reason: reason, Expected: netrootForm}
	}
	if v == "iscsi" {
		return bad(v, "no target (taking it from DHCP's root-path is not supported)")
	}
	rest, _ := strings.CutPrefix(v, "iscsi:")
	shown := v
	set := map[string]string{}
	if user, after, ok := strings.Cut(rest, "@"); ok {
		shown = "iscsi:***@" + after
		rest = after
		cred := strings.Split(user, ":")
		switch len(cred) {
		case 2:
			set[ISCSIUsername], set[ISCSIPassword] = cred[0], cred[1]
		case 4:
			set[ISCSIUsername], set[ISCSIPassword] = cred[0], cred[1]
			set[ISCSIInUsername], set[ISCSIInPassword] = cred[2], cred[3]
		default:
			return bad(shown, "credentials must be <user>:<password> or <user>:<password>:<in-user>:<in-password>")
		}
	}
	var server string
	if strings.HasPrefix(rest, "[") { // [IPv6]
		end := strings.IndexByte(rest, ']')
		if end < 0 || !strings.HasPrefix(rest[end+1:], ":") {
			return bad(shown, "unterminated [address]")
		}
		server, rest = rest[1:end], rest[end+2:]
	} else {
		var ok bool
		if server, rest, ok = strings.Cut(rest, ":"); !ok {
			return bad(shown, "too few fields")
		}
	}
	f := strings.SplitN(rest, ":", 4)
	if len(f) != 4 {
		return bad(shown, "too few fields")
	}
	proto, port, lun, target := f[0], f[1], f[2], f[3]
	if proto != "" && proto != "6" {
		return bad(shown, fmt.Sprintf("protocol %q: only 6 (TCP) or empty is supported", proto))
	}
	if port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || !allDigits(port) {
			return bad(shown, fmt.Sprintf("port %q is not a number from 1 to 65535", port))
		}
	}
	if lun != "" && (!allDigits(lun) || len(lun) > 5) {
		return bad(shown, fmt.Sprintf("LUN %q is not a number", lun))
	}
	if target == "" {
		return bad(shown, "empty target name")
	}
	set[ISCSITargetIP], set[ISCSITargetName] = server, target
	if port != "" {
		set[ISCSITargetPort] = port
	}
	if lun != "" {
		set[ISCSILUN] = lun
	}
	for k, x := range set {
		c.ISCSI[k] = x
	}
	return nil
}

// ResolveNFS fills in what nfsroot= left to DHCP, as the kernel does: an
// empty server becomes the server of a root-path (option 17) of the form
// server:/path, else siaddr (next-server), else the DHCP server identifier;
// an empty path becomes root-path's path, else /tftpboot/%s. Every %s in
// the path is replaced by clientIP. Options after a ',' in root-path are
// ignored (give them in nfsroot=). "0.0.0.0" counts as absent.
func (c *Config) ResolveNFS(dhcpServer, siaddr, rootPath, clientIP string) (server, path string, err error) {
	server, path = c.NFSServer, c.NFSPath
	if path == "" && rootPath != "" {
		head, _, _ := strings.Cut(rootPath, ",")
		rs, rp, err := splitServerPath(head)
		if err != nil {
			return "", "", &ParamError{Param: "nfsroot", Reason: fmt.Sprintf("DHCP root-path (option 17) %q: %v", rootPath, err),
				Expected: "a root-path of the form [<server>:]/<path>, or set nfsroot=SERVER:/path"}
		}
		if server == "" {
			server = rs
		}
		path = rp
	}
	for _, s := range []string{siaddr, dhcpServer} {
		if server == "" && s != "0.0.0.0" {
			server = s
		}
	}
	if server == "" {
		return "", "", &ParamError{Param: "nfsroot",
			Reason: "no NFS server: nfsroot= has none and DHCP gave no next-server or root-path; set nfsroot=SERVER:/path"}
	}
	if path == "" {
		path = "/tftpboot/%s"
	}
	if strings.Contains(path, "%s") {
		if clientIP == "" {
			return "", "", &ParamError{Param: "nfsroot", Reason: fmt.Sprintf("path %q needs the client address for %%s but it is unknown", path),
				Expected: "nfsroot=SERVER:/path without %s, or an ip= / DHCP address"}
		}
		path = strings.ReplaceAll(path, "%s", clientIP)
	}
	return server, path, nil
}

// NFSMountOptions builds the data string for mount(2) of the NFS root at
// NFS version version ("" = c.NFSVersion; if that is empty too no vers= is
// added). It is the nfsroot= options, then vers=, addr=server, for v4
// clientaddr=clientIP, and for v3 nolock (no lockd in the initramfs) and
// mountproto=tcp when proto=tcp. An option the user gave is never
// overridden. No "ro": the caller mounts with MS_RDONLY.
func (c *Config) NFSMountOptions(server, clientIP, version string) string {
	if version == "" {
		version = c.NFSVersion
	}
	opts := slices.Clone(c.NFSOptions)
	has := func(names ...string) bool {
		for _, o := range c.NFSOptions {
			n, _, _ := strings.Cut(o, "=")
			if slices.Contains(names, n) {
				return true
			}
		}
		return false
	}
	proto := ""
	for _, o := range c.NFSOptions {
		if p, ok := strings.CutPrefix(o, "proto="); ok {
			proto = p
		}
	}
	if version != "" {
		opts = append(opts, "vers="+version)
	}
	if server != "" && !has("addr") {
		opts = append(opts, "addr="+server)
	}
	switch {
	case version == "4" || strings.HasPrefix(version, "4."):
		if clientIP != "" && !has("clientaddr") {
			opts = append(opts, "clientaddr="+clientIP)
		}
	case version == "3" || version == "2":
		if !has("lock", "nolock") {
			opts = append(opts, "nolock")
		}
		if proto == "tcp" && !has("mountproto") {
			opts = append(opts, "mountproto=tcp")
		}
	}
	return strings.Join(opts, ",")
}

// canonicalCmdline renders c as a command line that Parse turns back into
// c (except Raw and ISCSI values that came from the environment, which it
// renders as parameters). It includes iSCSI passwords: do not log it.
func (c *Config) canonicalCmdline() string {
	var w []string
	add := func(key, val string) { w = append(w, key+"="+quoteCmdlineValue(val)) }
	if c.RootIsNFS {
		add("root", "/dev/nfs")
	}
	if c.NFSServer != "" || c.NFSPath != "" || len(c.NFSOptions) > 0 || c.NFSVersion != "" {
		v := c.NFSPath
		if c.NFSServer != "" {
			v = c.NFSServer + ":" + v
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
	if ip := ipParamString(c.IP); ip != "dhcp" {
		add("ip", ip)
	}
	if len(c.BootIF) > 0 {
		add("BOOTIF", "01-"+strings.ReplaceAll(c.BootIF.String(), ":", "-"))
	}
	switch {
	case c.Upper == UpperISCSI:
		add("aufs", "iscsi")
	case c.TmpfsSize != "":
		add("aufs", "tmpfs:"+c.TmpfsSize)
	}
	if c.RootDelay > 0 {
		add("rootdelay", strconv.Itoa(int(c.RootDelay/time.Second)))
	}
	if c.Init != "" {
		add("init", c.Init)
	}
	if c.PanicSet {
		add("panic", strconv.Itoa(c.Panic))
	}
	if c.Break != "" {
		add("break", c.Break)
	}
	if !c.ReadOnly {
		w = append(w, "rw")
	}
	for _, con := range c.Consoles {
		add("console", con)
	}
	for _, k := range sortedParamKeys(c.ISCSI) {
		add(k, c.ISCSI[k])
	}
	for _, k := range sortedParamKeys(c.Sidus) {
		add("sidus."+k, c.Sidus[k])
	}
	if len(c.InitArgs) > 0 {
		w = append(w, "--")
		for _, a := range c.InitArgs {
			if a == "" {
				a = `""`
			}
			w = append(w, quoteCmdlineValue(a))
		}
	}
	return strings.Join(w, " ")
}

func sortedParamKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// quoteCmdlineValue quotes v if it holds white space.
// v must not contain a double quote (Parse rejects those).
func quoteCmdlineValue(v string) string {
	for i := 0; i < len(v); i++ {
		if isCmdlineSpace(v[i]) {
			return `"` + v + `"`
		}
	}
	return v
}

// ipParamString renders ipc in ip= syntax: "dhcp", "off" or the
// colon-separated form.
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
	f := []string{str(ipc.Client), str(ipc.Server), str(ipc.Gateway), "", ipc.Hostname, ipc.Device, autoconf, "", "", str(ipc.NTP)}
	if ipc.Netmask != nil {
		f[3] = net.IP(ipc.Netmask).String()
	}
	for i, d := range ipc.DNS {
		if i < 2 {
			f[7+i] = str(d)
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
