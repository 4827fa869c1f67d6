package cli

import (
	"fmt"

	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/generation"
	"github.com/spf13/cobra"
)

func (a *app) genCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Publish the tree as numbered read-only images that nodes boot, with rollback",
		Long: `A generation is the shared tree frozen into an immutable squashfs image
(zstd, optionally with a dm-verity hash tree), kept as a file under the NFS
export (backend nfs) or as a Ceph RBD image with a protected snapshot
(backend rbd). The current generation is the one pxelinux.cfg/default,
sidus.ipxe and the nodes' pxelinux files boot; the config's [generations]
section sets the backend. Nodes switch at their next boot. An rbd generation
has a cephx user of its own, client.sidus-gen-NNNN, whose keyring nodes load
from the extra initrd gen-NNNN.img: the monitors' sessions under it tell
which generations running nodes use (gen list, gen prune).`,
	}

	var verity bool
	var backend string
	publish := &cobra.Command{
		Use:   "publish [--verity] [--backend nfs|rbd]",
		Short: "Build the next generation from the tree, store it and make it current",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.needRoot("sidus gen publish"); err != nil {
				return err
			}
			c, err := a.load()
			if err != nil {
				return err
			}
			o := a.genOpts()
			o.Backend = backend
			if cmd.Flags().Changed("verity") {
				o.Verity = &verity
			}
			_, err = generation.Publish(cmd.Context(), c, o)
			return err
		},
	}
	publish.Flags().BoolVar(&verity, "verity", false, "append a dm-verity hash tree (default: generations.verity)")
	publish.Flags().StringVar(&backend, "backend", "", "store it in `nfs` or rbd (default: generations.backend)")
	publish.RegisterFlagCompletionFunc("backend", cobra.FixedCompletions([]string{config.BackendNFS, config.BackendRBD}, cobra.ShellCompDirectiveNoFileComp))

	var noSessions bool
	list := &cobra.Command{
		Use:   "list [--no-sessions]",
		Short: "List the generations; * marks the current one",
		Long: `list shows the generations, the current one starred. With rbd generations,
the IN USE column lists the addresses of the nodes that run each one, from
the monitors' sessions (ceph tell mon.ID sessions, with this server's Ceph
client): "-" for none, "?" where there is no signal (nfs generations, rbd
ones published without a cephx user of their own, or the monitors could not
be asked). --no-sessions skips asking them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.load()
			if err != nil {
				return err
			}
			st, err := generation.List(c)
			if err != nil {
				return err
			}
			if len(st.Generations) == 0 {
				fmt.Fprintln(a.stdout, "no generation (sidus gen publish makes one); nodes boot the live tree")
				return nil
			}
			to := generation.TableOptions{InUse: !noSessions}
			if !noSessions && generation.NeedsSessions(st.Generations) {
				s, err := generation.ReadSessions(cmd.Context(), c, a.runner())
				if err != nil {
					fmt.Fprintf(a.stderr, "warning: IN USE unknown (\"?\"): %v\n", err)
				}
				to.Sessions = s
			}
			return generation.WriteTable(a.stdout, st, to)
		},
	}
	list.Flags().BoolVar(&noSessions, "no-sessions", false, "do not ask the Ceph monitors which generations nodes use (no IN USE column)")

	var to int
	rollback := &cobra.Command{
		Use:   "rollback [--to N]",
		Short: "Make the previous generation (or N) current",
		Long: `rollback makes the newest generation older than the current one current
(again: the one before), or generation N with --to (forward too), by
rewriting the boot files. Nodes boot it from their next boot.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.needRoot("sidus gen rollback"); err != nil {
				return err
			}
			c, err := a.load()
			if err != nil {
				return err
			}
			o := a.genOpts()
			o.To = to
			_, err = generation.Rollback(cmd.Context(), c, o)
			return err
		},
	}
	rollback.Flags().IntVar(&to, "to", 0, "make generation `N` current")

	var keep int
	prune := &cobra.Command{
		Use:   "prune [--keep K]",
		Short: "Remove the generations older than the last K, never the current one",
		Long: `prune removes the generations older than the last K (default
generations.keep) except the current one; an rbd generation goes with its
cephx user and its initrd. An rbd generation that running nodes still use,
as the monitors' sessions under its own cephx user tell, is kept however
old and reported with the nodes' addresses; if the monitors cannot be asked,
no rbd generation is removed. A node that crashed holds its generation
until its monitor drops the connection (ms_connection_idle_timeout, 900 s
by default). Generations published before they had a user of their own
are kept only if their image has watchers, which kernels since 5.9 do not
register for read-only mappings: keep enough of those to cover the nodes
not yet rebooted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.needRoot("sidus gen prune"); err != nil {
				return err
			}
			c, err := a.load()
			if err != nil {
				return err
			}
			o := a.genOpts()
			o.Keep = keep
			res, err := generation.Prune(cmd.Context(), c, o)
			for _, k := range res.Kept {
				fmt.Fprintf(a.stdout, "generation %d kept: %s\n", k.Number, k.Reason)
			}
			return err
		},
	}
	prune.Flags().IntVar(&keep, "keep", 0, "keep the last `K` generations (default: generations.keep)")

	cmd.AddCommand(publish, list, rollback, prune)
	return cmd
}

func (a *app) genOpts() generation.Options {
	return generation.Options{Runner: a.runner(), Log: a.log(), DryRun: a.dryRun}
}
