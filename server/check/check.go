// Package check is `sidus check`: it looks at the server as a node sees
// it and reports each problem with its fix. Each check is a function of
// an Env, whose seams (the runner, the TFTP probe, the effective user, the
// mount table) let tests run every check against fakes.
package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sidus-go/sidus/blockdev/fslabel"
	"github.com/sidus-go/sidus/server/boot"
	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/dhcp"
	"github.com/sidus-go/sidus/server/nodes"
	"github.com/sidus-go/sidus/server/runner"
	"github.com/sidus-go/sidus/server/tree"
)

// Problem is one thing wrong, and what to do about it.
type Problem struct {
	What string
	Fix  string
}

// Env is what the checks look at.
type Env struct {
	Config *config.Config
	// Runner runs read-only commands (systemctl is-active, tgtadm show).
	Runner runner.Runner
	// Euid is the effective user id.
	Euid int
	// TFTPProbe fetches the first block of a file from the TFTP server
	// (host:port); nil: TFTPProbe with a 2 s timeout.
	TFTPProbe func(server, file string) (int, error)
	// TFTPAddr is the TFTP server; "" is network.server_ip:69.
	TFTPAddr string
	// MountsUnder lists the host's mounts under a directory; nil: none.
	MountsUnder func(root string) ([]string, error)
	// PXELinuxFiles are the bootloader files TFTP must serve besides the
	// kernel and initrd (default pxelinux.0, ldlinux.c32).
	PXELinuxFiles []string
}

// Check is one check of `sidus check`.
type Check struct {
	Name string
	Run  func(ctx context.Context, e *Env) []Problem
}

// Checks are run in this order.
var Checks = []Check{
	{"root", checkRoot},
	{"tree", checkTree},
	{"kernel", checkKernel},
	{"tftp", checkTFTP},
	{"dhcp", checkDHCP},
	{"nfs", checkNFS},
	{"nodes", checkNodes},
}

// Run runs the checks, prints "ok NAME" or each problem with its fix, and
// returns the number of problems.
func Run(ctx context.Context, e *Env, w io.Writer, only ...string) int {
	total := 0
	for _, c := range Checks {
		if len(only) > 0 && !slices.Contains(only, c.Name) {
			continue
		}
		ps := c.Run(ctx, e)
		if len(ps) == 0 {
			fmt.Fprintf(w, "ok      %s\n", c.Name)
			continue
		}
		for _, p := range ps {
			fmt.Fprintf(w, "PROBLEM %s: %s\n        fix: %s\n", c.Name, p.What, p.Fix)
		}
		total += len(ps)
	}
	return total
}

func p(what, fix string, a ...any) Problem {
	return Problem{What: what, Fix: fmt.Sprintf(fix, a...)}
}

func checkRoot(_ context.Context, e *Env) []Problem {
	if e.Euid != 0 {
		return []Problem{p("not running as root: LUNs, secrets and tgtd cannot be checked fully", "run it as root: sudo sidus check")}
	}
	return nil
}

func checkTree(_ context.Context, e *Env) []Problem {
	c := e.Config
	root, err := tree.CheckRoot(c.Tree)
	if err != nil {
		return []Problem{p(err.Error(), "sidus tree create (or set `tree` in %s)", config.DefaultPath)}
	}
	var ps []Problem
	if n, _, err := tree.ReadGeneration(root); err != nil {
		ps = append(ps, p(err.Error(), "fix or remove %s", filepath.Join(root, tree.GenerationFile)))
	} else if n == 0 {
		ps = append(ps, p("the tree has no generation stamp (not administered by sidus yet)", "sidus tree run -- true (or sidus tree create)"))
	}
	if _, err := os.Lstat(filepath.Join(root, tree.PolicyRCD)); err == nil {
		ps = append(ps, p("the tree has usr/sbin/policy-rc.d: services installed in the tree will not start on the nodes' side either when run by invoke-rc.d", "remove %s if it is a leftover of an interrupted run", filepath.Join(root, tree.PolicyRCD)))
	}
	if e.MountsUnder != nil {
		if m, _ := e.MountsUnder(root); len(m) > 0 {
			ps = append(ps, p("mounts under the tree in the host's namespace: "+strings.Join(m, " ")+" (a manual chroot session?); the NFS export shows them to nodes", "umount -l %s", strings.Join(m, " ")))
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/hostname")); err == nil {
		ps = append(ps, p("the tree has etc/hostname: every node would take that name rather than DHCP's", "rm %s", filepath.Join(root, "etc/hostname")))
	}
	return ps
}

func checkKernel(_ context.Context, e *Env) []Problem {
	c := e.Config
	k := filepath.Join(c.TFTP.Root, boot.KernelFile)
	f, err := os.Open(k)
	if err != nil {
		return []Problem{p(fmt.Sprintf("%s: %v", k, err), "sidus boot publish")}
	}
	defer f.Close()
	ver, err := boot.KernelVersion(f)
	if err != nil {
		return []Problem{p(fmt.Sprintf("%s: %v", k, err), "sidus boot publish")}
	}
	var ps []Problem
	if _, err := os.Stat(filepath.Join(c.Tree, "lib/modules", ver, "modules.dep")); err != nil {
		ps = append(ps, p(fmt.Sprintf("nodes boot kernel %s, but the tree has no lib/modules/%s/modules.dep: they would find no modules after switch_root", ver, ver),
			"sidus boot publish (for the tree's kernel), or sidus tree run -- depmod -a %s", ver))
	}
	if m, err := boot.ReadManifest(filepath.Join(c.TFTP.Root, boot.ManifestFile)); err == nil && m.Kernel != "" && m.Kernel != ver {
		ps = append(ps, p(fmt.Sprintf("%s says kernel %s, %s is %s", boot.ManifestFile, m.Kernel, boot.KernelFile, ver), "sidus boot publish"))
	}
	if ks, _ := tree.Kernels(c.Tree); len(ks) > 0 {
		if want, err := boot.PickKernel(c.Tree, ""); err == nil && want != ver {
			ps = append(ps, p(fmt.Sprintf("the tree's kernel is %s, nodes boot %s", want, ver), "sidus boot publish"))
		}
	}
	return ps
}

func checkTFTP(_ context.Context, e *Env) []Problem {
	c := e.Config
	want := e.PXELinuxFiles
	if want == nil {
		want = []string{boot.PXELinux, "ldlinux.c32"}
	}
	var ps []Problem
	for _, f := range want {
		if _, err := os.Stat(filepath.Join(c.TFTP.Root, f)); err != nil {
			ps = append(ps, p(fmt.Sprintf("%s is not in the TFTP root %s", f, c.TFTP.Root),
				"apt-get install pxelinux syslinux-common; cp /usr/lib/PXELINUX/pxelinux.0 /usr/lib/syslinux/modules/bios/ldlinux.c32 %s/", c.TFTP.Root))
		}
	}
	for _, f := range []string{boot.KernelFile, boot.InitrdFile, boot.DefaultFile} {
		if _, err := os.Stat(filepath.Join(c.TFTP.Root, f)); err != nil {
			ps = append(ps, p(fmt.Sprintf("%s is not in the TFTP root %s", f, c.TFTP.Root), "sidus boot publish"))
		}
	}
	if len(ps) > 0 {
		return ps
	}
	probe := e.TFTPProbe
	if probe == nil {
		probe = func(s, f string) (int, error) { return TFTPProbe(s, f, 2*time.Second) }
	}
	addr := e.TFTPAddr
	if addr == "" {
		addr = c.Network.ServerIP + ":69"
	}
	for _, f := range append(slices.Clone(want), boot.KernelFile, boot.InitrdFile) {
		if _, err := probe(addr, f); err != nil {
			ps = append(ps, p(fmt.Sprintf("TFTP %s does not serve %s: %v", addr, f, err),
				"is tftpd-hpa running (systemctl status tftpd-hpa) with TFTP_DIRECTORY=%q and TFTP_ADDRESS on %s (/etc/default/tftpd-hpa)?", c.TFTP.Root, c.Network.ServerIP))
			break
		}
	}
	return ps
}

func (e *Env) active(ctx context.Context, unit string) error {
	out, err := runner.Output(ctx, e.Runner, runner.Cmd{Args: []string{"systemctl", "is-active", unit}, ReadOnly: true})
	if err != nil {
		s := strings.TrimSpace(string(out))
		if s == "" {
			s = err.Error()
		}
		return errors.New(s)
	}
	return nil
}

func checkDHCP(ctx context.Context, e *Env) []Problem {
	c := e.Config
	var ps []Problem
	var file string
	var want []string
	switch c.DHCP.Server {
	case config.ISCDHCP:
		file = c.DHCP.Include
		want = []string{"next-server " + c.Network.ServerIP + ";", `filename "` + dhcp.BootFile + `";`, `option root-path "` + c.Tree + `";`}
		if b, err := os.ReadFile(c.DHCP.Conf); err != nil || !bytes.Contains(b, []byte(`include "`+c.DHCP.Include+`"`)) {
			ps = append(ps, p(fmt.Sprintf("%s does not include %s: the nodes get no next-server, filename or root-path", c.DHCP.Conf, c.DHCP.Include),
				"add the line  include \"%s\";  to %s and restart isc-dhcp-server", c.DHCP.Include, c.DHCP.Conf))
		}
	case config.Dnsmasq:
		file = c.DHCP.DnsmasqConf
		want = []string{"dhcp-boot=" + dhcp.BootFile + ",," + c.Network.ServerIP, "dhcp-option=option:root-path," + c.Tree, "dhcp-hostsfile=" + c.DHCP.Hosts}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return append(ps, p(fmt.Sprintf("%s: %v", file, err), "sidus setup"))
	}
	for _, w := range want {
		if !bytes.Contains(b, []byte(w)) {
			ps = append(ps, p(fmt.Sprintf("%s lacks %q", file, w), "sidus setup (it rewrites the file)"))
		}
	}
	if err := e.active(ctx, c.DHCP.Server); err != nil {
		ps = append(ps, p(fmt.Sprintf("%s is not running (%v)", c.DHCP.Server, err), "systemctl enable --now %s; journalctl -u %s says why it stopped", c.DHCP.Server, c.DHCP.Server))
	}
	return ps
}

func checkNFS(ctx context.Context, e *Env) []Problem {
	c := e.Config
	switch c.NFS.Server {
	case config.KernelNFS:
		return checkExports(ctx, e)
	default:
		return checkGanesha(ctx, e)
	}
}

// ExportOptions finds the tree's export in exports(5) texts and returns
// its clients' option lists (client -> options).
func ExportOptions(texts []string, path string) map[string][]string {
	out := map[string][]string{}
	for _, t := range texts {
		// Join continuation lines.
		t = strings.ReplaceAll(t, "\\\n", " ")
		for _, line := range strings.Split(t, "\n") {
			line, _, _ = strings.Cut(line, "#")
			f := strings.Fields(line)
			if len(f) < 1 || strings.ReplaceAll(strings.Trim(f[0], `"`), `\040`, " ") != path {
				continue
			}
			for _, cl := range f[1:] {
				host, opts, _ := strings.Cut(cl, "(")
				out[host] = strings.Split(strings.TrimSuffix(opts, ")"), ",")
			}
		}
	}
	return out
}

func checkExports(ctx context.Context, e *Env) []Problem {
	c := e.Config
	paths := []string{"/etc/exports"}
	if m, _ := filepath.Glob("/etc/exports.d/*.exports"); len(m) > 0 {
		paths = append(paths, m...)
	}
	if !slices.Contains(paths, c.NFS.Exports) {
		paths = append(paths, c.NFS.Exports)
	}
	var texts []string
	for _, f := range paths {
		if b, err := os.ReadFile(f); err == nil {
			texts = append(texts, string(b))
		}
	}
	return exportProblems(c, ExportOptions(texts, c.Tree), e.active(ctx, "nfs-server"))
}

func exportProblems(c *config.Config, exp map[string][]string, activeErr error) []Problem {
	var ps []Problem
	if len(exp) == 0 {
		return []Problem{p(fmt.Sprintf("%s is not exported (no line in /etc/exports or /etc/exports.d)", c.Tree), "sidus setup (it writes %s and runs exportfs -ra)", c.NFS.Exports)}
	}
	for host, opts := range exp {
		if !slices.Contains(opts, "ro") || slices.Contains(opts, "rw") {
			ps = append(ps, p(fmt.Sprintf("the export of %s to %s is not read-only (%s): nodes could write the shared tree", c.Tree, host, strings.Join(opts, ",")), "make it ro (sidus setup writes %s)", c.NFS.Exports))
		}
		if !slices.Contains(opts, "no_root_squash") {
			ps = append(ps, p(fmt.Sprintf("the export of %s to %s squashes root (%s): root-owned files and setuid programs break on the nodes", c.Tree, host, strings.Join(opts, ",")), "add no_root_squash (sidus setup writes %s)", c.NFS.Exports))
		}
	}
	if activeErr != nil {
		ps = append(ps, p(fmt.Sprintf("nfs-server is not running (%v)", activeErr), "systemctl enable --now nfs-server"))
	}
	return ps
}

func checkGanesha(ctx context.Context, e *Env) []Problem {
	c := e.Config
	conf, err := ParseGanesha(c.NFS.GaneshaConf, os.ReadFile)
	if err != nil {
		return []Problem{p(fmt.Sprintf("ganesha configuration: %v", err), "fix %s (sidus setup writes %s, which it must %%include)", c.NFS.GaneshaConf, c.NFS.GaneshaExport)}
	}
	ps := ganeshaProblems(c, conf)
	if err := e.active(ctx, "nfs-ganesha"); err != nil {
		ps = append(ps, p(fmt.Sprintf("nfs-ganesha is not running (%v)", err), "systemctl enable --now nfs-ganesha"))
	}
	return ps
}

func ganeshaProblems(c *config.Config, conf *Block) []Problem {
	var ps []Problem
	numeric := false
	for _, b := range conf.Find("NFSV4") {
		if strings.EqualFold(b.Params["only_numeric_owners"], "true") {
			numeric = true
		}
	}
	if !numeric {
		ps = append(ps, p("ganesha's NFSV4 block lacks Only_Numeric_Owners = true: nodes run no idmapper, so every file of the tree looks owned by nobody (setuid programs fail)",
			"add  NFSV4 { Only_Numeric_Owners = true; }  to %s and restart nfs-ganesha", c.NFS.GaneshaConf))
	}
	var exp *Block
	for _, b := range conf.Find("EXPORT") {
		if b.Params["path"] == c.Tree {
			exp = b
		}
	}
	if exp == nil {
		return append(ps, p(fmt.Sprintf("no ganesha EXPORT with Path = %q", c.Tree), "sidus setup, then add  %%include \"%s\"  to %s", c.NFS.GaneshaExport, c.NFS.GaneshaConf))
	}
	access := []string{exp.Params["access_type"]}
	for _, cl := range exp.Find("CLIENT") {
		access = append(access, cl.Params["access_type"])
	}
	for _, a := range access {
		if strings.EqualFold(a, "RW") || strings.EqualFold(a, "MDONLY") {
			ps = append(ps, p(fmt.Sprintf("the ganesha export of %s allows writes (Access_Type = %s)", c.Tree, a), "set Access_Type = RO (sidus setup writes %s)", c.NFS.GaneshaExport))
		}
	}
	sq := strings.ToLower(strings.ReplaceAll(exp.Params["squash"], "_", ""))
	if sq != "norootsquash" && sq != "noidsquash" && sq != "none" {
		ps = append(ps, p(fmt.Sprintf("the ganesha export of %s squashes root (Squash = %q)", c.Tree, exp.Params["squash"]), "set Squash = No_Root_Squash (sidus setup writes %s)", c.NFS.GaneshaExport))
	}
	if v := exp.Params["attr_expiration_time"]; v != "0" {
		if v == "" {
			v = "60, the default"
		}
		ps = append(ps, p(fmt.Sprintf("the ganesha export of %s caches attributes (Attr_Expiration_Time = %s): running nodes see the tree's upgrades that much later", c.Tree, v),
			"set Attr_Expiration_Time = 0 (sidus setup writes %s)", c.NFS.GaneshaExport))
	}
	return ps
}

func checkNodes(ctx context.Context, e *Env) []Problem {
	c := e.Config
	m := &nodes.Manager{Config: c, Runner: e.Runner}
	ns, err := m.Nodes()
	if err != nil {
		return []Problem{p(err.Error(), "fix it")}
	}
	var live []nodes.Target
	tgtOK := false
	if out, err := runner.Output(ctx, e.Runner, runner.Cmd{Args: []string{"tgtadm", "--lld", "iscsi", "--op", "show", "--mode", "target"}, ReadOnly: true}); err == nil {
		live, tgtOK = nodes.ParseTgtShow(string(out)), true
	}
	var ps []Problem
	anyLUN := false
	for _, n := range ns {
		paths := nodes.PathsOf(c, n)
		if _, err := os.Stat(paths.PXE); err != nil {
			ps = append(ps, p(fmt.Sprintf("node %s has no %s", n.Name, paths.PXE), "sidus node add %s --mac %s --ip %s (adding it again rewrites its files)", n.Name, n.MAC, n.IP))
		}
		if _, err := netip.ParseAddr(n.IP); err != nil || !c.Prefix.Contains(netip.MustParseAddr(n.IP)) {
			ps = append(ps, p(fmt.Sprintf("node %s's IP %s is outside network.cidr %s", n.Name, n.IP, c.Prefix), "sidus node rm %s, then add it with an address of the node network", n.Name))
		}
		if n.LUNSize == 0 {
			continue
		}
		anyLUN = true
		ps = append(ps, lunProblems(c, n, paths.LUN)...)
		if tgtOK && !slices.ContainsFunc(live, func(t nodes.Target) bool { return t.Name == nodes.TargetName(c, n) }) {
			ps = append(ps, p(fmt.Sprintf("node %s's target %s is not offered by tgtd", n.Name, nodes.TargetName(c, n)), "tgt-admin --update ALL (it reads %s), or sidus node add again", paths.TgtConf))
		}
	}
	if anyLUN && !tgtOK {
		ps = append(ps, p("tgtd does not answer (tgtadm --op show): no node can log in to its LUN", "systemctl enable --now tgt"))
	}
	return ps
}

// lunProblems checks that a LUN file carries the configured label.
func lunProblems(c *config.Config, n nodes.Node, path string) []Problem {
	r, closer, err := fslabel.OpenFile(path)
	if err != nil {
		return []Problem{p(fmt.Sprintf("node %s's LUN %s: %v", n.Name, path, err), "sidus node rm %s, then sidus node add it again with --iscsi %s", n.Name, config.FormatSize(n.LUNSize))}
	}
	defer closer.Close()
	fstype, label, err := fslabel.Read(r)
	if err != nil {
		return []Problem{p(fmt.Sprintf("node %s's LUN %s has no filesystem (%v)", n.Name, path, err), "mkfs.ext4 -L %s %s (or boot the node once with sidus.format=empty)", c.ISCSI.Label, path)}
	}
	if label != c.ISCSI.Label {
		return []Problem{p(fmt.Sprintf("node %s's LUN %s is %s labelled %q, the nodes look for root=LABEL=%s", n.Name, path, fstype, label, c.ISCSI.Label), "e2label %s %s (while the node is down)", path, c.ISCSI.Label)}
	}
	return nil
}
