package main

import (
	"testing"

	"github.com/sidus-go/sidus/agent/handover"
)

// The kernel's /init boots the node; the names the agent runs under run
// the agent.
func TestIsInit(t *testing.T) {
	for argv0, want := range map[string]bool{
		"/init": true, "init": true, "./sidus-init": true, "/usr/local/sbin/sidus-init": true,
		handover.ArgV0: false, handover.Exitrd: false, handover.AgentPath: false, "sidus-agent": false,
	} {
		if got := isInit(argv0); got != want {
			t.Errorf("isInit(%q) = %v, want %v", argv0, got, want)
		}
	}
}
