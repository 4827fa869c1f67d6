package cli

import (
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/generation"
	"github.com/sidus-go/sidus/server/nodes"
	"github.com/spf13/cobra"
)

func (a *app) manager() (*nodes.Manager, error) {
	c, err := a.load()
	if err != nil {
		return nil, err
	}
	return &nodes.Manager{Config: c, Runner: a.runner(), Log: a.log(), DryRun: a.dryRun}, nil
}

func (a *app) nodeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Add, remove and list the nodes"}

	var r nodes.Request
	add := &cobra.Command{
		Use:   "add NAME --mac MAC --ip IP [--iscsi SIZE] [--chap] [--label tmpfs|iscsi]",
		Short: "Add a node: its pxelinux file, DHCP host entry and, for iscsi, its LUN and target",
		Long: `add records a node and writes its pxelinux.cfg/01-<mac> (booting label
tmpfs or iscsi), its fixed DHCP host entry and reloads the DHCP server.
With --iscsi SIZE (or --label iscsi: iscsi.default_size) it creates a
sparse LUN file formatted ext4 with the configured label, and a tgt target
named after the IP (only that IP may log in), written to tgt's conf.d and
applied to the running tgtd. --chap adds a CHAP secret, given to that node
only in a small extra initrd. Nothing is written if an input is wrong;
adding the same node again changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.needRoot("sidus node add"); err != nil {
				return err
			}
			m, err := a.manager()
			if err != nil {
				return err
			}
			r.Name = args[0]
			if _, err = m.Add(cmd.Context(), r); err != nil {
				return err
			}
			// The node's file boots the current generation, if any.
			return generation.WriteBootFiles(m.Config, &files.Writer{DryRun: a.dryRun, Log: a.log()})
		},
	}
	add.Flags().StringVar(&r.MAC, "mac", "", "the node's boot NIC `MAC` (aa:bb:cc:dd:ee:ff)")
	add.Flags().StringVar(&r.IP, "ip", "", "the node's fixed `IP` on the node network")
	add.Flags().StringVar(&r.LUNSize, "iscsi", "", "give the node an iSCSI LUN of `SIZE` (e.g. 20G)")
	add.Flags().BoolVar(&r.CHAP, "chap", false, "protect the LUN with a CHAP secret")
	add.Flags().StringVar(&r.Label, "label", "", "pxelinux label: tmpfs or iscsi (default: iscsi with --iscsi, else tmpfs)")
	add.MarkFlagRequired("mac")
	add.MarkFlagRequired("ip")
	add.RegisterFlagCompletionFunc("label", cobra.FixedCompletions([]string{"tmpfs", "iscsi"}, cobra.ShellCompDirectiveNoFileComp))

	var ro nodes.RemoveOptions
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a node: its files, host entry, target and LUN",
		Long: `rm removes the node's pxelinux file, DHCP host entry, tgt target and LUN
file (--keep-lun keeps the file). It refuses while the node is logged in to
its LUN, unless --force.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeNodes,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.needRoot("sidus node rm"); err != nil {
				return err
			}
			m, err := a.manager()
			if err != nil {
				return err
			}
			return m.Remove(cmd.Context(), args[0], ro)
		},
	}
	rm.Flags().BoolVar(&ro.Force, "force", false, "remove the target even with a live iSCSI session")
	rm.Flags().BoolVar(&ro.KeepLUN, "keep-lun", false, "keep the LUN file (the node's data)")

	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the nodes: MAC, IP, label, LUN size and use, iSCSI session, last lease",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := a.manager()
			if err != nil {
				return err
			}
			rows, err := m.List(cmd.Context())
			if err != nil {
				return err
			}
			return nodes.WriteTable(a.stdout, rows)
		},
	}
	cmd.AddCommand(add, rm, list)
	return cmd
}

func (a *app) completeNodes(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	m, err := a.manager()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	ns, _ := m.Nodes()
	var names []string
	for _, n := range ns {
		names = append(names, n.Name+"\t"+n.IP)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
