// Command sidus-agent keeps a booted SIDUS node's lifelines: its DHCP
// lease, its iSCSI session and its shutdown order. /init starts it at
// switch_root; see package agent.
package main

import (
	"os"

	"github.com/sidus-go/sidus/agent"
)

func main() { os.Exit(agent.Main(os.Args, os.Stdout)) }
