package iscsirecover

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sidus-go/sidus/agent/handover"
	"github.com/sidus-go/sidus/iscsi"
)

// Config is what the agent knows of the session the init logged in.
type Config struct {
	SID, CID   int    // /sys/class/iscsi_connection/connection<SID>:<CID>
	TargetName string // the IQN logged in to (after discovery, if any)
	// Portals are the target's portals (host:port, or host for port 3260),
	// in the order to try; Portal is the one in use (added first if it is
	// not among them).
	Portals []string
	Portal  string
	// PortalGroup is ISCSI_TARGET_GROUP: the target portal group tag every
	// login must report ("": any).
	PortalGroup string
	Initiator   string
	ISID        [6]byte // zero: iscsi.ISIDForSID(SID), as the init uses
	TSIH        uint16  // from the init's login; 0 is fine (session reinstatement)

	Username, Password     string // one-way CHAP; empty: AuthMethod=None
	InUsername, InPassword string // mutual CHAP (the target's account)

	// Recovery is sidus.iscsi.recovery=: 0 keeps trying forever and tells
	// the kernel never to fail the queued I/O (like an NFS hard mount);
	// otherwise the kernel fails it after Recovery (whole seconds, rounded
	// up) and the recoverer gives up then.
	Recovery time.Duration
}

// FromHandover builds the Config from the init's handover.
func FromHandover(h *handover.ISCSI) (Config, error) {
	if h == nil {
		return Config{}, errors.New("iscsi recovery: no iSCSI session in the handover")
	}
	c := Config{
		SID: h.SID, CID: h.CID, TargetName: h.Target,
		Portals: append([]string{}, h.Portals...), Portal: h.Portal,
		Initiator: h.Initiator, TSIH: h.TSIH,
		Username: h.Username, Password: h.Password,
		InUsername: h.InUsername, InPassword: h.InPassword,
		Recovery: time.Duration(h.RecoverySeconds) * time.Second,
	}
	if h.Group != 0 {
		c.PortalGroup = strconv.Itoa(h.Group)
	}
	if h.ISID != "" {
		isid, err := iscsi.ParseISID(h.ISID)
		if err != nil {
			return Config{}, fmt.Errorf("iscsi recovery: %w", err)
		}
		c.ISID = isid
	}
	return c, c.normalize()
}

// normalize checks c and puts every portal in host:port form, the one in
// use first.
func (c *Config) normalize() error {
	if c.SID < 0 || c.CID < 0 {
		return fmt.Errorf("iscsi recovery: bad session/connection id %d:%d", c.SID, c.CID)
	}
	if c.TargetName == "" || c.Initiator == "" {
		return errors.New("iscsi recovery: the target name and the initiator name are required")
	}
	if c.Recovery < 0 {
		return fmt.Errorf("iscsi recovery: negative recovery time %s", c.Recovery)
	}
	var ps []string
	seen := map[string]bool{}
	add := func(p string) error {
		if strings.TrimSpace(p) == "" {
			return nil
		}
		a, err := portalAddr(p)
		if err != nil {
			return err
		}
		if !seen[a] {
			seen[a] = true
			ps = append(ps, a)
		}
		return nil
	}
	if err := add(c.Portal); err != nil {
		return err
	}
	for _, p := range c.Portals {
		if err := add(p); err != nil {
			return err
		}
	}
	if len(ps) == 0 {
		return errors.New("iscsi recovery: no portal")
	}
	c.Portals, c.Portal = ps, ps[0]
	if c.ISID == ([6]byte{}) {
		c.ISID = iscsi.ISIDForSID(uint32(c.SID))
	}
	return nil
}

// portalAddr turns "host", "host:port", "[v6]:port", "v6" or any of them
// with a ",TPGT" suffix into host:port.
func portalAddr(p string) (string, error) {
	p = strings.TrimSpace(p)
	if i := strings.LastIndexByte(p, ','); i >= 0 {
		if _, err := strconv.Atoi(p[i+1:]); err == nil {
			p = p[:i]
		}
	}
	if h, port, err := net.SplitHostPort(p); err == nil {
		n, err := strconv.Atoi(port)
		if h == "" || err != nil || n <= 0 || n > 65535 {
			return "", fmt.Errorf("iscsi recovery: bad portal %q", p)
		}
		return net.JoinHostPort(h, port), nil
	}
	h := strings.TrimSuffix(strings.TrimPrefix(p, "["), "]")
	if h == "" || strings.ContainsAny(h, "[] /") {
		return "", fmt.Errorf("iscsi recovery: bad portal %q", p)
	}
	return net.JoinHostPort(h, strconv.Itoa(iscsi.DefaultPort)), nil
}

// recoverySeconds is the kernel's ISCSI_PARAM_SESS_RECOVERY_TMO for c:
// -1 (never fail I/O) for 0, else the whole seconds, rounded up.
func (c Config) recoverySeconds() int {
	if c.Recovery <= 0 {
		return -1
	}
	return int((c.Recovery + time.Second - 1) / time.Second)
}
