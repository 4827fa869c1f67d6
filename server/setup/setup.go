// Package setup is `sidus setup`: it writes the server-wide files the
// nodes boot through, the DHCP boot options and host entries (package
// dhcp) and the tree's read-only NFS export (package nfs), and reloads
// the servers whose files changed. It is idempotent.
package setup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/dhcp"
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/nfs"
	"github.com/sidus-go/sidus/server/nodes"
	"github.com/sidus-go/sidus/server/runner"
)

// Setup writes and applies the DHCP and NFS files.
func Setup(ctx context.Context, c *config.Config, r runner.Runner, dryRun bool, log io.Writer) error {
	logf := func(format string, a ...any) {
		if log != nil {
			fmt.Fprintf(log, format+"\n", a...)
		}
	}
	m := &nodes.Manager{Config: c}
	ns, err := m.Nodes()
	if err != nil {
		return err
	}
	var hosts []dhcp.Host
	for _, n := range ns {
		hosts = append(hosts, dhcp.Host{Name: n.Name, MAC: n.MAC, IP: netip.MustParseAddr(n.IP)})
	}
	w := &files.Writer{DryRun: dryRun, Log: log}

	dtx := files.Txn{W: w}
	dhcp.Stage(c, hosts, &dtx)
	dchanged, err := dtx.Commit()
	if err != nil {
		return fmt.Errorf("DHCP files: %w", err)
	}
	ntx := files.Txn{W: w}
	nfs.Stage(c, &ntx)
	nchanged, err := ntx.Commit()
	if err != nil {
		return fmt.Errorf("NFS export: %w", err)
	}
	switch c.DHCP.Server {
	case config.ISCDHCP:
		if !contains(c.DHCP.Conf, `include "`+c.DHCP.Include+`"`) {
			logf("to do: add the line  include \"%s\";  to %s (then restart isc-dhcp-server)", c.DHCP.Include, c.DHCP.Conf)
		}
	}
	if c.NFS.Server == config.Ganesha && !contains(c.NFS.GaneshaConf, c.NFS.GaneshaExport) {
		logf("to do: add  %%include \"%s\"  and  NFSV4 { Only_Numeric_Owners = true; }  to %s (then restart nfs-ganesha)", c.NFS.GaneshaExport, c.NFS.GaneshaConf)
	}
	if dchanged > 0 {
		if err := dhcp.Reload(ctx, c, r); err != nil {
			return err
		}
	}
	if nchanged > 0 {
		if err := nfs.Reload(ctx, c, r); err != nil {
			return err
		}
	}
	if dchanged+nchanged == 0 {
		logf("DHCP and NFS files: unchanged")
	}
	return nil
}

func contains(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(s))
}
