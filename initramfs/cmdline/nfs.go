package cmdline

import (
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

// parseNFSRoot parses nfsroot=[server:][path][,options].
func (c *Config) parseNFSRoot(v string) error {
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
