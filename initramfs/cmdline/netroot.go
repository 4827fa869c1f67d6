package cmdline

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sidus-go/sidus/iscsi"
)

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
			set[iscsi.KeyUsername], set[iscsi.KeyPassword] = cred[0], cred[1]
		case 4:
			set[iscsi.KeyUsername], set[iscsi.KeyPassword] = cred[0], cred[1]
			set[iscsi.KeyInUsername], set[iscsi.KeyInPassword] = cred[2], cred[3]
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
	set[iscsi.KeyTargetIP], set[iscsi.KeyTargetName] = server, target
	if port != "" {
		set[iscsi.KeyTargetPort] = port
	}
	if lun != "" {
		set[iscsi.KeyLUN] = lun
	}
	for k, x := range set {
		c.ISCSI[k] = x
	}
	return nil
}
