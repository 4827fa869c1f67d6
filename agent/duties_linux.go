package agent

import (
	"context"
	"fmt"

	"github.com/sidus-go/sidus/agent/handover"
	"github.com/sidus-go/sidus/agent/livetree"
	"github.com/sidus-go/sidus/agent/renew"
)

// duties builds what the agent tends for this boot's state.
func duties(st *handover.State, logf func(string, ...any)) ([]Duty, error) {
	var ds []Duty
	if st.Lease != nil {
		l, err := renew.FromHandover(st)
		if err != nil {
			return nil, err
		}
		ex, err := renew.NewUDPExchanger(l.Device, l.MAC)
		if err != nil {
			return nil, fmt.Errorf("DHCP on %s: %w", l.Device, err)
		}
		sys := &renew.System{Hostname: st.WroteHostname, Resolv: st.WroteResolv, NetConf: st.NetConf != "",
			Logf: func(f string, a ...any) { logf("lease: "+f, a...) }}
		r := &renew.Renewer{Lease: l, Ex: ex, OnChange: sys.OnChange,
			Logf: func(f string, a ...any) { logf("lease: "+f, a...) }}
		ds = append(ds, leaseDuty{r})
	}
	if st.ISCSI != nil {
		d, err := iscsiDuty(st.ISCSI, logf)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	if t := st.Tree; t != nil && t.PollSeconds > 0 {
		tlogf := func(f string, a ...any) { logf("tree: "+f, a...) }
		// A bad tree config costs the watcher, not the agent's lifelines.
		cfg, err := livetree.FromHandover(t)
		var w *livetree.Watcher
		if err == nil {
			w, err = livetree.New(cfg, livetree.Options{Logf: tlogf})
		}
		if err != nil {
			tlogf("%v; not watching the tree: running nodes see its upgrades late or not at all", err)
		} else {
			ds = append(ds, w)
		}
	}
	return ds, nil
}

type leaseDuty struct{ r *renew.Renewer }

func (leaseDuty) Name() string                    { return "lease" }
func (d leaseDuty) Run(ctx context.Context) error { return d.r.Run(ctx) }
func (d leaseDuty) Status() any                   { return d.r.Status() }
