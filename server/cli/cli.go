// Package cli is the sidus command line (spf13/cobra): one file per noun,
// each verb a thin wrapper over the library packages of server/, which do
// not know about cobra. cmd/sidus is a one-line main over Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/runner"
	"github.com/spf13/cobra"
)

// app is the state shared by the commands.
type app struct {
	configPath string
	dryRun     bool
	quiet      bool

	stdin          io.Reader
	stdout, stderr io.Writer
	// euid, for the root check (a seam for tests).
	euid func() int
	// newRunner makes the runner (tests swap in a fake).
	newRunner func() runner.Runner

	cfg *config.Config
}

// Main runs the sidus command and returns its exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, euid: os.Geteuid}
	return a.run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(a.stderr, "sidus: %v\n", err)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return ee.ExitCode()
	}
	return 1
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "sidus",
		Short: "Run a SIDUS server: the shared tree, its boot files and its nodes",
		Long: `sidus administers a SIDUS server: one shared Debian tree that diskless
nodes boot over PXE and NFS (read-only, with a tmpfs or iSCSI writable
layer on top).

  sidus tree create          debootstrap and prepare the shared tree
  sidus tree run -- CMD      run a command in the tree, safely
  sidus boot publish         pack the initrd, install kernel and initrd for TFTP
  sidus setup                write the DHCP and NFS server files
  sidus node add NAME ...    add a node (pxelinux file, DHCP host, iSCSI LUN)
  sidus check                check the server as a node sees it

Its configuration is ` + config.DefaultPath + ` (sidus config example prints one).
With --dry-run, commands say what they would change and change nothing.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&a.configPath, "config", "c", config.DefaultPath, "configuration `FILE`")
	root.PersistentFlags().BoolVarP(&a.dryRun, "dry-run", "n", false, "show what would change, change nothing")
	root.PersistentFlags().BoolVarP(&a.quiet, "quiet", "q", false, "no progress lines")
	root.MarkPersistentFlagFilename("config", "toml")
	root.AddCommand(a.configCmd(), a.treeCmd(), a.bootCmd(), a.nodeCmd(), a.setupCmd(), a.checkCmd())
	root.AddCommand(a.genCmd())
	return root
}

// log is where progress lines go.
func (a *app) log() io.Writer {
	if a.quiet {
		return io.Discard
	}
	return a.stderr
}

// load reads the configuration (once).
func (a *app) load() (*config.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	c, err := config.Load(a.configPath)
	if err != nil {
		return nil, err
	}
	a.cfg = c
	return c, nil
}

// needRoot fails unless running as root or in dry-run mode.
func (a *app) needRoot(what string) error {
	if a.dryRun || a.euid() == 0 {
		return nil
	}
	return fmt.Errorf("%s must run as root (it writes system files, mounts and chroots); run it with sudo, or add --dry-run to see what it would do", what)
}

// runner is the command runner: real, or reporting in dry-run mode.
func (a *app) runner() runner.Runner {
	if a.newRunner != nil {
		return a.newRunner()
	}
	e := &runner.Exec{}
	if a.dryRun {
		e.DryRunCB = func(c runner.Cmd) { fmt.Fprintf(a.stderr, "would run %s\n", c) }
	} else if !a.quiet {
		e.Log = a.stderr
	}
	return e
}
