package cli

import (
	"fmt"
	"strings"

	"github.com/sidus-go/sidus/server/check"
	"github.com/sidus-go/sidus/server/runner"
	"github.com/sidus-go/sidus/server/setup"
	"github.com/sidus-go/sidus/server/tree"
	"github.com/spf13/cobra"
)

func (a *app) setupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "setup",
		Short: "Write the DHCP boot options and hosts and the tree's NFS export, reload the servers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.needRoot("sidus setup"); err != nil {
				return err
			}
			c, err := a.load()
			if err != nil {
				return err
			}
			return setup.Setup(cmd.Context(), c, a.runner(), a.dryRun, a.log())
		},
	}
}

func (a *app) checkCmd() *cobra.Command {
	var names []string
	for _, c := range check.Checks {
		names = append(names, c.Name)
	}
	return &cobra.Command{
		Use:       "check [" + strings.Join(names, "|") + "...]",
		Short:     "Check the server as a node sees it; print each problem with its fix",
		ValidArgs: names,
		Args:      cobra.OnlyValidArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.load()
			if err != nil {
				return err
			}
			e := &check.Env{Config: c, Runner: &runner.Exec{}, Euid: a.euid(), MountsUnder: tree.MountsUnder}
			if a.newRunner != nil {
				e.Runner = a.newRunner()
			}
			if n := check.Run(cmd.Context(), e, a.stdout, args...); n > 0 {
				return fmt.Errorf("%d problem(s)", n)
			}
			return nil
		},
	}
}
