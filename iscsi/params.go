package iscsi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Canonical parameter names, as used by open-iscsi's /etc/iscsi.initramfs
// and the SIDUS kernel command line. They are defined here once.
const (
	KeyInitiator   = "ISCSI_INITIATOR"
	KeyTargetName  = "ISCSI_TARGET_NAME"
	KeyTargetIP    = "ISCSI_TARGET_IP"
	KeyTargetPort  = "ISCSI_TARGET_PORT"
	KeyTargetGroup = "ISCSI_TARGET_GROUP"
	KeyUsername    = "ISCSI_USERNAME"
	KeyPassword    = "ISCSI_PASSWORD"
	KeyInUsername  = "ISCSI_IN_USERNAME"
	KeyInPassword  = "ISCSI_IN_PASSWORD"
	// KeyLUN is a SIDUS extension (open-iscsi has no such key); it carries
	// the LUN field of netroot=iscsi:... . Unset means "scan all LUNs".
	KeyLUN = "ISCSI_LUN"
)

// SecretKeys are the canonical names of the parameters that hold CHAP
// secrets. Their values never appear in errors, logs, String() output,
// state files or the environment handed to the booted system.
var SecretKeys = []string{KeyPassword, KeyInPassword}

// IsSecret reports whether name is a secret parameter under any spelling
// Canonicalize accepts: ISCSI_PASSWORD, iscsi_password, rd.iscsi.password,
// and the same for ISCSI_IN_PASSWORD (rd.iscsi.in.password). For an
// environment entry, pass the part before the first '='.
func IsSecret(name string) bool {
	c, ok := Canonicalize(name)
	return ok && slices.Contains(SecretKeys, c)
}

// DefaultPort is the IANA iSCSI port.
const DefaultPort = 3260

// DefaultInitiatorPrefix is the IQN prefix used to derive an initiator name
// from the MAC address when none is configured.
const DefaultInitiatorPrefix = "iqn.2013-04.zone.sidus:"

// Params is the configuration of one iSCSI login.
type Params struct {
	Initiator  string   // ISCSI_INITIATOR (InitiatorName); may contain %i %h %m before Expand
	TargetName string   // ISCSI_TARGET_NAME; empty: discover and pick (see SelectTarget)
	Portals    []string // ISCSI_TARGET_IP: "ip", "ip:port", "[v6]:port"; empty: caller sets WithDefaultPortal
	Port       int      // ISCSI_TARGET_PORT, default 3260, for portals without a port
	Group      string   // ISCSI_TARGET_GROUP (target portal group tag); empty: any (see LoginOptions.PortalGroup, Discover)
	Username   string   // ISCSI_USERNAME: CHAP name the initiator authenticates with
	Password   string   // ISCSI_PASSWORD: CHAP secret (never printed)
	InUsername string   // ISCSI_IN_USERNAME: CHAP name the target must answer with (mutual CHAP)
	InPassword string   // ISCSI_IN_PASSWORD: CHAP secret of the target (never printed)
	LUN        int      // ISCSI_LUN; <0: all LUNs of the session
	// ClientIP is set by Expand; Login uses it to pick the per-client target
	// (SIDUS names each node's target after its IP) when TargetName is empty.
	ClientIP string
}

// ParamError is a parameter that does not have the expected form.
type ParamError struct {
	Key      string // canonical key, e.g. ISCSI_TARGET_PORT
	Value    string // offending value; empty for secrets
	Expected string // the expected form
}

func (e *ParamError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("iscsi parameter %s: expected %s", e.Key, e.Expected)
	}
	return fmt.Sprintf("iscsi parameter %s=%q: expected %s", e.Key, e.Value, e.Expected)
}

// ParseParams builds Params from canonical keys (see the Key* constants).
// Unknown keys are ignored, so the whole command line map may be passed.
func ParseParams(kv map[string]string) (Params, error) {
	p := Params{Port: DefaultPort, LUN: -1}
	get := func(k string) string { return strings.TrimSpace(kv[k]) }

	p.Initiator = get(KeyInitiator)
	if p.Initiator != "" && !validName(p.Initiator) {
		return Params{}, &ParamError{KeyInitiator, p.Initiator, "an iSCSI name: iqn.YYYY-MM.reverse.domain[:id], eui.<16 hex> or naa.<hex>"}
	}
	p.TargetName = get(KeyTargetName)
	if p.TargetName != "" && !validName(p.TargetName) {
		return Params{}, &ParamError{KeyTargetName, p.TargetName, "an iSCSI name: iqn.YYYY-MM.reverse.domain[:id], eui.<16 hex> or naa.<hex>"}
	}
	if s := get(KeyTargetPort); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 65535 {
			return Params{}, &ParamError{KeyTargetPort, s, "a TCP port number 1-65535 (default 3260)"}
		}
		p.Port = n
	}
	for _, f := range strings.FieldsFunc(get(KeyTargetIP), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if _, _, err := splitPortal(f, p.Port); err != nil {
			return Params{}, &ParamError{KeyTargetIP, f, "a space- or comma-separated list of IP[:port] or [IPv6]:port portals"}
		}
		p.Portals = append(p.Portals, f)
	}
	p.Group = get(KeyTargetGroup)
	if _, ok := portalGroup(p.Group); !ok {
		return Params{}, &ParamError{KeyTargetGroup, p.Group, "a target portal group tag 0-65535"}
	}
	if s := get(KeyLUN); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return Params{}, &ParamError{KeyLUN, s, "a LUN number >= 0"}
		}
		p.LUN = n
	}
	// Secrets: keep as given (spaces may be part of a secret), never echo them.
	p.Username, p.Password = kv[KeyUsername], kv[KeyPassword]
	p.InUsername, p.InPassword = kv[KeyInUsername], kv[KeyInPassword]
	switch {
	case p.Username != "" && p.Password == "":
		return Params{}, &ParamError{Key: KeyPassword, Expected: "a CHAP secret, since " + KeyUsername + " is set"}
	case p.Username == "" && p.Password != "":
		return Params{}, &ParamError{Key: KeyUsername, Expected: "a CHAP name, since " + KeyPassword + " is set"}
	case p.InUsername != "" && p.InPassword == "":
		return Params{}, &ParamError{Key: KeyInPassword, Expected: "a CHAP secret, since " + KeyInUsername + " is set"}
	case p.InUsername == "" && p.InPassword != "":
		return Params{}, &ParamError{Key: KeyInUsername, Expected: "a CHAP name, since " + KeyInPassword + " is set"}
	case p.InUsername != "" && p.Username == "":
		return Params{}, &ParamError{Key: KeyUsername, Expected: "a CHAP name: mutual CHAP (" + KeyInUsername + ") needs one-way CHAP too"}
	}
	return p, nil
}

// portalGroup parses an ISCSI_TARGET_GROUP value: -1 for "" (any group).
func portalGroup(s string) (tag int, ok bool) {
	if s == "" {
		return -1, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0, false
	}
	return n, true
}

func validName(s string) bool {
	l := strings.ToLower(s)
	if strings.ContainsAny(s, " \t\x00=") {
		return false
	}
	return strings.HasPrefix(l, "iqn.") || strings.HasPrefix(l, "eui.") || strings.HasPrefix(l, "naa.")
}

// splitPortal splits "ip", "ip:port", "[v6]", "[v6]:port" or a bare IPv6
// address into host and port, applying defPort.
func splitPortal(s string, defPort int) (host string, port int, err error) {
	if defPort == 0 {
		defPort = DefaultPort
	}
	if ip := net.ParseIP(s); ip != nil { // bare IPv4 or IPv6
		return s, defPort, nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		h := s[1 : len(s)-1]
		if net.ParseIP(h) == nil {
			return "", 0, fmt.Errorf("bad IPv6 address %q", h)
		}
		return h, defPort, nil
	}
	h, ps, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, ":") {
			return "", 0, err
		}
		h, ps = s, strconv.Itoa(defPort)
	}
	if h == "" || strings.ContainsAny(h, " /@") {
		return "", 0, fmt.Errorf("bad host %q", h)
	}
	n, err := strconv.Atoi(ps)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return h, n, nil
}

// PortalAddrs returns the portals as dialable host:port strings.
func (p Params) PortalAddrs() []string {
	var out []string
	for _, s := range p.Portals {
		h, port, err := splitPortal(s, p.Port)
		if err != nil {
			continue
		}
		out = append(out, net.JoinHostPort(h, strconv.Itoa(port)))
	}
	return out
}

// WithDefaultPortal returns p with portal ip (e.g. the DHCP next-server) if
// no portal is configured (ISCSI_TARGET_IP= empty, as in the SIDUS seed).
func (p Params) WithDefaultPortal(ip string) Params {
	if len(p.Portals) == 0 && ip != "" {
		p.Portals = []string{ip}
	}
	return p
}

// Expand replaces %i (client IP), %h (hostname), %m (MAC, lower case, no
// colons) and %% in TargetName and Initiator, records clientIP, and derives
// the initiator name iqn.2013-04.zone.sidus:<mac without colons> if none is
// configured.
func (p Params) Expand(clientIP, hostname, mac string) Params {
	m := strings.ToLower(strings.NewReplacer(":", "", "-", "").Replace(mac))
	r := strings.NewReplacer("%i", clientIP, "%h", hostname, "%m", m, "%%", "%")
	p.TargetName = r.Replace(p.TargetName)
	p.Initiator = r.Replace(p.Initiator)
	if p.Initiator == "" && m != "" {
		p.Initiator = DefaultInitiatorPrefix + m
	}
	p.ClientIP = clientIP
	return p
}

// String describes p for logs. Secrets are always redacted.
func (p Params) String() string {
	secret := func(s string) string {
		if s == "" {
			return "<unset>"
		}
		return "<redacted>"
	}
	lun := "all"
	if p.LUN >= 0 {
		lun = strconv.Itoa(p.LUN)
	}
	target := p.TargetName
	if target == "" {
		target = "<discover>"
	}
	return fmt.Sprintf("iscsi{initiator=%s target=%s portals=%v port=%d group=%s lun=%s username=%q password=%s in_username=%q in_password=%s}",
		p.Initiator, target, p.Portals, p.Port, p.Group, lun, p.Username, secret(p.Password), p.InUsername, secret(p.InPassword))
}

// GoString is String, so that %#v does not print secrets either.
func (p Params) GoString() string { return p.String() }

var aliases = map[string]string{
	"rd.iscsi.initiator":    KeyInitiator,
	"rd.iscsi.target.name":  KeyTargetName,
	"rd.iscsi.target.ip":    KeyTargetIP,
	"rd.iscsi.target.port":  KeyTargetPort,
	"rd.iscsi.target.group": KeyTargetGroup,
	"rd.iscsi.username":     KeyUsername,
	"rd.iscsi.password":     KeyPassword,
	"rd.iscsi.in.username":  KeyInUsername,
	"rd.iscsi.in.password":  KeyInPassword,
	"rd.iscsi.lun":          KeyLUN,
}

var canonical = map[string]bool{
	KeyInitiator: true, KeyTargetName: true, KeyTargetIP: true, KeyTargetPort: true,
	KeyTargetGroup: true, KeyUsername: true, KeyPassword: true, KeyInUsername: true,
	KeyInPassword: true, KeyLUN: true,
}

// Canonicalize maps a command-line key to its canonical ISCSI_* name:
// ISCSI_* itself, lower-case iscsi_*, and dracut's rd.iscsi.initiator,
// rd.iscsi.target.{name,ip,port,group}, rd.iscsi.{username,password},
// rd.iscsi.in.{username,password}. ok is false for keys that are not
// iSCSI parameters. (netroot=iscsi:... is parsed with the rest of the
// kernel command line, in package initramfs.)
func Canonicalize(key string) (canonKey string, ok bool) {
	if c, ok := aliases[strings.ToLower(key)]; ok {
		return c, true
	}
	if u := strings.ToUpper(key); canonical[u] && (key == u || key == strings.ToLower(key)) {
		return u, true
	}
	return "", false
}

// ReadConf reads an open-iscsi /etc/iscsi.initramfs style file: KEY=value,
// KEY="value" or KEY='value' lines, optional "export " prefix, # comments
// and blank lines. Keys are returned as written.
func ReadConf(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || !validShellName(k) {
			return nil, fmt.Errorf("iscsi config line %d: expected KEY=value or KEY=\"value\"", n)
		}
		val, err := shellValue(v)
		if err != nil {
			return nil, fmt.Errorf("iscsi config line %d (%s): %w", n, k, err)
		}
		out[k] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading iscsi config: %w", err)
	}
	return out, nil
}

func validShellName(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// shellValue decodes the value part of a simple shell assignment.
func shellValue(v string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			j := i + 1
			for ; j < len(v) && v[j] != '"'; j++ {
				if v[j] == '\\' && j+1 < len(v) && strings.IndexByte("\"\\$`", v[j+1]) >= 0 {
					j++
				}
				b.WriteByte(v[j])
			}
			if j >= len(v) {
				return "", errors.New("unterminated double quote")
			}
			i = j
		case c == '\'':
			j := strings.IndexByte(v[i+1:], '\'')
			if j < 0 {
				return "", errors.New("unterminated single quote")
			}
			b.WriteString(v[i+1 : i+1+j])
			i += j + 1
		case c == '\\' && i+1 < len(v):
			i++
			b.WriteByte(v[i])
		case c == ' ' || c == '\t':
			rest := strings.TrimSpace(v[i:])
			if rest == "" || strings.HasPrefix(rest, "#") {
				return b.String(), nil
			}
			return "", errors.New("unquoted space in value (use KEY=\"a b\")")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
