package cli

import (
	"os"
	"strconv"

	"github.com/sidus-go/sidus/server/boot"
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/generation"
	"github.com/spf13/cobra"
)

func (a *app) bootCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "boot", Short: "Publish what nodes boot over TFTP"}
	var kernel string
	publish := &cobra.Command{
		Use:   "publish",
		Short: "Pack initrd.img-Sidus for the tree's kernel and install it with vmlinuz-Sidus",
		Long: `publish packs initrd.img-Sidus (sidus-init, the modules of the tree's kernel,
their firmware) and installs it and vmlinuz-Sidus into the TFTP root, each
by an atomic rename; the pair they replace is kept as *.prev for
` + "`sidus boot rollback`" + `. It also writes pxelinux.cfg/default with the SIDUS
labels tmpfs and iscsi, and the iPXE script sidus.ipxe. SOURCE_DATE_EPOCH
sets the packed files' time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.needRoot("sidus boot publish"); err != nil {
				return err
			}
			c, err := a.load()
			if err != nil {
				return err
			}
			o := boot.Options{KernelVersion: kernel, Log: a.log(), DryRun: a.dryRun}
			if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
				o.MTime, _ = strconv.ParseInt(s, 10, 64)
			}
			if err := boot.Publish(c, o); err != nil {
				return err
			}
			// Keep the boot files on the current generation, if any.
			return generation.WriteBootFiles(c, &files.Writer{DryRun: a.dryRun, Log: a.log()})
		},
	}
	publish.Flags().StringVar(&kernel, "kernel", "", "kernel `VERSION` of the tree (default: the tree's /vmlinuz, else the newest)")
	rollback := &cobra.Command{
		Use:   "rollback",
		Short: "Swap vmlinuz-Sidus and initrd.img-Sidus with the previous pair (again: undo)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.needRoot("sidus boot rollback"); err != nil {
				return err
			}
			c, err := a.load()
			if err != nil {
				return err
			}
			return boot.Rollback(c, boot.Options{Log: a.log(), DryRun: a.dryRun})
		},
	}
	configs := &cobra.Command{
		Use:   "configs",
		Short: "Write only pxelinux.cfg/default and sidus.ipxe (after a config change)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.needRoot("sidus boot configs"); err != nil {
				return err
			}
			c, err := a.load()
			if err != nil {
				return err
			}
			w := &files.Writer{DryRun: a.dryRun, Log: a.log()}
			if err := boot.WriteConfigs(c, w); err != nil {
				return err
			}
			return generation.WriteBootFiles(c, w)
		},
	}
	cmd.AddCommand(publish, rollback, configs)
	return cmd
}
