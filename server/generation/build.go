package generation

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/runner"
)

// excludes are the -e arguments of mksquashfs: the directories under the
// tree where generations are written (they must not end up in the next
// image), relative to the tree.
func excludes(c *config.Config, root string) []string {
	var out []string
	for _, d := range []string{filepath.Join(root, c.Generations.NFSDir), filepath.Join(c.StateDir, BuildDir)} {
		rel, err := filepath.Rel(root, d)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || slices.Contains(out, rel) {
			continue
		}
		out = append(out, rel)
	}
	return out
}

// MksquashfsCmd is the command that builds the image of root into out.
func MksquashfsCmd(root, out string, exclude []string) runner.Cmd {
	args := []string{"mksquashfs", root, out, "-comp", "zstd", "-noappend", "-no-progress", "-quiet"}
	for _, e := range exclude {
		args = append(args, "-e", e)
	}
	return runner.Cmd{Args: args}
}

// VerityCmd is the command that appends img's hash tree at offset (the
// padded image size), in the same file, with the default superblock.
func VerityCmd(img string, offset int64) runner.Cmd {
	return runner.Cmd{Args: []string{"veritysetup", "format", "--hash-offset=" + strconv.FormatInt(offset, 10), img, img}}
}

// Padded is n rounded up to BlockSize.
func Padded(n int64) int64 { return (n + BlockSize - 1) / BlockSize * BlockSize }

// ParseRootHash returns the "Root hash:" of veritysetup format's output.
func ParseRootHash(out string) (string, error) {
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(k) != "Root hash" {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(v))
		if b, err := hex.DecodeString(h); err != nil || len(b) < 16 {
			return "", fmt.Errorf("veritysetup printed root hash %q: want hex", h)
		}
		return h, nil
	}
	return "", fmt.Errorf("veritysetup printed no \"Root hash:\" line:\n%s", strings.TrimSpace(out))
}

// buildImage runs mksquashfs of the tree root into out and, with verity,
// pads the image and appends its hash tree, filling g's Size, RootHash
// and HashOffset. In dry-run mode the commands are only reported.
func buildImage(ctx context.Context, c *config.Config, o *Options, root, out string, verity bool, g *Generation) error {
	os.Remove(out) // a temp file left by an interrupted publish
	o.logf("%sbuild generation %d: squashfs (zstd) of %s into %s (this takes minutes)", o.verb(), g.Number, root, out)
	if err := o.Runner.Run(ctx, MksquashfsCmd(root, out, excludes(c, root))); err != nil {
		return fmt.Errorf("build generation %d: %w; is squashfs-tools installed, and is there room for the image in %s?", g.Number, err, filepath.Dir(out))
	}
	size := int64(0)
	if !o.DryRun {
		st, err := os.Stat(out)
		if err != nil {
			return fmt.Errorf("build generation %d: mksquashfs made no image: %w", g.Number, err)
		}
		size = st.Size()
	}
	g.Size = size
	if !verity {
		return nil
	}
	off := Padded(size)
	if !o.DryRun && off != size {
		if err := os.Truncate(out, off); err != nil {
			return fmt.Errorf("build generation %d: pad %s to %d bytes for dm-verity: %w", g.Number, out, off, err)
		}
	}
	cmd := VerityCmd(out, off)
	if o.DryRun {
		cmd = VerityCmd(out, 0)
		cmd.Args[2] = "--hash-offset=<padded image size>"
	}
	b, err := runner.Output(ctx, o.Runner, cmd)
	if err != nil {
		return fmt.Errorf("build generation %d: dm-verity hash tree: %w; is cryptsetup-bin (veritysetup) installed?", g.Number, err)
	}
	g.HashOffset = off
	if o.DryRun {
		return nil
	}
	if g.RootHash, err = ParseRootHash(string(b)); err != nil {
		return fmt.Errorf("build generation %d: %w", g.Number, err)
	}
	st, err := os.Stat(out)
	if err != nil {
		return fmt.Errorf("build generation %d: %w", g.Number, err)
	}
	if st.Size() <= off {
		return fmt.Errorf("build generation %d: veritysetup appended no hash tree to %s (size %d, hash offset %d)", g.Number, out, st.Size(), off)
	}
	g.Size = st.Size()
	return nil
}

// storeNFS builds generation g as a file under the NFS export: a temp
// name in the same directory, renamed once complete.
func storeNFS(ctx context.Context, c *config.Config, o *Options, root string, verity bool, g *Generation) error {
	dir := filepath.Join(root, c.Generations.NFSDir)
	final := filepath.Join(dir, FileName(g.Number))
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("generation %d: %s exists but is not in %s (left by an interrupted publish?); remove it, or record it by hand", g.Number, final, StatePath(c))
	}
	if !o.DryRun {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("generations directory %s: %w (check generations.nfs_dir)", dir, err)
		}
	}
	tmp := filepath.Join(dir, "."+FileName(g.Number)+".tmp")
	defer os.Remove(tmp)
	if err := buildImage(ctx, c, o, root, tmp, verity, g); err != nil {
		return err
	}
	if !o.DryRun {
		if err := os.Chmod(tmp, 0o444); err != nil {
			return fmt.Errorf("generation %d: %w", g.Number, err)
		}
		if err := os.Rename(tmp, final); err != nil {
			return fmt.Errorf("generation %d: install %s: %w", g.Number, final, err)
		}
	}
	g.Location = filepath.Join(c.Tree, c.Generations.NFSDir, FileName(g.Number))
	g.Image = filepath.Join(c.Generations.NFSDir, FileName(g.Number))
	o.logf("%sstore generation %d as %s", o.verb(), g.Number, g.Location)
	return nil
}

// rbdCmd is an rbd command with this server's Ceph client options.
func rbdCmd(c *config.Config, readOnly bool, args ...string) runner.Cmd {
	g := c.Generations
	return runner.Cmd{
		Args:     append([]string{"rbd", "--id", g.CephID, "--keyring", g.CephKeyring, "--conf", g.CephConf}, args...),
		ReadOnly: readOnly,
	}
}

// rbdErr says what to check when an rbd command fails.
func rbdErr(c *config.Config, what string, err error) error {
	g := c.Generations
	return fmt.Errorf("%s: %w; check that the cluster is reachable with this server's client (ceph_conf %s, ceph_keyring %s, ceph_id %s: `ceph --id %s -s`) and that pool %s exists (`ceph osd pool ls`); is ceph-common installed?",
		what, err, g.CephConf, g.CephKeyring, g.CephID, g.CephID, g.RBDPool)
}

// storeRBD builds generation g in the state dir, imports it as
// POOL/gen-NNNN, creates and protects its snapshot @gen, and creates its
// cephx user (User, UserCaps), whose keyring it returns (nil in dry-run
// mode) for the generation's initrd; the image is removed again if a
// later step fails.
func storeRBD(ctx context.Context, c *config.Config, o *Options, root string, verity bool, g *Generation) ([]byte, error) {
	pool, image := c.Generations.RBDPool, Name(g.Number)
	dir := filepath.Join(c.StateDir, BuildDir)
	if !o.DryRun {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("build directory %s: %w", dir, err)
		}
	}
	tmp := filepath.Join(dir, FileName(g.Number))
	defer os.Remove(tmp)
	if err := buildImage(ctx, c, o, root, tmp, verity, g); err != nil {
		return nil, err
	}
	spec := pool + "/" + image
	o.logf("%simport generation %d into RBD %s", o.verb(), g.Number, spec)
	if err := o.Runner.Run(ctx, rbdCmd(c, false, "import", "--no-progress", "--image-feature", "layering", "--object-size", c.Generations.RBDObjectSize, "--dest-pool", pool, tmp, image)); err != nil {
		return nil, rbdErr(c, fmt.Sprintf("generation %d: import into %s", g.Number, spec), err)
	}
	snap := spec + "@" + Snapshot
	undo := func(hasSnap, protected bool) {
		if err := removeRBD(ctx, c, o, spec, protected, hasSnap); err != nil {
			o.logf("warning: could not remove the half-made %s: %v; remove it by hand (rbd snap unprotect, rbd snap rm, rbd rm)", spec, err)
		}
	}
	if err := o.Runner.Run(ctx, rbdCmd(c, false, "snap", "create", snap)); err != nil {
		undo(false, false)
		return nil, rbdErr(c, fmt.Sprintf("generation %d: snapshot %s", g.Number, snap), err)
	}
	if err := o.Runner.Run(ctx, rbdCmd(c, false, "snap", "protect", snap)); err != nil {
		undo(true, false)
		return nil, rbdErr(c, fmt.Sprintf("generation %d: protect %s", g.Number, snap), err)
	}
	user := User(g.Number)
	keyring, err := createUser(ctx, c, o, user)
	if err != nil {
		// Not removed: the user may exist already, with other caps
		// (get-or-create refuses then), and be someone else's.
		undo(true, true)
		return nil, fmt.Errorf("generation %d: %w", g.Number, err)
	}
	if !o.DryRun {
		if err := checkKeyring(keyring, user); err != nil {
			if rerr := removeUser(ctx, c, o, user); rerr != nil {
				o.logf("warning: could not remove the cephx user %s: %v; remove it by hand (ceph auth rm %s)", user, rerr, user)
			}
			undo(true, true)
			return nil, fmt.Errorf("generation %d: `ceph auth get-or-create %s` %w", g.Number, user, err)
		}
	}
	g.Location = snap
	g.CephUser = user
	g.Initrd = InitrdName(g.Number)
	return keyring, nil
}

// removeRBD removes an image and its snapshot @gen: unprotect (if
// protected), snap rm, rm.
func removeRBD(ctx context.Context, c *config.Config, o *Options, spec string, protected, hasSnap bool) error {
	snap := spec + "@" + Snapshot
	if protected {
		if err := o.Runner.Run(ctx, rbdCmd(c, false, "snap", "unprotect", snap)); err != nil {
			return rbdErr(c, "unprotect "+snap, err)
		}
	}
	if hasSnap {
		if err := o.Runner.Run(ctx, rbdCmd(c, false, "snap", "rm", "--no-progress", snap)); err != nil {
			return rbdErr(c, "remove "+snap, err)
		}
	}
	if err := o.Runner.Run(ctx, rbdCmd(c, false, "rm", "--no-progress", spec)); err != nil {
		return rbdErr(c, "remove "+spec, err)
	}
	return nil
}

// Watchers parses `rbd status --format json`: the clients watching the
// image.
func Watchers(out []byte) ([]string, error) {
	var s struct {
		Watchers []struct {
			Address string `json:"address"`
		} `json:"watchers"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("rbd status printed %q: %w", strings.TrimSpace(string(out)), err)
	}
	var a []string
	for _, w := range s.Watchers {
		a = append(a, w.Address)
	}
	return a, nil
}

// snapProtected parses `rbd snap ls --format json` for the snapshot
// @gen: whether it exists and is protected.
func snapProtected(out []byte) (exists, protected bool, err error) {
	var snaps []struct {
		Name      string `json:"name"`
		Protected any    `json:"protected"` // "true" (rbd prints a string) or true
	}
	if err := json.Unmarshal(out, &snaps); err != nil {
		return false, false, fmt.Errorf("rbd snap ls printed %q: %w", strings.TrimSpace(string(out)), err)
	}
	for _, s := range snaps {
		if s.Name == Snapshot {
			return true, s.Protected == true || s.Protected == "true", nil
		}
	}
	return false, false, nil
}

// notFound reports whether an rbd error says the image does not exist.
func notFound(err error) bool {
	var re *runner.Error
	if errors.As(err, &re) {
		return strings.Contains(re.Output, "No such file or directory")
	}
	return strings.Contains(err.Error(), "No such file or directory")
}
