package livetree

import (
	"encoding/json"
	"sync"
	"time"
)

// Change is the last change of the tree the watcher saw.
type Change struct {
	Time time.Time `json:"time"`
	// File lists what changed ("var/lib/dpkg/status", comma-separated).
	File string `json:"file,omitempty"`
	// NFSReturn says the change is the NFS server's return after a poll
	// blocked: files may have been replaced meanwhile.
	NFSReturn bool `json:"nfs_return,omitempty"`
}

// StatusSnapshot is the watcher's part of the status file.
type StatusSnapshot struct {
	Root        string  `json:"root"`
	PollSeconds float64 `json:"poll_seconds"` // 0: the watcher is off
	// Generation is the tree's stamp at the last poll (nil: none, or not
	// a valid stamp).
	Generation    *Generation `json:"generation,omitempty"`
	Changes       int         `json:"changes"`
	LastChange    *Change     `json:"last_change,omitempty"`
	LastDropMS    float64     `json:"last_drop_ms"` // the first drop of the last change
	LastDropError string      `json:"last_drop_error,omitempty"`
	// NFSBlocked says a poll has waited for the NFS server for over three
	// poll intervals, since NFSBlockedSince (when that poll started).
	NFSBlocked      bool       `json:"nfs_blocked"`
	NFSBlockedSince *time.Time `json:"nfs_blocked_since,omitempty"`
	Polls           int        `json:"polls"`
}

// status is safe for concurrent use: Status never waits on the NFS server.
type status struct {
	mu sync.Mutex
	s  StatusSnapshot
}

func (st *status) snapshot() StatusSnapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.s
	if c.Generation != nil {
		g := *c.Generation
		c.Generation = &g
	}
	if c.LastChange != nil {
		l := *c.LastChange
		c.LastChange = &l
	}
	if c.NFSBlockedSince != nil {
		t := *c.NFSBlockedSince
		c.NFSBlockedSince = &t
	}
	return c
}

// MarshalJSON renders the snapshot.
func (st *status) MarshalJSON() ([]byte, error) { return json.Marshal(st.snapshot()) }

func (st *status) update(f func(s *StatusSnapshot)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.s)
}
