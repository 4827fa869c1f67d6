// Package cmdline turns what the kernel hands /init (the command line of
// /proc/cmdline, the arguments and the environment) into a typed Config.
// It is pure: it does no I/O and reads no globals, so the init's Main
// reads those and calls Parse, and tests and the fuzzer call Parse alone
// (like u-root's pkg/cmdline).
//
// It reads the command lines users already write for other initramfs:
// the kernel's Documentation/admin-guide/nfs/nfsroot.rst (nfsroot=, ip=,
// nfsaddrs=) and init/main.c (the words after "--"); initramfs-tools
// (initramfs-tools(7): nfsroot=auto, break=, rootdelay=, panic=, BOOTIF=);
// dracut (dracut.cmdline(7): root=nfs:, root=nfs4:, root=dhcp,
// root=iscsi:, netroot=iscsi:, rd.iscsi.*, ip=<dev>:dhcp, bootdev=,
// ifname=, bond=, vlan=, rd.break=, rd.shell, rd.retry=); pxelinux
// (IPAPPEND 1 ip=, BOOTIF=); open-iscsi (ISCSI_*, iscsi_*, iscsi_auto);
// cloud-initramfs-tools' overlayroot=. testdata/cmdline/dialects.tsv holds
// examples of each, with their source and meaning. What cannot be
// honoured is parsed with its nearest meaning and a Config.Warnings line.
// SIDUS's own root=rbd:, root=cephfs: and sidus.image= (lower.go) choose
// a shared root other than the NFS export.
package cmdline

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sidus-go/sidus/iscsi"
)

// Boot stages, in order. break=<stage> opens the rescue shell just before
// the stage runs. initramfs.Boot runs its steps under these names (a test
// there compares its table with BreakStages).
const (
	StageModules  = "modules"  // load the kernel modules
	StageNetwork  = "network"  // bring up the NIC, DHCP or static ip=
	StageNFS      = "nfs"      // mount the NFS root (or another shared root, lower.go) read-only
	StagePremount = "premount" // mount the writable layer (before the union); bare "break" stops here
	StageUnion    = "union"    // stack the read-only and writable layers
	StageInit     = "init"     // just before switch_root and exec init=
)

// BreakStages lists the stages break= accepts, in boot order.
var BreakStages = []string{StageModules, StageNetwork, StageNFS, StagePremount, StageUnion, StageInit}

// breakAliases maps the other break= names to the nearest of our stages,
// that is the stage before which the same work is still to be done.
//
// initramfs-tools (init, initramfs-tools(7)): top (before init-top) and
// modules (before load_modules) come before anything: modules. Its
// premount (init-premount, before the root mount) keeps our premount, since
// our names must parse to themselves. mount and mountroot come before the
// root mount, which for an NFS root starts with ipconfig: network. bottom
// (init-bottom) comes after the NFS root is mounted and before the scripts
// that build the writable layer (SIDUS 2013's rootaufs was one): premount.
// init (before run-init): init.
var breakAliases = map[string]string{
	"top": StageModules, "mount": StageNetwork, "mountroot": StageNetwork, "bottom": StagePremount,
}

// rdBreakAliases maps dracut's rd.break= names (dracut.cmdline(7)) to ours.
// cmdline, pre-udev and pre-trigger come before udev loads the drivers:
// modules. initqueue brings up the network and the netroot: network.
// pre-mount and mount come before the root is mounted: nfs. pre-pivot comes
// after the root is mounted, before the overlays and the pivot: premount.
// cleanup is the last step before switch_root: init. A bare rd.break drops
// to a shell "at the end": init.
var rdBreakAliases = map[string]string{
	"cmdline": StageModules, "pre-udev": StageModules, "pre-trigger": StageModules,
	"initqueue": StageNetwork, "pre-mount": StageNFS, "mount": StageNFS,
	"pre-pivot": StagePremount, "cleanup": StageInit,
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

// Accepted forms, quoted in error messages.
const (
	nfsrootForm     = "nfsroot=auto|[<server>[,<server>...]:][/<path>][,<option>[=<value>],...]"
	rootNFSForm     = "root=nfs:[<server>[,<server>...]:]/<path>[:<options>], root=nfs4:..., root=<server>[,<server>...]:/<path>[,<options>], root=dhcp, root=/dev/nfs or root=LABEL=<label>"
	ipForm          = "ip=dhcp|on|any|off|none|<device>:dhcp[:<mtu>[:<mac>]]|<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>[:<dns0>:<dns1>:<ntp0>|:<mtu>[:<mac>]]"
	aufsForm        = "aufs=tmpfs, aufs=tmpfs:SIZE (e.g. 2G or 50%) or aufs=iscsi"
	overlayrootForm = "overlayroot=tmpfs[:<opts>], overlayroot=device:dev=/dev/<disk>|LABEL=<label>|UUID=<uuid>[,timeout=<seconds>], overlayroot=/dev/<disk> or overlayroot=disabled"
	netrootForm     = "netroot=iscsi:[<user>:<password>[:<in-user>:<in-password>]@]<target-ip>:[6]:[<port>]:[[<iface>:]<netdev>:][<lun>]:<target-name>"
	bootifForm      = "BOOTIF=01-aa-bb-cc-dd-ee-ff (or aa:bb:cc:dd:ee:ff)"
	bondForm        = "bond=<name>[:<slave>,<slave>...[:<option>=<value>,...[:<mtu>]]], e.g. bond=bond0:eth0,eth1:mode=active-backup,miimon=100"
	vlanForm        = "vlan=<name>:<parent>, the name vlan0005, vlan5, <parent>.0005 or <parent>.5 giving VLAN ID 5"
	boolForm        = "%s, %s=1|yes|on|true or %s=0|no|off|false"
	quoteForm       = `double quotes only around a whole value, e.g. key="a b"`
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

// Parse builds a Config from what the kernel hands /init: its command line
// (/proc/cmdline), its arguments (argv[1:]) and its environment ("KEY=value"
// strings). It does no I/O.
//
// Unknown parameters are ignored. A known parameter whose value makes the
// boot impossible (a malformed address, aufs=bogus) is a *ParamError; a
// known form that can only be approximated (ip=rarp, overlayroot=crypt:...)
// is parsed with its nearest meaning and a line in Config.Warnings. The
// words after "--" belong to init=, not to Parse; args become InitArgs.
// iSCSI values are read from environ first and the command line overrides
// them. For a parameter given twice the last one wins, except those that
// add up: root= (each other value is recorded), ip= (one per device),
// break=/rd.break=, netroot=iscsi:, bond=, vlan=, ifname=.
func Parse(cmdline string, args, environ []string) (*Config, error) {
	c := &Config{
		IP:       IPConfig{Mode: IPDHCP},
		Upper:    UpperTmpfs,
		Lower:    LowerNFS,
		InitArgs: slices.Clone(args),
		ISCSI:    map[string]string{},
		Sidus:    map[string]string{},
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		canon, known := iscsi.Canonicalize(k)
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
	p := &parser{c: c}
	toks := tokenize(cmdline)
	for i, t := range toks {
		if t.isDashes() {
			if err := checkInitWords(toks[i+1:]); err != nil {
				return nil, err
			}
			break
		}
		if err := p.applyWord(t); err != nil {
			return nil, err
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// parser is Parse's state: the Config being built and what is only known
// once every word is read.
type parser struct {
	c             *Config
	noBootIF      bool // rd.bootif=0
	breaks        map[string]bool
	mkfs          bool   // overlayroot=device:...,mkfs=1 (the last overlayroot= says so)
	sidusFormat   bool   // sidus.format= given
	iscsiParam    string // the first word that asked for iSCSI (netroot=iscsi..., rd.iscsi.firmware, ...)
	writableParam string // the last aufs=/overlayroot= word
}

// warn records an approximation: "param=value: message".
func (p *parser) warn(key, shown, format string, args ...any) {
	s := key
	if shown != "" {
		s += "=" + shown
	}
	p.c.Warnings = append(p.c.Warnings, s+": "+fmt.Sprintf(format, args...))
}

func (p *parser) askISCSI(key, v string) {
	if p.iscsiParam == "" {
		p.iscsiParam = key
		if v != "" {
			p.iscsiParam += "=" + v
		}
	}
}

// finish applies what depends on the whole line; its error is a
// combination of parameters that cannot boot.
func (p *parser) finish() error {
	c := p.c
	p.finishIP()
	if p.noBootIF {
		c.BootIF = nil
	}
	for _, s := range BreakStages {
		if p.breaks[s] {
			c.Breaks = append(c.Breaks, s)
		}
	}
	if len(c.Breaks) > 0 {
		c.Break = c.Breaks[0]
	}
	if p.mkfs && c.Upper == UpperDevice && !p.sidusFormat {
		c.Sidus["format"] = "empty"
	}
	if p.iscsiParam != "" && c.Upper != UpperISCSI {
		how := "by default"
		if p.writableParam != "" {
			how = "per " + p.writableParam
		}
		p.warn(p.iscsiParam, "", "an iSCSI target is configured but the writable layer is %s (%s); add aufs=iscsi to keep the node's changes on it", c.Upper, how)
	}
	return p.finishLower()
}

// checkInitWords rejects a stray double quote in the words after "--": the
// kernel would have joined the words up to the next quote.
func checkInitWords(toks []token) error {
	for _, a := range toks {
		arg := a.key
		if a.hasVal {
			arg += "=" + a.val
		}
		if a.unterminated || strings.Contains(arg, `"`) {
			return &ParamError{Param: "--", Value: arg,
				Reason: "init argument has a stray or unterminated double quote", Expected: quoteForm}
		}
	}
	return nil
}

// PanicTimeout returns the value of the last well-formed panic= before "--"
// and whether there is one. It applies Parse's rule for panic= to the
// panic= words alone, so it answers for a line Parse rejects too: PID 1
// reads it first, and a fatal error (a malformed line included) reboots
// as the operator asked. A malformed panic= is skipped, as the kernel's
// own parser skips it (Parse reports it).
func PanicTimeout(cmdline string) (seconds int, ok bool) {
	for _, t := range tokenize(cmdline) {
		if t.isDashes() {
			break
		}
		if t.key != "panic" || t.unterminated {
			continue
		}
		if n, err := parsePanic(t.key, t.val); err == nil {
			seconds, ok = n, true
		}
	}
	return seconds, ok
}

func parsePanic(key, v string) (int, error) {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || !allDigits(strings.TrimPrefix(v, "-")) {
		return 0, &ParamError{Param: key, Value: v, Expected: "panic=<seconds>, an integer: >0 reboot after that many seconds, 0 wait, <0 reboot at once"}
	}
	return int(n), nil
}

// handler acts on one parameter; it gets the key as written and the
// unquoted value ("" for a bare word).
type handler func(p *parser, key, v string) error

// params is the one table of the command-line parameters Parse acts on
// (besides the iSCSI names iscsi.Canonicalize knows and sidus.*).
var params = map[string]handler{
	// NFS root and root= (nfs.go).
	"nfsroot": (*parser).parseNFSRoot,
	"root":    (*parser).parseRoot,
	// Shared roots other than the NFS export (lower.go; their sidus.*
	// options are in lowerSidus).
	"rootfstype": (*parser).parseRootFSType,
	// Network (ip.go, netdev.go).
	"ip":       (*parser).parseIP,
	"nfsaddrs": (*parser).parseIP, // the kernel's old name of ip=
	"BOOTIF":   (*parser).parseBootIF,
	"bootif":   (*parser).parseBootIF,
	"hwaddr":   (*parser).parseBootIF, // initramfs-tools' alias of BOOTIF=
	"rd.bootif": func(p *parser, key, v string) error {
		on, err := p.parseBool(key, v)
		p.noBootIF = !on
		return err
	},
	"bootdev": func(p *parser, key, v string) error {
		if !validIfName(v) {
			return &ParamError{Param: key, Value: v, Reason: "not an interface name", Expected: "bootdev=<interface>, e.g. bootdev=eth0"}
		}
		p.c.BootDev = v
		return nil
	},
	"ifname": (*parser).parseIfName,
	"bond":   (*parser).parseBond,
	"team":   (*parser).parseTeam,
	"vlan":   (*parser).parseVLAN,
	"bridge": func(p *parser, key, v string) error {
		p.warn(key, v, "bridges are not supported; ignored (give ip= for the port itself)")
		return nil
	},
	// Writable layer (upper.go).
	"aufs":        (*parser).parseAufs,
	"overlayroot": (*parser).parseOverlayroot,
	// iSCSI (netroot.go).
	"netroot":   (*parser).parseNetroot,
	"iscsiroot": (*parser).parseISCSIRoot,
	"iscsi_auto": func(p *parser, key, v string) error {
		p.c.ISCSIFirmware, p.c.IBFTNetwork = true, true
		p.askISCSI(key, v)
		return nil
	},
	"iscsi_firmware":    (*parser).parseISCSIFirmware,
	"rd.iscsi.firmware": (*parser).parseISCSIFirmware,
	"rd.iscsi.ibft": func(p *parser, key, v string) error {
		on, err := p.parseBool(key, v)
		p.c.IBFTNetwork = on
		return err
	},
	"rd.iscsi.waitnet":   (*parser).parseISCSINoop,
	"rd.iscsi.testroute": (*parser).parseISCSINoop,
	"rd.iscsi.mp": func(p *parser, key, v string) error {
		if on, err := p.parseBool(key, v); on && err == nil {
			p.warn(key, v, "multipath over every iBFT interface is not supported; only the boot interface is configured")
		}
		return nil
	},
	"rd.iscsi.param": func(p *parser, key, v string) error {
		p.warn(key, v, "iscsistart --param is not supported; ignored")
		return nil
	},
	"rd.iscsi.login_retry_max": func(p *parser, key, v string) error {
		p.warn(key, v, "ignored: the login is retried as sidus.iscsi.fallback= says")
		return nil
	},
	"rd.iscsi.transport": func(p *parser, key, v string) error {
		switch v {
		case "", "tcp", "iscsi_tcp":
		default:
			p.warn(key, v, "offload transports are not supported; the software iscsi_tcp transport is used over the configured network")
		}
		return nil
	},
	// Boot control.
	"rootdelay":    parseRootDelay,
	"nfsrootdelay": parseRootDelay,
	"rd.retry":     parseRootDelay, // dracut: how long the initqueue retries to find the root
	"rd_retry":     parseRootDelay, // dracut's old name
	"init": func(p *parser, key, v string) error {
		if !strings.HasPrefix(v, "/") {
			return &ParamError{Param: key, Value: v, Reason: "not an absolute path", Expected: "init=/absolute/path, e.g. init=/sbin/init"}
		}
		p.c.Init = v
		return nil
	},
	// panic= is only checked here: PID 1 reads it with PanicTimeout, which
	// works on a line Parse rejects.
	"panic": func(_ *parser, key, v string) error { _, err := parsePanic(key, v); return err },
	"break": func(p *parser, key, v string) error {
		return p.parseBreak(key, v, breakAliases, rdBreakAliases, StagePremount)
	},
	"rd.break": func(p *parser, key, v string) error {
		return p.parseBreak(key, v, rdBreakAliases, breakAliases, StageInit)
	},
	"rdbreak": func(p *parser, key, v string) error {
		return p.parseBreak(key, v, rdBreakAliases, breakAliases, StageInit)
	},
	"rd.shell": (*parser).parseShell,
	"rdshell":  (*parser).parseShell,
	// console= is the kernel's; it is known here so that a stray quote in
	// it, which swallows the words after it, is reported.
	"console": func(*parser, string, string) error { return nil },
}

func parseRootDelay(p *parser, key, v string) error {
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil || !allDigits(v) {
		return &ParamError{Param: key, Value: v, Expected: key + "=<seconds>, a non-negative integer, e.g. " + key + "=30"}
	}
	p.c.RootDelay = time.Duration(n) * time.Second
	return nil
}

// applyWord records one command-line word. A known parameter given without
// '=' is handled as if its value were empty.
func (p *parser) applyWord(t token) error {
	key, v := t.key, t.val
	canon, isISCSI := iscsi.Canonicalize(key)
	isSidus := strings.HasPrefix(key, "sidus.")
	h := params[key]
	if !isISCSI && !isSidus && h == nil {
		return nil // initrd=, BOOT_IMAGE= and unknown words
	}
	if t.unterminated || strings.Contains(v, `"`) {
		return &ParamError{Param: key, Value: redactSecret(canon, v),
			Reason: "stray or unterminated double quote", Expected: quoteForm}
	}
	switch {
	case isISCSI:
		if t.hasVal { // a bare ISCSI_X is an init argument, not a variable
			p.c.ISCSI[canon] = v
		}
		return nil
	case isSidus:
		return p.parseSidus(key, v)
	}
	return h(p, key, v)
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

// redactSecret hides the values of secret iSCSI parameters in error messages.
func redactSecret(canon, v string) string {
	if iscsi.IsSecret(canon) && v != "" {
		return "***"
	}
	return v
}

// parseBool reads a dracut boolean (getargbool): a bare word, 1, yes, on,
// true are true; 0, no, off, false are false. Another value is true, as
// dracut reads it, with a warning.
func (p *parser) parseBool(key, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "1", "yes", "on", "true", "y":
		return true, nil
	case "0", "no", "off", "false", "n":
		return false, nil
	}
	p.warn(key, v, "not a boolean (%s); taken as true, as dracut does", fmt.Sprintf(boolForm, key, key, key))
	return true, nil
}

func (p *parser) parseShell(key, v string) error {
	on, err := p.parseBool(key, v)
	p.c.RescueShell = &on
	return err
}

// parseBreak adds the stages of break=/rd.break=: a comma-separated list of
// our names or the other tools' names (own first, then other), or nothing
// (def).
func (p *parser) parseBreak(key, v string, own, other map[string]string, def string) error {
	if p.breaks == nil {
		p.breaks = map[string]bool{}
	}
	if v == "" {
		p.breaks[def] = true
		return nil
	}
	for _, name := range strings.Split(v, ",") {
		stage := name
		if a, ok := own[name]; ok {
			stage = a
		} else if a, ok := other[name]; ok {
			stage = a
		}
		if !slices.Contains(BreakStages, stage) {
			return &ParamError{Param: key, Value: v, Reason: fmt.Sprintf("unknown stage %q", name),
				Expected: key + " or " + key + "=" + strings.Join(BreakStages, "|") + "[,...], or an initramfs-tools (top, mount, mountroot, bottom) or dracut (cmdline, pre-udev, pre-trigger, initqueue, pre-mount, pre-pivot, cleanup) name"}
		}
		p.breaks[stage] = true
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

func (p *parser) parseSidus(key, v string) error {
	c := p.c
	name := strings.TrimPrefix(key, "sidus.")
	if name == "test" || strings.HasPrefix(name, "test.") {
		return nil // sidus.test*: reserved for the booted root (the test harness's root reads them)
	}
	if known, err := p.parseLowerSidus(key, name, v); known {
		return err
	}
	switch name {
	case "live", "shared":
		check := parseLive
		if name == "shared" {
			check = parseShared
		}
		if err := check(key, v); err != nil {
			return err
		}
		c.Sidus[name] = v
		return nil
	}
	if name == "iscsi.recovery" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return &ParamError{Param: key, Value: v, Expected: key + "=SECONDS (a whole number of seconds; 0: keep I/O queued for as long as the agent reconnects)"}
		}
		c.Sidus[name] = v
		return nil
	}
	for _, o := range sidusOptions {
		if o.key != name {
			continue
		}
		if !slices.Contains(o.values, v) {
			return &ParamError{Param: key, Value: v, Expected: key + "=" + strings.Join(o.values, "|")}
		}
		c.Sidus[name] = v
		if name == "format" {
			p.sidusFormat = true
		}
		return nil
	}
	var known []string
	for _, o := range sidusOptions {
		known = append(known, "sidus."+o.key+"="+strings.Join(o.values, "|"))
	}
	known = append(known, "sidus.iscsi.recovery=SECONDS", liveForm, sharedForm)
	for _, o := range lowerSidus {
		known = append(known, o.form)
	}
	return &ParamError{Param: key, Value: v, Reason: "unknown sidus option", Expected: "one of " + strings.Join(known, ", ")}
}

// On reports whether the sidus.<option> that turns a step on or off
// (hostname, resolv, fstab, netprotect) is not "off".
func (c *Config) On(option string) bool { return c.Sidus[option] != "off" }
