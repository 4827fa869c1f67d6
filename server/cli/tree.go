package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/sidus-go/sidus/server/tree"
	"github.com/spf13/cobra"
)

func (a *app) treeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tree", Short: "Create and administer the shared tree"}

	var profile, mirror string
	create := &cobra.Command{
		Use:   "create",
		Short: "Debootstrap the shared tree from a profile and prepare it for SIDUS",
		Long: `create debootstraps the tree (config key tree) from a profile, a TOML file
or a built-in one (` + strings.Join(tree.BuiltinProfiles(), ", ") + `), then prepares it as the SIDUS
document does: locale, timezone, keyboard, no /etc/hostname, a static
resolv.conf, a loopback-only interfaces file, HPC limits, the kernel and
depmod. Run again, it only puts back what changed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.needRoot("sidus tree create"); err != nil {
				return err
			}
			c, err := a.load()
			if err != nil {
				return err
			}
			p, err := tree.LoadProfile(profile)
			if err != nil {
				return err
			}
			return tree.Create(cmd.Context(), c.Tree, p, tree.CreateOptions{
				Runner: a.runner(), DNS: c.Network.DNS, Mirror: mirror, Log: a.log(), DryRun: a.dryRun,
			})
		},
	}
	create.Flags().StringVarP(&profile, "profile", "p", tree.DefaultProfile, "profile `FILE` or built-in name")
	create.Flags().StringVar(&mirror, "mirror", "", "Debian mirror `URL` (default: the profile's)")
	create.RegisterFlagCompletionFunc("profile", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return tree.BuiltinProfiles(), cobra.ShellCompDirectiveDefault
	})

	profileCmd := &cobra.Command{
		Use:       "profile NAME",
		Short:     "Print a built-in profile (a start for your own)",
		Args:      cobra.ExactArgs(1),
		ValidArgs: tree.BuiltinProfiles(),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := tree.BuiltinProfile(args[0])
			if err != nil {
				return fmt.Errorf("no built-in profile %s (there are %s)", args[0], strings.Join(tree.BuiltinProfiles(), ", "))
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}

	run := &cobra.Command{
		Use:   "run -- CMD [ARG...]",
		Short: "Run a command in the tree, safely (the SIDUS update dance)",
		Long: `run runs CMD chrooted into the tree, in a private mount namespace with
/proc, /sys, /dev, /dev/pts, /dev/shm and /run mounted, and policy-rc.d in
place so that no service starts. Afterwards every process left in the tree
is killed, no mount remains (even after Ctrl-C or a failure), and the
tree's generation stamp is bumped, which tells running nodes the tree
changed.

  sidus tree run -- apt-get install -y hwloc`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.needRoot("sidus tree run"); err != nil {
				return err
			}
			c, err := a.load()
			if err != nil {
				return err
			}
			_, err = tree.Run(cmd.Context(), c.Tree, [][]string{args}, a.runOpts())
			return err
		},
	}
	run.Flags().SetInterspersed(false)

	upgrade := &cobra.Command{
		Use:   "upgrade",
		Short: "apt-get update, full-upgrade and clean in the tree (see tree run)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.needRoot("sidus tree upgrade"); err != nil {
				return err
			}
			c, err := a.load()
			if err != nil {
				return err
			}
			before, _ := tree.Kernels(c.Tree)
			_, err = tree.Upgrade(cmd.Context(), c.Tree, a.runOpts())
			if after, _ := tree.Kernels(c.Tree); strings.Join(after, " ") != strings.Join(before, " ") {
				fmt.Fprintf(a.log(), "the tree's kernels changed (%s): run `sidus boot publish`\n", strings.Join(after, ", "))
			}
			return err
		},
	}

	gen := &cobra.Command{
		Use:   "generation",
		Short: "Print the tree's generation stamp",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.load()
			if err != nil {
				return err
			}
			n, t, err := tree.ReadGeneration(c.Tree)
			if err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintln(a.stdout, "0 (never stamped)")
				return nil
			}
			fmt.Fprintf(a.stdout, "%d %s\n", n, t.UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.AddCommand(create, profileCmd, run, upgrade, gen)
	return cmd
}

func (a *app) runOpts() tree.RunOptions {
	return tree.RunOptions{Runner: a.runner(), Stdin: a.stdin, Stdout: a.stdout, Stderr: a.stderr, Log: a.log(), DryRun: a.dryRun}
}
