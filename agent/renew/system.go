package renew

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"

	"github.com/sidus-go/sidus/netconf"
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
		errs = append(errs, writeFile(filepath.Join(root, "etc/resolv.conf"), netconf.ResolvConf(new.Config, "sidus-agent")))
	}
	if s.NetConf && new.Device != "" {
		p := filepath.Join(root, "run", "net-"+new.Device+".conf")
		prev, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		} else {
			errs = append(errs, writeFile(p, netconf.UpdateNetConf(string(prev), new.Config)))
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
