package generation

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sidus-go/sidus/server/boot"
	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/nodes"
)

// Kernel parameters of a generation's root (the node side's contract).
const (
	ParamImage    = "sidus.image="     // nfs: the image file, relative to the export
	ParamVerity   = "sidus.verity="    // the dm-verity root hash, hex
	ParamCephMon  = "sidus.ceph.mon="  // rbd: IP:PORT[,IP:PORT...]
	ParamCephUser = "sidus.ceph.user=" // rbd: the generation's own user, sidus-gen-NNNN
)

// RootOptions are the parameters a node needs to boot g besides its root=
// or nfsroot=: sidus.image= (nfs) or sidus.ceph.mon= (rbd) and, with a
// user of its own, sidus.ceph.user= (its keyring's section: the init then
// takes that key whatever other keyring boot.append names), then
// sidus.verity= with verity.
func RootOptions(c *config.Config, g *Generation) ([]string, error) {
	var opts []string
	switch g.Backend {
	case config.BackendNFS:
		if g.Image == "" || strings.ContainsAny(g.Image, " \t\n\"") {
			return nil, fmt.Errorf("generation %d: image path %q is empty or has blanks; fix the state file", g.Number, g.Image)
		}
		opts = append(opts, ParamImage+g.Image)
	case config.BackendRBD:
		if len(c.Generations.CephMonitors) == 0 {
			return nil, fmt.Errorf("generation %d is an RBD image: set generations.ceph_monitors in the config (the monitors nodes map it from)", g.Number)
		}
		opts = append(opts, ParamCephMon+strings.Join(c.Generations.CephMonitors, ","))
		if g.CephUser != "" {
			u := strings.TrimPrefix(g.CephUser, "client.")
			if u == "" || strings.ContainsAny(u, " \t\n\",/") {
				return nil, fmt.Errorf("generation %d: cephx user %q is not a Ceph user name; fix the state file", g.Number, g.CephUser)
			}
			opts = append(opts, ParamCephUser+u)
		}
	default:
		return nil, fmt.Errorf("generation %d: backend %q: want %s or %s; fix the state file", g.Number, g.Backend, config.BackendNFS, config.BackendRBD)
	}
	if g.RootHash != "" {
		opts = append(opts, ParamVerity+g.RootHash)
	}
	return opts, nil
}

// BootLine rewrites a kernel command line built by boot.AppendLine so
// that it boots g (nil: line unchanged):
//
//   - rbd: root=/dev/nfs becomes root=rbd:POOL/IMAGE@SNAP, nfsroot= is
//     dropped, sidus.ceph.mon=MON[,MON...] is added;
//   - nfs: nfsroot= names the server and export, nfsroot=SERVER:TREE with
//     the line's NFS options kept, and sidus.image=RELPATH is added;
//   - with verity, sidus.verity=ROOTHASH is added;
//   - an rbd generation with its own user gets sidus.ceph.user=USER, and
//     its initrd is listed last in initrd=: initrd=initrd.img-Sidus[,
//     sidus-NODE.img],gen-NNNN.img.
//
// Everything else (console=, ip=, aufs=, the iSCSI parameters, boot.append)
// is kept in place; parameters of an earlier generation are replaced.
func BootLine(c *config.Config, line string, g *Generation) (string, error) {
	if g == nil {
		return line, nil
	}
	opts, err := RootOptions(c, g)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(g.Initrd, " \t\n\",/") {
		return "", fmt.Errorf("generation %d: initrd %q is not a file name; fix the state file", g.Number, g.Initrd)
	}
	var out []string
	placed := false
	place := func(tok string) {
		if !placed {
			out = append(out, tok)
			placed = true
		}
	}
	var root string
	switch g.Backend {
	case config.BackendRBD:
		if _, _, _, err := g.rbdSpec(); err != nil {
			return "", err
		}
		root = "root=rbd:" + g.Location
	case config.BackendNFS:
		if strings.ContainsAny(c.Tree, " \t\n\",:") {
			return "", fmt.Errorf("tree %s: a path with blanks, commas or colons cannot go in nfsroot=; move the tree", c.Tree)
		}
		root = "nfsroot=" + c.Network.ServerIP + ":" + c.Tree
	}
	for _, t := range fields(line) {
		switch {
		case strings.HasPrefix(t, ParamImage), strings.HasPrefix(t, ParamVerity), strings.HasPrefix(t, ParamCephMon):
			// an earlier generation's (or boot.append's): replaced below
		case strings.HasPrefix(t, ParamCephUser) && (g.CephUser != "" || isGenUser(strings.TrimPrefix(t, ParamCephUser))):
			// boot.append's (the generation's own wins) or an earlier generation's
		case strings.HasPrefix(t, "initrd="):
			out = append(out, initrdParam(t, g.Initrd))
		case g.Backend == config.BackendRBD && (t == "root=/dev/nfs" || strings.HasPrefix(t, "root=rbd:")):
			place(root)
		case g.Backend == config.BackendRBD && strings.HasPrefix(t, "nfsroot="):
		case g.Backend == config.BackendNFS && strings.HasPrefix(t, "root=rbd:"):
			out = append(out, "root=/dev/nfs")
		case g.Backend == config.BackendNFS && strings.HasPrefix(t, "nfsroot="):
			place(root + nfsOptions(strings.TrimPrefix(t, "nfsroot=")))
		default:
			out = append(out, t)
		}
	}
	place(root)
	return strings.Join(append(out, opts...), " "), nil
}

// initrdParam is an initrd=A[,B...] parameter with an earlier
// generation's initrd (gen-NNNN.img) dropped and name, if set, appended.
func initrdParam(t, name string) string {
	var list []string
	for _, f := range strings.Split(strings.TrimPrefix(t, "initrd="), ",") {
		if f != "" && !isGenInitrd(f) {
			list = append(list, f)
		}
	}
	if name != "" {
		list = append(list, name)
	}
	return "initrd=" + strings.Join(list, ",")
}

// isGenInitrd reports whether f is a generation's initrd, gen-NNNN.img.
func isGenInitrd(f string) bool {
	n, ok := strings.CutSuffix(f, ".img")
	return ok && isGenName(n)
}

// isGenUser reports whether u is a generation's user, [client.]sidus-gen-NNNN.
func isGenUser(u string) bool {
	n, ok := strings.CutPrefix(strings.TrimPrefix(u, "client."), "sidus-")
	return ok && isGenName(n)
}

// isGenName reports whether n is gen-NNNN (4 digits or more).
func isGenName(n string) bool {
	d, ok := strings.CutPrefix(n, "gen-")
	if !ok || len(d) < 4 {
		return false
	}
	for _, r := range d {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// nfsOptions returns the ",OPTIONS" of an nfsroot= value
// ([SERVER[,SERVER...]:][PATH][,OPTIONS] or auto).
func nfsOptions(v string) string {
	rest := v
	if !strings.HasPrefix(v, ",") {
		if i := strings.Index(v, ":"); i >= 0 {
			rest = v[i+1:]
		}
	}
	if i := strings.Index(rest, ","); i >= 0 {
		return rest[i:]
	}
	return ""
}

// fields splits a command line at blanks outside double quotes.
func fields(s string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if b.Len() > 0 {
				out = append(out, b.String())
				b.Reset()
			}
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// File is a boot file and its content.
type File struct {
	Path string
	Data []byte
}

// BootFiles are the files that make nodes boot g: pxelinux.cfg/default,
// sidus.ipxe and every recorded node's pxelinux.cfg/01-<mac>, as packages
// boot and nodes write them with each kernel command line rewritten by
// BootLine (and, in sidus.ipxe, an "initrd gen-NNNN.img" line after the
// "initrd initrd.img-Sidus" one for g's own initrd). With g nil they are
// exactly boot's and nodes' files. g's initrd itself is not among them:
// Publish writes it (and Rollback if it went missing), prune removes it.
func BootFiles(c *config.Config, g *Generation) ([]File, error) {
	def, err := boot.DefaultConfig(c)
	if err != nil {
		return nil, err
	}
	ipxe, err := boot.IPXEScript(c)
	if err != nil {
		return nil, err
	}
	ns, err := (&nodes.Manager{Config: c}).Nodes()
	if err != nil {
		return nil, err
	}
	type src struct{ path, text, prefix string }
	srcs := []src{
		{filepath.Join(c.TFTP.Root, boot.DefaultFile), def, "APPEND "},
		{filepath.Join(c.TFTP.Root, boot.IPXEFile), ipxe, "kernel "},
	}
	for _, n := range ns {
		t, err := nodes.PXEConfig(c, n)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		srcs = append(srcs, src{nodes.PathsOf(c, n).PXE, t, "APPEND "})
	}
	var out []File
	for _, s := range srcs {
		text, err := rewrite(c, s.text, s.prefix, g)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: s.path, Data: []byte(text)})
	}
	return out, nil
}

// rewrite applies BootLine to the lines of text that start with prefix,
// adds g's initrd after iPXE's "initrd initrd.img-Sidus" lines, and notes
// the generation under the "Written by sidus" line.
func rewrite(c *config.Config, text, prefix string, g *Generation) (string, error) {
	if g == nil {
		return text, nil
	}
	lines := strings.SplitAfter(text, "\n")
	noted := false
	for i, l := range lines {
		body, nl := strings.CutSuffix(l, "\n")
		if strings.HasPrefix(body, prefix) {
			nb, err := BootLine(c, strings.TrimPrefix(body, prefix), g)
			if err != nil {
				return "", err
			}
			lines[i] = prefix + nb
			if nl {
				lines[i] += "\n"
			}
		} else if g.Initrd != "" && body == "initrd "+boot.InitrdFile {
			lines[i] = body + "\ninitrd " + g.Initrd
			if nl {
				lines[i] += "\n"
			}
		} else if !noted && strings.HasPrefix(body, "# Written by sidus") {
			lines[i] = l + fmt.Sprintf("# Boots generation %d of the tree (%s %s; sidus gen list).\n", g.Number, g.Backend, g.Location)
			noted = true
		}
	}
	return strings.Join(lines, ""), nil
}

// StageBootFiles adds BootFiles(c, g) to tx.
func StageBootFiles(c *config.Config, g *Generation, tx *files.Txn) error {
	fs, err := BootFiles(c, g)
	if err != nil {
		return err
	}
	for _, f := range fs {
		tx.Write(f.Path, f.Data, 0o644)
	}
	return nil
}

// WriteBootFiles (re)writes the boot files for the current generation
// (none: boot's and nodes' plain files), each only if it changed, all or
// none. It is what `sidus boot publish`, `boot configs` and `node add`
// should call after writing theirs, so they keep booting the current
// generation.
func WriteBootFiles(c *config.Config, w *files.Writer) error {
	st, err := LoadState(StatePath(c))
	if err != nil {
		return err
	}
	tx := files.Txn{W: w}
	if err := StageBootFiles(c, st.CurrentGeneration(), &tx); err != nil {
		return err
	}
	_, err = tx.Commit()
	return err
}
