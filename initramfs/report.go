package initramfs

import (
	"encoding/json"
	"net"

	"github.com/sidus-go/sidus/initramfs/cmdline"
)

// StateDir holds what the init leaves for the booted system: the boot
// report and the iSCSI session (switch_root carries /run over).
const StateDir = "/run/sidus"

// ReportPath is the boot report the booted system (and admins) can read.
const ReportPath = StateDir + "/boot.json"

// report is boot.json. Keys are snake_case, durations are in seconds
// (floats), addresses are strings and the netmask is a prefix length (the
// lease's names are those of agent/handover's Lease).
type report struct {
	Stages        []reportStage `json:"stages"`
	TotalSeconds  float64       `json:"total_seconds"`
	Lease         *reportLease  `json:"lease,omitempty"`            // absent with ip=off
	Extra         []reportExtra `json:"extra_interfaces,omitempty"` // the other ip= interfaces; absent without
	NFS           reportNFS     `json:"nfs"`                        // the export; also under an image lower, empty under a Ceph one
	Lower         reportLower   `json:"lower"`
	Upper         reportUpper   `json:"upper"`
	Union         string        `json:"union"`
	ModulesLoaded int           `json:"modules_loaded"`
	Written       []string      `json:"written"`
}

type reportStage struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

type reportLease struct {
	Device       string   `json:"device"`
	Proto        string   `json:"proto"`
	IP           string   `json:"ip"`
	PrefixLen    int      `json:"prefix_len"`
	Gateway      string   `json:"gateway"`
	DNS          []string `json:"dns"`
	Hostname     string   `json:"hostname"`
	Domain       string   `json:"domain"`
	ServerID     string   `json:"server_id"`
	NextServer   string   `json:"next_server"`
	RootPath     string   `json:"root_path"`
	BootFile     string   `json:"boot_file"`
	LeaseSeconds float64  `json:"lease_seconds"`
}

// reportExtra is one ExtraLink.
type reportExtra struct {
	Device       string       `json:"device"`
	Mode         string       `json:"mode"` // dhcp, static or off
	MTU          int          `json:"mtu,omitempty"`
	MAC          string       `json:"mac,omitempty"`
	DefaultRoute bool         `json:"default_route"`
	Lease        *reportLease `json:"lease,omitempty"` // absent with ip=off
}

type reportNFS struct {
	Server  string   `json:"server"` // the one mounted
	Path    string   `json:"path"`
	Version string   `json:"version"`
	Options string   `json:"options"`
	Servers []string `json:"servers,omitempty"` // the servers named (nfsroot=a,b:/path), absent with one
}

// reportLower is the shared root at /ro (Result.Lower...): no secret, the
// RBD spec is rbd.Spec.String's.
type reportLower struct {
	Kind         cmdline.LowerKind `json:"kind"`   // nfs, image, rbd or cephfs
	Source       string            `json:"source"` // server:path, the image file, the RBD spec or MONS:/PATH
	Device       string            `json:"device,omitempty"`
	Verity       bool              `json:"verity"`
	VerityDevice string            `json:"verity_device,omitempty"`
	FSType       string            `json:"fstype"`
}

type reportUpper struct {
	Kind   cmdline.UpperKind `json:"kind"`
	Device string            `json:"device"`
}

// Report renders the boot report. It holds no secrets: the config's iSCSI
// passwords and the cephx key are never part of Result.
func (r *Result) Report(stages []StageTiming, total float64, written []string) ([]byte, error) {
	rep := report{Lease: leaseReport(r.Lease), Union: r.Union, ModulesLoaded: r.Modules, TotalSeconds: total, Written: written,
		NFS:   reportNFS{Server: r.NFSServer, Path: r.NFSPath, Version: r.NFSVersion, Options: r.NFSOptions, Servers: r.NFSServers},
		Upper: reportUpper{Kind: r.Upper, Device: r.UpperDev},
		Lower: reportLower{Kind: r.Lower, Source: r.LowerSource, Device: r.LowerDev, Verity: r.VerityDev != "", VerityDevice: r.VerityDev, FSType: r.LowerFSType}}
	for _, x := range r.Extra {
		rep.Extra = append(rep.Extra, reportExtra{Device: x.Device, Mode: string(x.Mode), MTU: x.MTU, MAC: x.MAC,
			DefaultRoute: x.DefaultRoute, Lease: leaseReport(x.Lease)})
	}
	for _, s := range stages {
		rep.Stages = append(rep.Stages, reportStage{s.Name, s.Duration.Seconds()})
	}
	return json.MarshalIndent(rep, "", "  ")
}

func leaseReport(l *Lease) *reportLease {
	if l == nil {
		return nil
	}
	str := func(ip net.IP) string {
		if ip == nil {
			return ""
		}
		return ip.String()
	}
	rl := &reportLease{Device: l.Device, Proto: l.Proto, IP: str(l.IP), Gateway: str(l.Gateway), DNS: []string{},
		Hostname: l.Hostname, Domain: l.Domain, ServerID: str(l.ServerID), NextServer: str(l.NextServer),
		RootPath: l.RootPath, BootFile: l.BootFile, LeaseSeconds: l.LeaseTime.Seconds()}
	rl.PrefixLen, _ = l.Netmask.Size() // what Configure gives the kernel
	for _, d := range l.DNS {
		rl.DNS = append(rl.DNS, d.String())
	}
	return rl
}

func (b *booter) writeReport(written []string) {
	written = append(written, ReportPath)
	if l := b.res.Lease; l != nil {
		written = append(written, "/run/net-"+l.Device+".conf")
	}
	for _, x := range b.res.Extra {
		if x.Lease != nil {
			written = append(written, "/run/net-"+x.Device+".conf")
		}
	}
	data, err := b.res.Report(b.log.Stages(), b.log.Elapsed().Seconds(), written)
	if err == nil {
		_ = b.sys.MkdirAll(StateDir)
		err = b.sys.WriteFile(ReportPath, data, 0o644)
	}
	if err != nil {
		b.log.Printf("warning: boot report: %v", err)
	}
}
