package iscsirecover

import (
	"encoding/json"
	"sync"
	"time"
)

// State of the session, as the status file shows it.
type State string

const (
	StateLoggedIn   State = "logged_in"  // the connection is up
	StateRecovering State = "recovering" // the connection failed; I/O is queued while we log in again
	StateFailed     State = "failed"     // given up (sidus.iscsi.recovery elapsed, or the session is gone): I/O fails
	StateLoggedOut  State = "logged_out" // Logout ended the session
)

// maxReconnects is how many reconnections the status keeps (the newest).
const maxReconnects = 20

// Reconnect is one recovery of the session, from the connection failure to
// the new login (or to giving up).
type Reconnect struct {
	At              time.Time `json:"at"`               // when the failure was seen
	DurationSeconds float64   `json:"duration_seconds"` // until logged in again (or given up)
	Portal          string    `json:"portal"`           // where it logged in again (or last tried)
	Attempts        int       `json:"attempts"`
	Error           string    `json:"error"`                        // what broke the connection
	LastAttempt     string    `json:"last_attempt_error,omitempty"` // the last failed login attempt
	Recovered       bool      `json:"recovered"`
}

// StatusSnapshot is the JSON form of Status (no secrets: errors never
// contain them).
type StatusSnapshot struct {
	State           State       `json:"state"`
	SID             int         `json:"sid"`
	Target          string      `json:"target"`
	Portal          string      `json:"portal"` // in use, or being tried
	Since           time.Time   `json:"since"`  // when State was entered
	RecoverySeconds int         `json:"recovery_seconds"`
	ReconnectCount  int         `json:"reconnect_count"`
	Reconnects      []Reconnect `json:"reconnects"`         // the newest last, at most 20
	Attempts        int         `json:"attempts,omitempty"` // of the recovery under way
	LastError       string      `json:"last_error,omitempty"`
}

// Status is the session's state for /run/sidus/agent.json; safe for
// concurrent use.
type Status struct {
	mu sync.Mutex
	s  StatusSnapshot
}

// Snapshot returns a copy.
func (st *Status) Snapshot() StatusSnapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.s
	c.Reconnects = append([]Reconnect{}, st.s.Reconnects...)
	return c
}

// MarshalJSON renders the snapshot.
func (st *Status) MarshalJSON() ([]byte, error) { return json.Marshal(st.Snapshot()) }

func (st *Status) update(f func(s *StatusSnapshot)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.s)
}

func (st *Status) setState(state State, at time.Time, portal string) {
	st.update(func(s *StatusSnapshot) {
		if s.State != state {
			s.Since = at
		}
		s.State = state
		if portal != "" {
			s.Portal = portal
		}
	})
}

func (st *Status) addReconnect(r Reconnect) {
	st.update(func(s *StatusSnapshot) {
		s.ReconnectCount++
		s.Reconnects = append(s.Reconnects, r)
		if n := len(s.Reconnects); n > maxReconnects {
			s.Reconnects = append([]Reconnect{}, s.Reconnects[n-maxReconnects:]...)
		}
	})
}
