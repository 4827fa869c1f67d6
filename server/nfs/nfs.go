// Package nfs writes the tree's export: read-only and no_root_squash for
// the node network, as an /etc/exports.d line for nfs-kernel-server or an
// EXPORT block for nfs-ganesha; and reads them back for `sidus check`.
package nfs

import (
	"context"
	"fmt"
	"strings"

	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/runner"
)

const header = "# Written by sidus (sidus setup): do not edit, it is rewritten.\n"

// ExportOptions are the options of the tree's export: read-only, and
// root on a node is root in the tree (setuid programs, root-owned files).
const ExportOptions = "ro,no_root_squash,no_subtree_check"

// ExportsFile is the exports(5) file for nfs-kernel-server.
func ExportsFile(c *config.Config) string {
	return header + fmt.Sprintf("%s %s(%s)\n", exportPath(c.Tree), c.Prefix, ExportOptions)
}

// exportPath escapes a path for exports(5) (octal escapes for blanks).
func exportPath(p string) string {
	return strings.NewReplacer(" ", `\040`, "\t", `\011`).Replace(p)
}

// GaneshaExport is the EXPORT block for nfs-ganesha, %include'd from its
// main file. Only the node network may mount, read-only.
func GaneshaExport(c *config.Config) string {
	return header + fmt.Sprintf(`# %%include "%s" from %s, whose NFSV4 block must have
#   Only_Numeric_Owners = true;
# (nodes run no idmapper: with owner names every file looks owned by nobody).
EXPORT {
	Export_Id = %d;
	Path = %q;
	Pseudo = %q;
	Access_Type = None;
	Squash = No_Root_Squash;
	SecType = sys;
	Protocols = 3, 4;
	Transports = TCP;
	# The tree is upgraded behind ganesha's back (sidus tree run): no
	# attribute cache, so running nodes see the changes at once.
	Attr_Expiration_Time = 0;
	CLIENT {
		Clients = %s;
		Access_Type = RO;
	}
	FSAL {
		Name = VFS;
	}
}
`, c.NFS.GaneshaExport, c.NFS.GaneshaConf, c.NFS.ExportID, c.Tree, c.Tree, c.Prefix)
}

// Stage adds the export file to tx.
func Stage(c *config.Config, tx *files.Txn) {
	switch c.NFS.Server {
	case config.KernelNFS:
		tx.Write(c.NFS.Exports, []byte(ExportsFile(c)), 0o644)
	case config.Ganesha:
		tx.Write(c.NFS.GaneshaExport, []byte(GaneshaExport(c)), 0o644)
	}
}

// Reload runs nfs.reload (if set).
func Reload(ctx context.Context, c *config.Config, r runner.Runner) error {
	if len(c.NFS.Reload) == 0 {
		return nil
	}
	if err := r.Run(ctx, runner.Cmd{Args: c.NFS.Reload}); err != nil {
		return fmt.Errorf("reload %s: %w; is it installed and running? (set nfs.reload = [] to reload it yourself)", c.NFS.Server, err)
	}
	return nil
}
