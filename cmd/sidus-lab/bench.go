package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	qbench "github.com/sidus-go/sidus/qemu/bench"
)

// bench is `make bench`: ours, initramfs-tools and dracut side by side,
// then the boot storm and the root storm (see package qemu/bench). Ctrl-C
// tears the lab down.
func bench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("n", 3, "boots per initrd")
	out := fs.String("o", "BENCHMARKS.md", "Markdown file to write (empty: none); the storm's plot goes next to it as BENCHMARKS-storm.png")
	consoles := fs.String("consoles", "", "folder to keep every boot's serial console in")
	noDracut := fs.Bool("no-dracut", false, "skip dracut")
	verbose := fs.Bool("v", false, "copy the consoles to stdout as they come")
	stormFlag := fs.String("storm", "1,4,8,16", "boot storm: node counts to PXE-boot at once, one batch per count and initrd (\"none\" skips the storm)")
	rootStormFlag := fs.String("rootstorm", "16", "root storm: node counts to PXE-boot at once with our initrd, one batch per count on each of the plain NFS tree, a squashfs on NFS and that squashfs on RBD (\"none\" skips it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	storm, err := parseStorm(*stormFlag)
	if err != nil {
		return err
	}
	rootStorm, err := qbench.ParseNodeCounts("-rootstorm", *rootStormFlag)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return qbench.Run(ctx, qbench.Options{N: *n, Out: *out, Log: os.Stdout, Storm: storm, RootStorm: rootStorm,
		ConsoleDir: *consoles, NoDracut: *noDracut, Console: *verbose})
}

// parseStorm turns the -storm flag into Options.Storm: comma-separated
// node counts, each 1..qbench.MaxStormNodes; "none", "0" or "" give an
// empty list, which skips the storm.
func parseStorm(s string) ([]int, error) {
	ns, err := qbench.ParseNodeCounts("-storm", s)
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		if n > qbench.MaxStormNodes {
			return nil, fmt.Errorf("-storm: %d nodes in one batch is more than %d (each is a 512 MB VM)", n, qbench.MaxStormNodes)
		}
	}
	return ns, nil
}
