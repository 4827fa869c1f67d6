package agent

import (
	"errors"

	"github.com/sidus-go/sidus/agent/handover"
)

// iscsiDuty tends the writable layer's session (agent/iscsirecover).
func iscsiDuty(s *handover.ISCSI, logf func(string, ...any)) (Duty, error) {
	return nil, errors.New("iSCSI recovery: not wired yet")
}

// logoutAll logs out of every iSCSI session, bounded in time.
func logoutAll(logf func(string, ...any)) func() error {
	return func() error { return nil }
}
