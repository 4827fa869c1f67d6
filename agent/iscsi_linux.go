package agent

import (
	"context"

	"github.com/sidus-go/sidus/agent/handover"
	"github.com/sidus-go/sidus/agent/iscsirecover"
)

// iscsiDuty tends the writable layer's session (agent/iscsirecover).
func iscsiDuty(s *handover.ISCSI, logf func(string, ...any)) (Duty, error) {
	cfg, err := iscsirecover.FromHandover(s)
	if err != nil {
		return nil, err
	}
	return iscsirecover.New(cfg, iscsirecover.Options{Logf: func(f string, a ...any) { logf("iscsi: "+f, a...) }})
}

// logoutAll logs out of every iSCSI session, bounded in time.
func logoutAll(logf func(string, ...any)) func() error {
	return func() error { return iscsirecover.LogoutAll(context.Background(), logf) }
}
