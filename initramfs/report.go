package initramfs

import (
	"encoding/json"
)

// ReportPath is the boot report the booted system (and admins) can read.
const ReportPath = "/run/sidus/boot.json"

type reportStage struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

type report struct {
	Stages  []reportStage `json:"stages"`
	Total   float64       `json:"total_seconds"`
	Lease   *Lease        `json:"lease,omitempty"`
	NFS     reportNFS     `json:"nfs"`
	Upper   reportUpper   `json:"upper"`
	Union   string        `json:"union"`
	Modules int           `json:"modules_loaded"`
	Writes  []string      `json:"written"`
}

type reportNFS struct {
	Server, Path, Version, Options string
}

type reportUpper struct {
	Kind   UpperKind `json:"kind"`
	Device string    `json:"device"`
}

// Report renders the boot report. It holds no secrets: the config's iSCSI
// passwords are never part of Result.
func (r *Result) Report(stages []StageTiming, total float64, written []string) ([]byte, error) {
	rep := report{Lease: r.Lease, Union: r.Union, Modules: r.Modules, Total: total, Writes: written,
		NFS:   reportNFS{r.NFSServer, r.NFSPath, r.NFSVersion, r.NFSOptions},
		Upper: reportUpper{r.Upper, r.UpperDev}}
	for _, s := range stages {
		rep.Stages = append(rep.Stages, reportStage{s.Name, s.Duration.Seconds()})
	}
	return json.MarshalIndent(rep, "", "  ")
}

func (b *booter) writeReport(written []string) {
	written = append(written, ReportPath)
	if l := b.res.Lease; l != nil {
		written = append(written, "/run/net-"+l.Device+".conf")
	}
	data, err := b.res.Report(b.log.Stages(), b.log.Elapsed().Seconds(), written)
	if err == nil {
		_ = b.sys.MkdirAll("/run/sidus")
		err = b.sys.WriteFile(ReportPath, data, 0o644)
	}
	if err != nil {
		b.log.Printf("warning: boot report: %v", err)
	}
}
