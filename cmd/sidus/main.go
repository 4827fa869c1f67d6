// Command sidus runs a SIDUS server: the shared tree, its boot files and
// its nodes. See package server/cli, and `sidus help`.
package main

import (
	"os"

	"github.com/sidus-go/sidus/server/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
