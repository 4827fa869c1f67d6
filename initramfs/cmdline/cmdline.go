// Package cmdline turns what the kernel hands /init (the command line of
// /proc/cmdline, the arguments and the environment) into a typed Config.
// It is pure: it does no I/O and reads no globals, so the init's Main
// reads those and calls Parse, and tests and the fuzzer call Parse alone
// (like u-root's pkg/cmdline).
//
// The rules follow the kernel's Documentation/admin-guide/nfs/nfsroot.rst
// (nfsroot=, ip=) and init/main.c (the words after "--"), initramfs-tools
// (break=, rootdelay=, panic=), pxelinux (BOOTIF=), open-iscsi/initramfs-tools
// (ISCSI_*) and dracut (rd.iscsi.*, netroot=iscsi:).
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
	StageNFS      = "nfs"      // mount the NFS root read-only
	StagePremount = "premount" // mount the writable layer (before the union); bare "break" stops here
	StageUnion    = "union"    // stack the read-only and writable layers
	StageInit     = "init"     // just before switch_root and exec init=; "bottom" is an alias
)

// BreakStages lists the stages break= accepts, in boot order.
var BreakStages = []string{StageModules, StageNetwork, StageNFS, StagePremount, StageUnion, StageInit}

// breakAliases maps other accepted break= names to a stage.
var breakAliases = map[string]string{"bottom": StageInit}

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

// Parse builds a Config from what the kernel hands /init: its command line
// (/proc/cmdline), its arguments (argv[1:]) and its environment ("KEY=value"
// strings). It does no I/O.
//
// Unknown parameters are ignored; a malformed known parameter is a
// *ParamError. The words after "--" belong to init=, not to Parse; args
// become InitArgs. iSCSI values are read from environ first and the
// command line overrides them. For a parameter given twice the last one
// wins, except root= (each other value is recorded).
func Parse(cmdline string, args, environ []string) (*Config, error) {
	c := &Config{
		IP:       IPConfig{Mode: IPDHCP},
		Upper:    UpperTmpfs,
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
	toks := tokenize(cmdline)
	for i, t := range toks {
		if t.isDashes() {
			if err := checkInitWords(toks[i+1:]); err != nil {
				return nil, err
			}
			break
		}
		if err := c.applyWord(t); err != nil {
			return nil, err
		}
	}
	return c, nil
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

// params is the one table of the command-line parameters Parse acts on
// (besides the iSCSI names iscsi.Canonicalize knows and sidus.*).
// Each handler gets the key as written and the unquoted value.
var params = map[string]func(c *Config, key, v string) error{
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
	// panic= is only checked here: PID 1 reads it with PanicTimeout, which
	// works on a line Parse rejects.
	"panic": func(_ *Config, key, v string) error { _, err := parsePanic(key, v); return err },
	"break": func(c *Config, _, v string) error { return c.parseBreak(v) },
	// console= is the kernel's; it is known here so that a stray quote in
	// it, which swallows the words after it, is reported.
	"console": func(*Config, string, string) error { return nil },
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

// applyWord records one command-line word. A known parameter given without
// '=' is handled as if its value were empty.
func (c *Config) applyWord(t token) error {
	key, v := t.key, t.val
	canon, isISCSI := iscsi.Canonicalize(key)
	isSidus := strings.HasPrefix(key, "sidus.")
	handler := params[key]
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

// redactSecret hides the values of secret iSCSI parameters in error messages.
func redactSecret(canon, v string) string {
	if iscsi.IsSecret(canon) && v != "" {
		return "***"
	}
	return v
}

func (c *Config) parseRoot(v string) error {
	switch {
	case v == "", v == "/dev/nfs": // the NFS root: what SIDUS always boots
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
		return nil
	}
	var known []string
	for _, o := range sidusOptions {
		known = append(known, "sidus."+o.key+"="+strings.Join(o.values, "|"))
	}
	return &ParamError{Param: key, Value: v, Reason: "unknown sidus option", Expected: "one of " + strings.Join(known, ", ")}
}

// On reports whether the sidus.<option> that turns a step on or off
// (hostname, resolv, fstab, netprotect) is not "off".
func (c *Config) On(option string) bool { return c.Sidus[option] != "off" }
