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
	"strconv"
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
//     the snapshot protected, then its cephx user client.sidus-gen-NNNN
//     is created (ceph auth get-or-create, UserCaps) and its keyring put
//     in the initrd gen-NNNN.img (KeyringInitrd);
//   - the generation is recorded in the state file, then the pxelinux and
//     iPXE files are switched to boot it, with gen-NNNN.img written into
//     the TFTP root and listed after the other initrds (all or none), and
//     it is recorded as current.
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
	var keyring []byte
	if backend == config.BackendNFS {
		err = storeNFS(ctx, c, &o, root, verity, &g)
	} else {
		keyring, err = storeRBD(ctx, c, &o, root, verity, &g)
	}
	if err != nil {
		return nil, err
	}
	var extra []File
	if g.Initrd != "" {
		f, err := initrdFile(c, &g, keyring)
		if err != nil {
			return nil, err
		}
		extra = append(extra, f)
	}
	st.Generations = append(st.Generations, g)
	st.Last = g.Number
	if err := saveState(c, &o, st); err != nil {
		return nil, fmt.Errorf("generation %d is stored as %s but not recorded: %w", g.Number, g.Location, err)
	}
	prev := st.Current
	if err := switchTo(c, &o, st, st.Find(g.Number), extra); err != nil {
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

// switchTo rewrites the boot files for g, and writes extra (g's initrd),
// all or none, then records it as current; if recording fails the files
// are put back.
func switchTo(c *config.Config, o *Options, st *State, g *Generation, extra []File) error {
	tx := files.Txn{W: &files.Writer{DryRun: o.DryRun, Log: o.Log}}
	for _, f := range extra {
		tx.Write(f.Path, f.Data, 0o644)
	}
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
// back to the current generation rewrites its boot files (a repair); an
// rbd generation's initrd missing from the TFTP root is rebuilt from its
// user's keyring (ceph auth get).
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
	extra, err := restoreInitrd(ctx, c, &o, g)
	if err != nil {
		return nil, err
	}
	prev := st.Current
	if err := switchTo(c, &o, st, g, extra); err != nil {
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
	// InUseBy are the addresses of the nodes that use it, per the
	// monitors' sessions.
	InUseBy []string
}

// Prune removes the generations older than the last o.Keep (default
// generations.keep), never the current one: nfs, the file; rbd, the
// snapshot is unprotected and removed, then the image, its cephx user
// (ceph auth rm) and its initrd in the TFTP root. The state file is
// updated even when a removal fails half-way.
//
// An rbd generation that running nodes still use is kept, however old,
// and reported with their addresses: the monitors hold a session for each
// client that maps an image, under the generation's own user (Sessions).
// If the monitors' sessions cannot be read, no rbd generation is removed
// and the error says why. Generations published without a user of their
// own (before they existed) are only kept if their image has watchers
// (`rbd status`), which kernels since 5.9 do not register for read-only
// mappings: keep enough of those to cover the nodes not yet rebooted.
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
	var sessions Sessions
	var sessErr error
	if NeedsSessions(doomed) {
		sessions, sessErr = ReadSessions(ctx, c, o.Runner)
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
	var unread []string
	for _, g := range doomed {
		if g.Backend == config.BackendRBD && sessErr != nil {
			res.Kept = append(res.Kept, Kept{Number: g.Number, Reason: "the monitors' sessions could not be read: nodes may still use it"})
			unread = append(unread, strconv.Itoa(g.Number))
			continue
		}
		if addrs, known := sessions.Of(&g); known && len(addrs) > 0 {
			res.Kept = append(res.Kept, Kept{Number: g.Number, Reason: "in use by " + strings.Join(addrs, ", "), InUseBy: addrs})
			continue
		}
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
		if err := removeIdentity(ctx, c, &o, &g); err != nil {
			return res, fmt.Errorf("prune generation %d: %w", g.Number, err)
		}
		removed[g.Number] = true
		res.Removed = append(res.Removed, g.Number)
	}
	if len(doomed) == 0 {
		o.logf("nothing to prune: %d generation(s), keeping the last %d and the current", len(st.Generations), keep)
	}
	if sessErr != nil {
		return res, fmt.Errorf("kept rbd generation(s) %s: cannot tell whether running nodes use them: %w", strings.Join(unread, ", "), sessErr)
	}
	return res, nil
}

// removeIdentity removes an rbd generation's cephx user and its initrd
// from the TFTP root (both already gone is fine).
func removeIdentity(ctx context.Context, c *config.Config, o *Options, g *Generation) error {
	if g.CephUser != "" {
		o.logf("%sremove the cephx user %s", o.verb(), g.CephUser)
		if err := removeUser(ctx, c, o, g.CephUser); err != nil {
			return err
		}
	}
	if g.Initrd != "" {
		w := files.Writer{DryRun: o.DryRun, Log: o.Log}
		if _, err := w.Remove(filepath.Join(c.TFTP.Root, g.Initrd)); err != nil {
			return fmt.Errorf("%w (check the TFTP root %s)", err, c.TFTP.Root)
		}
	}
	return nil
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

// TableOptions are WriteTable's.
type TableOptions struct {
	// InUse adds the IN USE column when some generation is rbd: the
	// addresses of the nodes that use it per Sessions, "-" for none, "?"
	// when there is no signal (nfs, a generation without a user of its
	// own, or Sessions nil: not read).
	InUse    bool
	Sessions Sessions
}

// WriteTable prints the generations, the current one marked with *.
func WriteTable(w io.Writer, st *State, to TableOptions) error {
	inUse := to.InUse && slices.ContainsFunc(st.Generations, func(g Generation) bool { return g.Backend == config.BackendRBD })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	head := "\tGEN\tCREATED\tBACKEND\tLOCATION\tSIZE\tVERITY\tTREE"
	if inUse {
		head += "\tIN USE"
	}
	fmt.Fprintln(tw, head)
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
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d", mark, g.Number, g.Created.UTC().Format(time.RFC3339), g.Backend, g.Location, config.FormatSize(g.Size), v, g.TreeGeneration)
		if inUse {
			u := "?"
			if addrs, known := to.Sessions.Of(&g); known {
				u = "-"
				if len(addrs) > 0 {
					u = strings.Join(addrs, ",")
				}
			}
			fmt.Fprintf(tw, "\t%s", u)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
