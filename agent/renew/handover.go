package renew

import (
	"fmt"
	"net"
	"time"

	"github.com/sidus-go/sidus/agent/handover"
	"github.com/sidus-go/sidus/netconf"
)

// FromHandover returns the lease the init handed over, or an error when
// there is none to renew (a static ip=, or ip=off).
func FromHandover(s *handover.State) (Lease, error) {
	if s == nil || s.Lease == nil {
		return Lease{}, fmt.Errorf("renew: no DHCP lease in the handover")
	}
	h := s.Lease
	mac, err := net.ParseMAC(s.MAC)
	if err != nil {
		return Lease{}, fmt.Errorf("renew: handover MAC: %w", err)
	}
	ip := net.ParseIP(h.IP).To4()
	if ip == nil {
		return Lease{}, fmt.Errorf("renew: handover lease address %q", h.IP)
	}
	l := Lease{
		Config: netconf.Config{
			Device:    s.Device,
			IP:        ip,
			Netmask:   net.CIDRMask(h.PrefixLen, 32),
			Gateway:   parseIP4(h.Gateway),
			Hostname:  h.Hostname,
			Domain:    h.Domain,
			ServerID:  parseIP4(h.ServerID),
			LeaseTime: time.Duration(h.LeaseSeconds) * time.Second,
		},
		MAC: mac,
		T1:  time.Duration(h.T1Seconds) * time.Second,
		T2:  time.Duration(h.T2Seconds) * time.Second,
	}
	if h.PrefixLen <= 0 || h.PrefixLen > 32 {
		l.Netmask = ip.DefaultMask()
	}
	if h.Acquired > 0 {
		l.Acquired = time.Unix(h.Acquired, 0)
	}
	for _, d := range h.DNS {
		if x := parseIP4(d); x != nil {
			l.DNS = append(l.DNS, x)
		}
	}
	return l, nil
}

func parseIP4(s string) net.IP {
	if s == "" {
		return nil
	}
	return net.ParseIP(s).To4()
}
