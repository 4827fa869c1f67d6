package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	qbench "github.com/sidus-go/sidus/qemu/bench"
)

// bench is `make bench`: ours, initramfs-tools and dracut side by side
// (see package qemu/bench). Ctrl-C tears the lab down.
func bench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("n", 5, "boots per initrd")
	out := fs.String("o", "BENCHMARKS.md", "Markdown file to write (empty: none)")
	consoles := fs.String("consoles", "", "folder to keep every boot's serial console in")
	noDracut := fs.Bool("no-dracut", false, "skip dracut")
	verbose := fs.Bool("v", false, "copy the consoles to stdout as they come")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return qbench.Run(ctx, qbench.Options{N: *n, Out: *out, Log: os.Stdout,
		ConsoleDir: *consoles, NoDracut: *noDracut, Console: *verbose})
}
