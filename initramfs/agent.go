package initramfs

import (
	"bytes"
	"io/fs"
	"net"
	"os"
	"path"
	"strconv"

	"github.com/sidus-go/sidus/agent/handover"
	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/initramfs/layout"
	"github.com/sidus-go/sidus/iscsi"
	"github.com/sidus-go/sidus/overlay"
)

// AgentStart is the node agent SwitchRoot starts once it has chrooted into
// the new root, before it execs init: Path with argv[0] handover.ArgV0,
// and State written to its handover.FD pipe. State holds the iSCSI
// secrets: it goes to the pipe and nowhere else.
type AgentStart struct {
	Path  string
	State []byte
}

// hasAgent reports whether the image packs the node agent.
func (b *booter) hasAgent() bool {
	_, err := fs.Stat(b.sys.DirFS("/"), layout.Agent)
	return err == nil
}

// prepareAgent copies the agent out of the image into /run (which moves
// into the new root with the other API mounts) and its systemd unit, and
// builds its handover. It returns nil when the image has no agent.
func (b *booter) prepareAgent() *AgentStart {
	bin, err := b.sys.ReadFile("/" + layout.Agent)
	if err != nil {
		b.log.Printf("no node agent in this image (sidus-mkinitramfs --agent): the DHCP lease will not be renewed nor the iSCSI session recovered")
		return nil
	}
	write := func(p string, data []byte, mode os.FileMode) bool {
		if err := b.sys.MkdirAll(path.Dir(p)); err != nil {
			b.log.Printf("warning: agent: mkdir %s: %v", path.Dir(p), err)
			return false
		}
		if err := b.sys.WriteFile(p, data, mode); err != nil {
			b.log.Printf("warning: agent: write %s: %v", p, err)
			return false
		}
		return true
	}
	// One copy of the binary: the exitrd systemd-shutdown runs, and a link
	// to it where the unit and the admin find the agent.
	if !write(handover.Exitrd, bin, 0o755) {
		return nil
	}
	_ = b.sys.Remove(handover.AgentPath)
	if err := b.sys.MkdirAll(path.Dir(handover.AgentPath)); err == nil {
		err = b.sys.Symlink(handover.Exitrd, handover.AgentPath)
		if err != nil {
			b.log.Printf("warning: agent: link %s: %v", handover.AgentPath, err)
			return nil
		}
	}
	write(handover.Unit, []byte(handover.UnitText), 0o644)
	write(handover.UnitWants, []byte(handover.UnitWantsText), 0o644)

	st := &handover.State{
		WroteHostname: b.cfg.On("hostname"),
		WroteResolv:   b.cfg.On("resolv"),
	}
	if l := b.res.Lease; l != nil {
		st.Device = l.Device
		st.NetConf = "/run/net-" + l.Device + ".conf"
		if links, err := b.sys.Net().Links(); err == nil {
			for _, k := range links {
				if k.Name == l.Device {
					st.MAC = k.MAC
				}
			}
		}
		if l.Proto == "dhcp" {
			st.Lease = handoverLease(l)
			st.Lease.Acquired = b.acquired.Unix()
		}
	}
	if n := b.cfg.LivePollSeconds(); n > 0 && b.liveLower() {
		// The tree itself (NFS or CephFS), moved under the union: not
		// through it. An image root (sidus.image=, root=rbd:) never
		// changes: nothing to watch.
		st.Tree = &handover.Tree{Root: overlay.Default.RO, PollSeconds: n}
	}
	if s := b.iscsiSess; s != nil {
		p := b.iscsiP
		st.ISCSI = &handover.ISCSI{
			SID: s.SID, CID: s.CID, Host: s.Host, Target: s.Target, Portal: s.Portal,
			Portals: p.PortalAddrs(), Initiator: s.Initiator,
			ISID: iscsi.FormatISID(s.ISID), TSIH: s.TSIH,
			Username: p.Username, Password: p.Password, InUsername: p.InUsername, InPassword: p.InPassword,
		}
		if g, err := strconv.Atoi(p.Group); err == nil {
			st.ISCSI.Group = g
		}
		if v := b.cfg.Sidus["iscsi.recovery"]; v != "" {
			st.ISCSI.RecoverySeconds, _ = strconv.Atoi(v)
		}
	}
	var buf bytes.Buffer
	if err := handover.Write(&buf, st); err != nil {
		b.log.Printf("warning: %v", err)
		return nil
	}
	return &AgentStart{Path: handover.AgentPath, State: buf.Bytes()}
}

func handoverLease(l *Lease) *handover.Lease {
	s := func(ip net.IP) string {
		if ip == nil || ip.IsUnspecified() {
			return ""
		}
		return ip.String()
	}
	h := &handover.Lease{IP: s(l.IP), PrefixLen: ones(l.Netmask), Gateway: s(l.Gateway),
		Hostname: l.Hostname, Domain: l.Domain, ServerID: s(l.ServerID), NextServer: s(l.NextServer),
		RootPath: l.RootPath, LeaseSeconds: int64(l.LeaseTime.Seconds())}
	for _, d := range l.DNS {
		h.DNS = append(h.DNS, d.String())
	}
	return h
}

// liveLower reports whether the root is a tree that changes under the
// node (the NFS export or a CephFS directory), which the agent watches
// for the tree's generation stamp.
func (b *booter) liveLower() bool {
	switch b.res.Lower {
	case cmdline.LowerNFS:
		return b.res.NFSServer != ""
	case cmdline.LowerCephFS:
		return true
	}
	return false
}
