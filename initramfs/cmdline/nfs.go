package cmdline

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// nfsNumericOptions are the nfsroot= options that take a positive integer.
var nfsNumericOptions = []string{
	"rsize", "wsize", "timeo", "retrans", "port", "mountport",
	"acregmin", "acregmax", "acdirmin", "acdirmax", "actimeo",
}

// parseNFSRoot parses nfsroot=[server:][path][,opts] (the kernel), also
// with dracut's and initramfs-tools' ':' before the options, and
// initramfs-tools' nfsroot=auto (everything from DHCP, like an empty one).
// The server may be a list: nfsroot=10.0.0.1,10.0.0.2:/srv/nfsroot/sidus.
func (p *parser) parseNFSRoot(key, v string) error {
	c := p.c
	c.setNFS(nfsSpec{})
	if v == "auto" {
		return nil
	}
	spec, err := splitNFS(v)
	if err == nil {
		err = spec.check()
	}
	if err != nil {
		return nfsParamError(key, v, err, nfsrootForm)
	}
	c.setNFS(spec)
	return nil
}

// setNFS records spec as the NFS root: NFSServers, NFSServer (the first
// of them), NFSPath, NFSOptions and NFSVersion.
func (c *Config) setNFS(spec nfsSpec) {
	c.NFSServers, c.NFSPath, c.NFSOptions, c.NFSVersion = spec.servers, spec.path, spec.opts, spec.version
	c.NFSServer = ""
	if len(spec.servers) > 0 {
		c.NFSServer = spec.servers[0]
	}
}

// nfsServers is NFSServers, else NFSServer alone (a Config built by hand).
func (c *Config) nfsServers() []string {
	if len(c.NFSServers) > 0 {
		return c.NFSServers
	}
	if c.NFSServer != "" {
		return []string{c.NFSServer}
	}
	return nil
}

// parseRoot parses root=: /dev/nfs, dhcp (and dracut's dhcp6) and an empty
// value say what SIDUS always does (an NFS root, DHCP filling in what
// nfsroot= leaves); LABEL= names the writable device's filesystem; dracut's
// nfs[4], nfs[4]:..., <server>:/<path> and /<path> (not under /dev) set the
// NFS root like nfsroot=; iscsi: adds an iSCSI target like netroot=;
// rbd: and cephfs: make the shared root a Ceph one (lower.go). Anything
// else is recorded in RootOther. The NFS forms and rbd:, cephfs: choose
// the kind of shared root (Config.Lower): the last of them wins.
func (p *parser) parseRoot(key, v string) error {
	c := p.c
	switch {
	case v == "", v == "/dev/nfs", v == "dhcp":
		c.setLower(LowerNFS)
	case v == "dhcp6":
		c.setLower(LowerNFS)
		p.warn(key, v, "DHCPv6 is not supported; the NFS root is taken from the DHCP (IPv4) root-path")
	case v == "rbd", strings.HasPrefix(v, "rbd:"):
		img, err := parseRBDRoot(key, v)
		if err != nil {
			return err
		}
		c.setLower(LowerRBD)
		c.RBD = img
	case v == "cephfs", strings.HasPrefix(v, "cephfs:"):
		dir, err := parseCephFSRoot(key, v)
		if err != nil {
			return err
		}
		c.setLower(LowerCephFS)
		c.CephFSPath = dir
	case strings.HasPrefix(v, "LABEL="):
		label := strings.TrimPrefix(v, "LABEL=")
		if label == "" {
			return &ParamError{Param: key, Value: v, Reason: "empty label", Expected: rootNFSForm}
		}
		c.RWLabel = label
	case v == "iscsi":
		p.askISCSI(key, v)
	case strings.HasPrefix(v, "iscsi:"):
		return p.addISCSITarget(key, v)
	case v == "nfs", v == "nfs4":
		spec, _ := splitNFSRoot(v + ":") // an NFS root, all from DHCP
		c.setNFS(spec)
		c.setLower(LowerNFS)
	case strings.HasPrefix(v, "nfs:"), strings.HasPrefix(v, "nfs4:"),
		strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "/dev/"),
		isServerPath(v):
		spec, err := splitNFSRoot(v)
		if err == nil {
			err = spec.check()
		}
		if err != nil {
			return nfsParamError(key, v, err, rootNFSForm)
		}
		c.setNFS(spec)
		c.setLower(LowerNFS)
	default:
		c.RootOther = append(c.RootOther, v)
	}
	return nil
}

// isServerPath reports whether root= is dracut's legacy <server>:/<path>
// (or <server>,<server>...:/<path>).
func isServerPath(v string) bool {
	list, path, ok := strings.Cut(v, ":")
	if !ok || list == "" || !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		return false
	}
	_, err := splitServers(list)
	return err == nil
}

// nfsSpec is an NFS root spelled out: servers (none, one, or several to
// choose from), path, options, version.
type nfsSpec struct {
	servers       []string
	path, version string
	opts          []string
}

// check rejects a spec the kernel cannot mount.
func (s nfsSpec) check() error {
	if s.path != "" && !strings.HasPrefix(s.path, "/") {
		return fmt.Errorf("path %q is not absolute", s.path)
	}
	return nil
}

// splitNFSRoot splits dracut's root=nfs:..., root=nfs4:... and legacy
// root=[<server>:]/<path>[:<options>|,<options>] (nfs-lib.sh's
// nfsroot_to_var), and Anaconda's nfs:<options>:<server>:/<path>.
// nfs4: means NFSv4 unless the options name a minor version.
func splitNFSRoot(v string) (nfsSpec, error) {
	proto := ""
	if kind, rest, ok := strings.Cut(v, ":"); ok && (kind == "nfs" || kind == "nfs4") {
		proto, v = kind, rest
		if head, _, ok := strings.Cut(v, ":/"); ok && strings.Contains(head, ":") && !strings.HasPrefix(head, "[") {
			// Anaconda: nfs:<options>:<server>:/<path>
			opts, server, _ := strings.Cut(head, ":")
			v = server + ":" + strings.TrimPrefix(v, head+":") + ":" + opts
		}
	}
	spec, err := splitNFS(v)
	if err == nil && proto == "nfs4" && spec.version == "" {
		spec.version = "4"
	}
	return spec, err
}

// splitNFS splits [<servers>:][<path>][<sep><options>], where sep is ','
// (the kernel) or ':' (dracut, initramfs-tools) and the options are
// comma-separated. The servers, everything before the first ':', are one
// server or several separated by ',', each an IPv4 address or a host name.
func splitNFS(v string) (nfsSpec, error) {
	var s nfsSpec
	if strings.HasPrefix(v, "[") {
		return s, fmt.Errorf("%q: IPv6 servers are not supported: the init configures IPv4 only", v)
	}
	rest := v
	if v != "" && !strings.HasPrefix(v, "/") && !strings.HasPrefix(v, ",") {
		list, after, ok := strings.Cut(v, ":")
		if !ok {
			return s, fmt.Errorf("%q is neither server: nor an absolute path", v)
		}
		if strings.Contains(list, "[") {
			return s, fmt.Errorf("%q: IPv6 servers are not supported: the init configures IPv4 only", v)
		}
		servers, err := splitServers(list)
		if err != nil {
			return s, err
		}
		s.servers, rest = servers, after
	}
	path, opts := rest, ""
	if i := strings.IndexAny(rest, ",:"); i >= 0 {
		path, opts = rest[:i], rest[i+1:]
	}
	if path != "" && !strings.HasPrefix(path, "/") {
		return s, fmt.Errorf("path %q is not absolute", path)
	}
	s.path = path
	var err error
	s.opts, s.version, err = parseNFSOptions(opts)
	return s, err
}

// optionError is a malformed NFS option and the form expected.
type optionError struct{ reason, expected string }

func (e *optionError) Error() string { return e.reason + "; expected " + e.expected }

// nfsParamError builds the ParamError of key=v for err from splitNFS.
func nfsParamError(key, v string, err error, form string) error {
	var oe *optionError
	if errors.As(err, &oe) {
		return &ParamError{Param: key, Value: v, Reason: oe.reason, Expected: oe.expected}
	}
	return &ParamError{Param: key, Value: v, Reason: err.Error(), Expected: form}
}

// nfsVersions are the NFS versions the kernel mounts.
var nfsVersions = []string{"3", "4", "4.0", "4.1", "4.2"}

// parseNFSOptions checks comma-separated NFS mount options; "tcp"/"udp"
// become proto=, and vers=/nfsvers=/vN give the version instead of an option.
func parseNFSOptions(opts string) (out []string, version string, err error) {
	if opts == "" {
		return nil, "", nil
	}
	for _, o := range strings.Split(opts, ",") {
		if o == "" {
			continue // the kernel skips empty options too
		}
		bad := func(reason, expected string) error {
			return &optionError{fmt.Sprintf("option %q: %s", o, reason), expected}
		}
		name, val, hasEq := strings.Cut(o, "=")
		if v, ok := strings.CutPrefix(name, "v"); ok && !hasEq && allDigits(strings.ReplaceAll(v, ".", "")) && !strings.HasPrefix(v, ".") {
			name, val = "v", v // the kernel's v3, v4, v4.1 options
		}
		if !validOptionName(name) {
			return nil, "", bad("option name must be non-empty letters, digits, '_' or '-'", "options of the form name or name=value, e.g. nfsroot=,rsize=8192,tcp")
		}
		switch {
		case name == "tcp" || name == "udp":
			if hasEq {
				return nil, "", bad(name+" takes no value", name+" or proto="+name)
			}
			o = "proto=" + name
		case name == "vers" || name == "nfsvers" || name == "v":
			if name == "v" {
				name = "vers"
			}
			switch {
			case slices.Contains(nfsVersions, val):
				version = val
				continue
			case val == "2":
				return nil, "", bad("NFSv2 is not supported (modern kernels lack it)", name+"=3|4|4.0|4.1|4.2 (or v3, v4, v4.1, ...)")
			}
			return nil, "", bad("unknown NFS version", name+"=3|4|4.0|4.1|4.2 (or v3, v4, v4.1, ...)")
		case slices.Contains(nfsNumericOptions, name):
			if n, err := strconv.ParseUint(val, 10, 32); err != nil || n == 0 || !allDigits(val) {
				return nil, "", bad(name+" needs a positive integer", name+"=<positive integer>, e.g. "+name+"=8192")
			}
		}
		out = append(out, o)
	}
	return out, version, nil
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

// serverListForm is the expected form quoted when a list of servers is
// malformed.
const serverListForm = "<server>,<server>,...:/<path> with each <server> an IPv4 address or a host name, each once, e.g. nfsroot=10.0.0.1,10.0.0.2:/srv/nfsroot/sidus"

// splitServers splits the server part of an NFS root: "" (none: DHCP
// gives it), one server, or several separated by ','. A single server's
// error is checkServer's; a list's names the list and the form.
func splitServers(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	parts := strings.Split(list, ",")
	if len(parts) == 1 {
		if err := checkServer(list); err != nil {
			return nil, err
		}
		return parts, nil
	}
	for i, s := range parts {
		bad := func(reason string) error {
			return &optionError{fmt.Sprintf("server list %q: %s", list, reason), serverListForm}
		}
		if s == "" {
			return nil, bad(fmt.Sprintf("server %d is empty", i+1))
		}
		if err := checkServer(s); err != nil {
			return nil, bad(err.Error())
		}
		for _, o := range parts[:i] {
			if strings.EqualFold(o, s) {
				return nil, bad(fmt.Sprintf("server %q is named twice", s))
			}
		}
	}
	return parts, nil
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

// ResolveNFS fills in what nfsroot= (or root=) left to DHCP, as the kernel
// does: no server becomes the server(s) of the root-path (option 17), else
// siaddr (next-server), else the DHCP server identifier; an empty path
// becomes the root-path's path, else /tftpboot/%s. Every %s in the path is
// replaced by clientIP. "0.0.0.0" counts as absent. It returns at least
// one server: the list of nfsroot= (or of the root-path) in the order
// written, or the one DHCP gave.
//
// The root-path may be the kernel's [<server>[,<server>...]:]<path>[,<options>]
// or dracut's nfs:/nfs4:[<server>[,<server>...]:]<path>[:<options>]. When
// its path is used, its options and version are recorded in
// NFSRootPathOptions and NFSRootPathVersion (else those are cleared), for
// NFSMountOptions and WantNFSVersion.
func (c *Config) ResolveNFS(dhcpServer, siaddr, rootPath, clientIP string) (servers []string, path string, err error) {
	c.NFSRootPathOptions, c.NFSRootPathVersion = nil, ""
	servers, path = slices.Clone(c.nfsServers()), c.NFSPath
	if path == "" && rootPath != "" {
		spec, err := splitRootPath(rootPath)
		if err != nil {
			return nil, "", &ParamError{Param: "nfsroot", Reason: fmt.Sprintf("DHCP root-path (option 17) %q: %v", rootPath, err),
				Expected: "a root-path of the form [<server>[,<server>...]:]/<path>[,<options>] or nfs:<server>[,<server>...]:/<path>[:<options>], or set nfsroot=SERVER:/path"}
		}
		if len(servers) == 0 {
			servers = spec.servers
		}
		path = spec.path
		c.NFSRootPathOptions, c.NFSRootPathVersion = spec.opts, spec.version
	}
	for _, s := range []string{siaddr, dhcpServer} {
		if len(servers) == 0 && s != "" && s != "0.0.0.0" {
			servers = []string{s}
		}
	}
	if len(servers) == 0 {
		return nil, "", &ParamError{Param: "nfsroot",
			Reason: "no NFS server: nfsroot= has none and DHCP gave no next-server or root-path; set nfsroot=SERVER:/path"}
	}
	if path == "" {
		path = "/tftpboot/%s"
	}
	if strings.Contains(path, "%s") {
		if clientIP == "" {
			return nil, "", &ParamError{Param: "nfsroot", Reason: fmt.Sprintf("path %q needs the client address for %%s but it is unknown", path),
				Expected: "nfsroot=SERVER:/path without %s, or an ip= / DHCP address"}
		}
		path = strings.ReplaceAll(path, "%s", clientIP)
	}
	return servers, path, nil
}

// splitRootPath splits a DHCP root-path as an NFS root.
func splitRootPath(rp string) (nfsSpec, error) {
	if kind, _, ok := strings.Cut(rp, ":"); ok && (kind == "iscsi" || kind == "nbd" || kind == "cifs") {
		return nfsSpec{}, fmt.Errorf("a %s root-path, not an NFS export (SIDUS boots an NFS root; give the iSCSI target in netroot=iscsi:...)", kind)
	}
	spec, err := splitNFSRoot(rp)
	if err == nil {
		err = spec.check()
	}
	return spec, err
}

// WantNFSVersion is the NFS version asked for: nfsroot='s (or root='s),
// else the DHCP root-path's (after ResolveNFS); "" lets the boot try 4.2,
// 4.1, then 3.
func (c *Config) WantNFSVersion() string {
	if c.NFSVersion != "" {
		return c.NFSVersion
	}
	return c.NFSRootPathVersion
}

// nfsOptionKey names what an NFS option sets, so that a command-line option
// can replace the root-path's: lock/nolock, hard/soft and ro/rw each set
// one thing.
func nfsOptionKey(o string) string {
	n, _, _ := strings.Cut(o, "=")
	switch n {
	case "soft", "softerr":
		return "hard"
	case "rw":
		return "ro"
	}
	if len(n) > 2 && strings.HasPrefix(n, "no") {
		return n[2:]
	}
	return n
}

// NFSMountOptions builds the data string for mount(2) of the NFS root at
// NFS version version ("" = WantNFSVersion(); if that is empty too no
// vers= is added). It is the root-path's options that no command-line
// option replaces, the command-line options, then vers=, addr=server, for
// v4 clientaddr=clientIP, and for v3 nolock (no lockd in the initramfs)
// and mountproto=tcp when proto=tcp. An option the user gave is never
// overridden. No "ro": the caller mounts with MS_RDONLY.
func (c *Config) NFSMountOptions(server, clientIP, version string) string {
	if version == "" {
		version = c.WantNFSVersion()
	}
	given := map[string]bool{}
	for _, o := range c.NFSOptions {
		given[nfsOptionKey(o)] = true
	}
	var opts []string
	for _, o := range c.NFSRootPathOptions {
		if !given[nfsOptionKey(o)] {
			opts = append(opts, o)
		}
	}
	opts = append(opts, c.NFSOptions...)
	user := slices.Clone(opts)
	has := func(names ...string) bool {
		for _, o := range user {
			n, _, _ := strings.Cut(o, "=")
			if slices.Contains(names, n) {
				return true
			}
		}
		return false
	}
	proto := ""
	for _, o := range user {
		if p, ok := strings.CutPrefix(o, "proto="); ok {
			proto = p
		}
	}
	opts = append(opts, c.liveNFSOptions(has)...)
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
