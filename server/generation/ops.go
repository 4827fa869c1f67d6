package generation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sidus-go/sidus/server/boot"
	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/runner"
	"github.com/sidus-go/sidus/server/tree"
)

// Publish builds generation N+1 from the tree and makes it current:
//
//   - mksquashfs of the tree (zstd), leaving out the generations'
//     directories, into a temp file; with verity the image is padded to
//     4096 bytes and veritysetup appends its hash tree in the same file;
//   - nfs: the file is renamed to NFS_DIR/gen-NNNN.squashfs under the
//     export; rbd: it is imported as POOL/gen-NNNN, snapshotted @gen and
//     the snapshot protected;
//   - the generation is recorded in the state file, then the pxelinux and
//     iPXE files are switched to boot it (all or none) and it is recorded
//     as current.
//
// Nodes boot it when they next boot; running nodes keep their root.
func Publish(ctx context.Context, c *config.Config, o Options) (*Generation, error) {
	o.defaults()
	backend := c.Generations.Backend
	if o.Backend != "" {
		backend = o.Backend
	}
	switch backend {
	case config.BackendNFS:
	case config.BackendRBD:
		if err := c.Generations.CheckRBD(); err != nil {
			return nil, fmt.Errorf("backend rbd: %w", err)
		}
	default:
		return nil, fmt.Errorf("backend %q: want %s or %s", backend, config.BackendNFS, config.BackendRBD)
	}
	verity := c.Generations.Verity
	if o.Verity != nil {
		verity = *o.Verity
	}
	root, err := tree.CheckRoot(c.Tree)
	if err != nil {
		return nil, err
	}
	unlock, err := lock(c, &o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := LoadState(StatePath(c))
	if err != nil {
		return nil, err
	}
	tgen, tstamp, err := tree.ReadGeneration(root)
	if err != nil {
		return nil, err
	}
	warnModules(c, &o, backend, verity)
	g := Generation{Number: st.next(), Created: o.now().UTC(), Backend: backend, TreeGeneration: tgen, TreeStamped: tstamp}
	if backend == config.BackendNFS {
		err = storeNFS(ctx, c, &o, root, verity, &g)
	} else {
		err = storeRBD(ctx, c, &o, root, verity, &g)
	}
	if err != nil {
		return nil, err
	}
	st.Generations = append(st.Generations, g)
	st.Last = g.Number
	if err := saveState(c, &o, st); err != nil {
		return nil, fmt.Errorf("generation %d is stored as %s but not recorded: %w", g.Number, g.Location, err)
	}
	prev := st.Current
	if err := switchTo(c, &o, st, st.Find(g.Number)); err != nil {
		return nil, fmt.Errorf("generation %d is stored and recorded but not current: %w; fix that and run `sidus gen rollback --to %d`", g.Number, err, g.Number)
	}
	note := ""
	if !o.DryRun {
		note = ", " + config.FormatSize(g.Size)
	}
	if g.RootHash != "" {
		note += ", verity root hash " + g.RootHash
	}
	o.logf("%spublish generation %d (tree generation %d%s): nodes boot it from their next boot%s",
		o.verb(), g.Number, tgen, note, prevNote(prev))
	return &g, nil
}

func prevNote(prev int) string {
	if prev == 0 {
		return ""
	}
	return fmt.Sprintf("; `sidus gen rollback` goes back to %d", prev)
}

// warnModules warns when the initrd will lack the modules the node needs
// for this root (boot.modules adds them to the initrd).
func warnModules(c *config.Config, o *Options, backend string, verity bool) {
	var want []string
	if backend == config.BackendRBD {
		want = append(want, "rbd")
	}
	if verity {
		want = append(want, "dm_verity")
	}
	var missing []string
	for _, m := range want {
		if !slices.ContainsFunc(c.Boot.Modules, func(s string) bool { return strings.ReplaceAll(s, "-", "_") == m }) {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		o.logf("warning: boot.modules lacks %s: add it and run `sidus boot publish`, or nodes cannot mount this generation", strings.Join(missing, ", "))
	}
}

// switchTo rewrites the boot files for g, then records it as current;
// if recording fails the files are put back.
func switchTo(c *config.Config, o *Options, st *State, g *Generation) error {
	tx := files.Txn{W: &files.Writer{DryRun: o.DryRun, Log: o.Log}}
	if err := StageBootFiles(c, g, &tx); err != nil {
		return err
	}
	if _, err := tx.Commit(); err != nil {
		return fmt.Errorf("switch the boot files to generation %d: %w (check the TFTP root %s)", g.Number, err, c.TFTP.Root)
	}
	prev := st.Current
	st.Current = g.Number
	if err := saveState(c, o, st); err != nil {
		tx.Undo()
		st.Current = prev
		return err
	}
	if _, err := os.Stat(filepath.Join(c.TFTP.Root, boot.KernelFile)); err != nil && !o.DryRun {
		o.logf("warning: no %s in %s yet: run `sidus boot publish`", boot.KernelFile, c.TFTP.Root)
	}
	return nil
}

// List returns the state: the generations, oldest first, and the current.
func List(c *config.Config) (*State, error) { return LoadState(StatePath(c)) }

// Rollback makes o.To current, or (0) the newest generation older than
// the current one; the boot files are switched as by Publish. Rolling
// back to the current generation rewrites its boot files (a repair).
func Rollback(ctx context.Context, c *config.Config, o Options) (*Generation, error) {
	o.defaults()
	unlock, err := lock(c, &o)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := LoadState(StatePath(c))
	if err != nil {
		return nil, err
	}
	if len(st.Generations) == 0 {
		return nil, errors.New("no generation published: nothing to roll back to (sidus gen publish makes one)")
	}
	var g *Generation
	if o.To != 0 {
		if g = st.Find(o.To); g == nil {
			return nil, fmt.Errorf("no generation %d (there are %s; see `sidus gen list`)", o.To, st.numbers())
		}
	} else {
		if st.Current == 0 {
			return nil, fmt.Errorf("no current generation: pick one with --to (there are %s)", st.numbers())
		}
		for i := range st.Generations {
			if st.Generations[i].Number < st.Current {
				g = &st.Generations[i]
			}
		}
		if g == nil {
			return nil, fmt.Errorf("generation %d is the oldest one kept: nothing older to roll back to (--to N goes forward)", st.Current)
		}
	}
	if err := checkStored(ctx, c, &o, g); err != nil {
		return nil, err
	}
	prev := st.Current
	if err := switchTo(c, &o, st, g); err != nil {
		return nil, err
	}
	if prev == g.Number {
		o.logf("generation %d is already current: its boot files are checked", g.Number)
	} else {
		o.logf("%sroll back: nodes boot generation %d (was %d) from their next boot; running nodes keep theirs until they reboot", o.verb(), g.Number, prev)
	}
	return g, nil
}

// checkStored checks that g's image is still there before nodes are sent
// to it.
func checkStored(ctx context.Context, c *config.Config, o *Options, g *Generation) error {
	switch g.Backend {
	case config.BackendNFS:
		if _, err := os.Stat(g.Location); err != nil {
			return fmt.Errorf("generation %d: image %w; it cannot be booted (roll back to another one with --to)", g.Number, err)
		}
	case config.BackendRBD:
		if _, _, _, err := g.rbdSpec(); err != nil {
			return err
		}
		if err := o.Runner.Run(ctx, rbdCmd(c, true, "info", g.Location)); err != nil {
			return rbdErr(c, fmt.Sprintf("generation %d: image %s", g.Number, g.Location), err)
		}
	default:
		return fmt.Errorf("generation %d: backend %q: want %s or %s; fix the state file", g.Number, g.Backend, config.BackendNFS, config.BackendRBD)
	}
	return nil
}

// PruneResult is what Prune did.
type PruneResult struct {
	Removed []int
	// Kept are generations Prune would have removed but kept, and why.
	Kept []Kept
}

// Kept is a generation Prune kept.
type Kept struct {
	Number int
	Reason string
}

// Prune removes the generations older than the last o.Keep (default
// generations.keep), never the current one: nfs, the file; rbd, unless
// the image has watchers (`rbd status`: it is kept and reported), the
// snapshot is unprotected and removed, then the image. The state file is
// updated even when a removal fails half-way.
//
// Nodes that booted a generation keep using it until they reboot: keep
// enough generations to cover them. Kernels since 5.5 map RBD snapshots
// without a watch, so rbd status does not see such nodes.
func Prune(ctx context.Context, c *config.Config, o Options) (res PruneResult, err error) {
	o.defaults()
	keep := o.Keep
	if keep == 0 {
		keep = c.Generations.Keep
	}
	if keep < 1 {
		return res, fmt.Errorf("keep %d: want at least 1", keep)
	}
	unlock, err := lock(c, &o)
	if err != nil {
		return res, err
	}
	defer unlock()
	st, err := LoadState(StatePath(c))
	if err != nil {
		return res, err
	}
	var doomed []Generation
	for i, g := range st.Generations {
		if i < len(st.Generations)-keep && g.Number != st.Current {
			doomed = append(doomed, g)
		}
	}
	removed := map[int]bool{}
	defer func() {
		if len(removed) == 0 {
			return
		}
		st.Generations = slices.DeleteFunc(st.Generations, func(g Generation) bool { return removed[g.Number] })
		if serr := saveState(c, &o, st); serr != nil && err == nil {
			err = serr
		}
	}()
	for _, g := range doomed {
		gone, why, err := removeStored(ctx, c, &o, &g)
		if err != nil {
			return res, fmt.Errorf("prune generation %d: %w", g.Number, err)
		}
		if why != "" {
			res.Kept = append(res.Kept, Kept{Number: g.Number, Reason: why})
			continue
		}
		if gone {
			o.logf("generation %d: %s was already gone", g.Number, g.Location)
		}
		removed[g.Number] = true
		res.Removed = append(res.Removed, g.Number)
	}
	if len(doomed) == 0 {
		o.logf("nothing to prune: %d generation(s), keeping the last %d and the current", len(st.Generations), keep)
	}
	return res, nil
}

// removeStored removes g's image; why, if set, is why it was kept.
func removeStored(ctx context.Context, c *config.Config, o *Options, g *Generation) (gone bool, why string, err error) {
	switch g.Backend {
	case config.BackendNFS:
		if _, err := os.Lstat(g.Location); errors.Is(err, fs.ErrNotExist) {
			return true, "", nil
		}
		o.logf("%sremove generation %d: %s", o.verb(), g.Number, g.Location)
		if o.DryRun {
			return false, "", nil
		}
		if err := os.Remove(g.Location); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, "", err
		}
		return false, "", nil
	case config.BackendRBD:
		if _, _, _, err := g.rbdSpec(); err != nil {
			return false, "", err
		}
		spec, _, _ := strings.Cut(g.Location, "@")
		out, err := runner.Output(ctx, o.Runner, rbdCmd(c, true, "status", spec, "--format", "json"))
		if err != nil {
			if notFound(err) {
				return true, "", nil
			}
			return false, "", rbdErr(c, "status of "+spec, err)
		}
		w, err := Watchers(out)
		if err != nil {
			return false, "", err
		}
		if len(w) > 0 {
			return false, fmt.Sprintf("%s has %d watcher(s) (%s): a client still maps it", spec, len(w), strings.Join(w, ", ")), nil
		}
		out, err = runner.Output(ctx, o.Runner, rbdCmd(c, true, "snap", "ls", spec, "--format", "json"))
		if err != nil {
			return false, "", rbdErr(c, "snapshots of "+spec, err)
		}
		hasSnap, protected, err := snapProtected(out)
		if err != nil {
			return false, "", err
		}
		o.logf("%sremove generation %d: %s", o.verb(), g.Number, g.Location)
		return false, "", removeRBD(ctx, c, o, spec, protected, hasSnap)
	}
	return false, "", fmt.Errorf("backend %q: want %s or %s; fix the state file", g.Backend, config.BackendNFS, config.BackendRBD)
}

// WriteTable prints the generations, the current one marked with *.
func WriteTable(w io.Writer, st *State) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "\tGEN\tCREATED\tBACKEND\tLOCATION\tSIZE\tVERITY\tTREE")
	for _, g := range st.Generations {
		mark := ""
		if g.Number == st.Current {
			mark = "*"
		}
		v := "-"
		if g.RootHash != "" {
			v = g.RootHash
			if len(v) > 16 {
				v = v[:16] + "..."
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", mark, g.Number, g.Created.UTC().Format(time.RFC3339), g.Backend, g.Location, config.FormatSize(g.Size), v, g.TreeGeneration)
	}
	return tw.Flush()
}
