// Package agent is sidus-agent, the node's daemon after boot. /init starts
// it at switch_root (handover.ArgV0, state on a pipe) and it keeps the
// lifelines of a network root for as long as the node runs:
//   - the DHCP lease of the boot NIC, renewed at T1 and rebound at T2, the
//     address kept whatever the server says (package agent/renew);
//   - the iSCSI session of the writable layer, reconnected and logged in
//     again after a target restart or a network blip (agent/iscsirecover);
//   - the node's view of the shared tree: an in-place upgrade, seen by a
//     poll of its NFS mount (dpkg's status, the generation stamp), drops
//     the stale dentries the overlay keeps (agent/livetree);
//   - the shutdown order: on systemd roots its runtime unit is stopped only
//     after every user of the network and the LUN, and its exitrd copy
//     unmounts the old root before it logs out of iSCSI (Shutdown);
//   - its status, in handover.Status, printed by "sidus-agent status".
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Duty is one lifeline the agent tends.
type Duty interface {
	// Name is its key in the status file ("lease", "iscsi").
	Name() string
	// Run tends it until ctx ends.
	Run(ctx context.Context) error
	// Status is its part of the status file (JSON, no secrets).
	Status() any
}

// Status is the agent's status file.
type Status struct {
	PID     int            `json:"pid"`
	Started time.Time      `json:"started"`
	Updated time.Time      `json:"updated"`
	Device  string         `json:"device,omitempty"`
	State   string         `json:"state"` // running, stopping, stopped
	RSSKB   int64          `json:"rss_kb,omitempty"`
	Duties  map[string]any `json:"duties"`
}

// Agent runs the duties and keeps the status file.
type Agent struct {
	Device string
	Duties []Duty
	// WriteStatus stores the status file (atomically).
	WriteStatus func(b []byte) error
	// RSS returns the agent's resident set size in KiB (0 if unknown).
	RSS      func() int64
	Logf     func(format string, a ...any)
	Now      func() time.Time
	Interval time.Duration // status refresh; default 10 s

	mu      sync.Mutex
	state   string
	started time.Time
}

// Run tends every duty until ctx ends, then writes a last status.
func (a *Agent) Run(ctx context.Context) {
	if a.Interval == 0 {
		a.Interval = 10 * time.Second
	}
	a.started = a.Now()
	a.SetState("running")
	var wg sync.WaitGroup
	for _, d := range a.Duties {
		wg.Add(1)
		go func(d Duty) {
			defer wg.Done()
			if err := d.Run(ctx); err != nil && ctx.Err() == nil {
				a.Logf("%s: %v", d.Name(), err)
			}
		}(d)
	}
	t := time.NewTicker(a.Interval)
	defer t.Stop()
	for {
		a.write()
		select {
		case <-ctx.Done():
			wg.Wait()
			a.SetState("stopped")
			return
		case <-t.C:
		}
	}
}

// SetState records running, stopping or stopped and writes the status.
func (a *Agent) SetState(s string) {
	a.mu.Lock()
	a.state = s
	a.mu.Unlock()
	a.write()
}

func (a *Agent) write() {
	a.mu.Lock()
	st := Status{PID: os.Getpid(), Started: a.started, Updated: a.Now(), Device: a.Device, State: a.state, Duties: map[string]any{}}
	a.mu.Unlock()
	if a.RSS != nil {
		st.RSSKB = a.RSS()
	}
	for _, d := range a.Duties {
		st.Duties[d.Name()] = d.Status()
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		err = a.WriteStatus(append(b, '\n'))
	}
	if err != nil {
		a.Logf("status: %v", err)
	}
}

// WriteFileAtomic writes path through a temporary file and a rename.
func WriteFileAtomic(path string, b []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// PrintStatus renders a status file for a person: one "key: value" line
// per field, nested keys joined with dots, after a summary line.
func PrintStatus(w io.Writer, b []byte, now time.Time) error {
	var st Status
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("the status file is not valid (is sidus-agent running?): %w", err)
	}
	age := now.Sub(st.Updated).Round(time.Second)
	fmt.Fprintf(w, "sidus-agent pid %d, %s since %s, updated %s ago", st.PID, st.State, st.Started.Format(time.RFC3339), age)
	if st.RSSKB > 0 {
		fmt.Fprintf(w, ", RSS %.1f MB", float64(st.RSSKB)/1024)
	}
	fmt.Fprintln(w)
	if age > time.Minute && st.State == "running" {
		fmt.Fprintf(w, "warning: the status is %s old: the agent may be gone\n", age)
	}
	var raw struct {
		Duties map[string]any `json:"duties"`
	}
	_ = json.Unmarshal(b, &raw)
	var lines []string
	var flat func(prefix string, v any)
	flat = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				flat(prefix+"."+k, e)
			}
		case []any:
			if len(x) == 0 {
				lines = append(lines, prefix+": none")
			}
			for i, e := range x {
				flat(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		case nil:
		default:
			lines = append(lines, fmt.Sprintf("%s: %v", prefix, x))
		}
	}
	for k, v := range raw.Duties {
		flat(k, v)
	}
	sort.Strings(lines)
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}
