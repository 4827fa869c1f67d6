// Command sidus-init is the /init of initrd.img-Sidus: it boots a diskless
// node into the shared SIDUS root (package initramfs). It is also the node
// agent (package agent, as cmd/sidus-agent) when run under any other name
// (@sidus-agent at switch_root, /run/initramfs/shutdown, /run/sidus/agent):
// one binary, packed once (sidus-mkinitramfs --agent with the init's own
// path links the agent to it), a megabyte less of initrd.
package main

import (
	"os"
	"path/filepath"

	"github.com/sidus-go/sidus/agent"
	"github.com/sidus-go/sidus/initramfs"
)

func main() {
	if isInit(os.Args[0]) {
		initramfs.Main()
	}
	os.Exit(agent.Main(os.Args, os.Stdout))
}

// isInit reports whether argv0 names the init (the kernel runs /init;
// sidus-init by hand) rather than the agent.
func isInit(argv0 string) bool {
	b := filepath.Base(argv0)
	return b == "init" || b == "sidus-init"
}
