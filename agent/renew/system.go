package renew

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// System writes what a renewal changed where the init wrote it: the
// hostname (/etc/hostname and sethostname), /etc/resolv.conf and
// /run/net-DEV.conf. Its OnChange method is a Renewer.OnChange.
type System struct {
	// Root is the booted system's root ("" is "/"; tests use a directory).
	Root string
	// Hostname and Resolv say whether the init wrote /etc/hostname and
	// /etc/resolv.conf (the handover's wrote_hostname, wrote_resolv): what
	// the admin turned off stays the admin's.
	Hostname, Resolv bool
	// NetConf rewrites /run/net-DEV.conf.
	NetConf bool
	// SetHostname defaults to sethostname(2) (Linux; elsewhere an error).
	SetHostname func(name string) error
	Logf        func(format string, args ...any)
}

// OnChange applies the change and logs what failed.
func (s *System) OnChange(old, new Lease) {
	if err := s.Apply(old, new); err != nil && s.Logf != nil {
		s.Logf("WARNING: lease change on %s: %v", new.Device, err)
	}
}

// Apply writes what differs between old and new.
func (s *System) Apply(old, new Lease) error {
	root := s.Root
	if root == "" {
		root = "/"
	}
	var errs []error
	if s.Hostname && new.Hostname != "" && new.Hostname != old.Hostname {
		set := s.SetHostname
		if set == nil {
			set = sethostname
		}
		if err := set(new.Hostname); err != nil {
			errs = append(errs, fmt.Errorf("sethostname %q: %w", new.Hostname, err))
		}
		errs = append(errs, writeFile(filepath.Join(root, "etc/hostname"), new.Hostname+"\n"))
	}
	if s.Resolv && len(new.DNS) > 0 && (new.Domain != old.Domain || !slices.EqualFunc(new.DNS, old.DNS, net.IP.Equal)) {
		errs = append(errs, writeFile(filepath.Join(root, "etc/resolv.conf"), ResolvConf(new)))
	}
	if s.NetConf && new.Device != "" {
		p := filepath.Join(root, "run", "net-"+new.Device+".conf")
		prev, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		} else {
			errs = append(errs, writeFile(p, NetConf(string(prev), new)))
		}
	}
	return errors.Join(errs...)
}

// writeFile replaces p atomically; a symlink at p (resolv.conf -> /run/...)
// is replaced, not followed, as the init does.
func writeFile(p, data string) error {
	tmp := p + ".sidus-agent.tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// ResolvConf renders l's resolver configuration, as the init does.
func ResolvConf(l Lease) string {
	var b strings.Builder
	b.WriteString("# Written by sidus-agent from DHCP\n")
	if l.Domain != "" {
		fmt.Fprintf(&b, "search %s\n", l.Domain)
	}
	for _, d := range l.DNS {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	return b.String()
}

// NetConf updates prev, a /run/net-DEV.conf in initramfs-tools' format
// (KEY='value' lines, as the init writes it), with l: the keys a lease
// gives are replaced in place, the others (PROTO, ROOTSERVER, ROOTPATH,
// filename) kept. An empty prev gives a whole file.
func NetConf(prev string, l Lease) string {
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	ip := func(x net.IP) string {
		if x == nil {
			return "0.0.0.0"
		}
		return x.String()
	}
	dns := func(i int) string {
		if i < len(l.DNS) {
			return ip(l.DNS[i])
		}
		return "0.0.0.0"
	}
	mask, bcast := "0.0.0.0", "0.0.0.0"
	if ip4 := l.IP.To4(); len(l.Netmask) >= 4 && ip4 != nil {
		nm := l.Netmask[len(l.Netmask)-4:]
		mask = net.IP(nm).String()
		b := make(net.IP, 4)
		for i := range b {
			b[i] = ip4[i] | ^nm[i]
		}
		bcast = b.String()
	}
	keys := []string{"DEVICE", "IPV4ADDR", "IPV4BROADCAST", "IPV4NETMASK", "IPV4GATEWAY",
		"IPV4DNS0", "IPV4DNS1", "HOSTNAME", "DNSDOMAIN", "DHCPLEASETIME"}
	vals := map[string]string{
		"DEVICE": l.Device, "IPV4ADDR": ip(l.IP), "IPV4BROADCAST": bcast, "IPV4NETMASK": mask,
		"IPV4GATEWAY": ip(l.Gateway), "IPV4DNS0": dns(0), "IPV4DNS1": dns(1),
		"HOSTNAME": l.Hostname, "DNSDOMAIN": l.Domain,
		"DHCPLEASETIME": fmt.Sprint(int64(l.LeaseTime.Seconds())),
	}
	if strings.TrimSpace(prev) == "" {
		// The init's order, with what only the init knew left empty.
		keys = []string{"DEVICE", "PROTO", "IPV4ADDR", "IPV4BROADCAST", "IPV4NETMASK", "IPV4GATEWAY",
			"IPV4DNS0", "IPV4DNS1", "HOSTNAME", "DNSDOMAIN", "ROOTSERVER", "ROOTPATH", "filename", "DHCPLEASETIME"}
		vals["PROTO"], vals["ROOTSERVER"], vals["ROOTPATH"], vals["filename"] = "dhcp", ip(l.ServerID), "", ""
		prev = ""
	}
	var b strings.Builder
	done := map[string]bool{}
	for line := range strings.Lines(prev) {
		k, _, ok := strings.Cut(line, "=")
		if v, mine := vals[k]; ok && mine && !done[k] {
			fmt.Fprintf(&b, "%s=%s\n", k, q(v))
			done[k] = true
			continue
		}
		b.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			b.WriteString("\n")
		}
	}
	for _, k := range keys {
		if !done[k] {
			fmt.Fprintf(&b, "%s=%s\n", k, q(vals[k]))
		}
	}
	return b.String()
}
