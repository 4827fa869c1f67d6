package cli

import (
	"fmt"

	"github.com/BurntSushi/toml"
	"github.com/sidus-go/sidus/server/config"
	"github.com/spf13/cobra"
)

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Print an example configuration, or the one in use"}
	cmd.AddCommand(&cobra.Command{
		Use:   "example",
		Short: "Print a commented " + config.DefaultPath,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(a.stdout, config.Example)
			return nil
		},
	}, &cobra.Command{
		Use:   "show",
		Short: "Check the configuration and print it with every default filled in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.load()
			if err != nil {
				return err
			}
			return toml.NewEncoder(a.stdout).Encode(c)
		},
	})
	return cmd
}
