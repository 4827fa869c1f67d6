// Package generation publishes the shared tree as generations: numbered,
// immutable squashfs images (optionally with a dm-verity hash tree) that
// nodes boot instead of the live NFS tree, kept as files under the NFS
// export (backend nfs) or as Ceph RBD images with a protected snapshot
// (backend rbd). A state file in the server's state dir lists them and
// names the current one; switching rewrites the pxelinux and iPXE files
// (default and per node) to boot it, so rolling back is one atomic switch.
//
// An rbd generation has its own cephx identity, client.sidus-gen-NNNN,
// whose keyring nodes get in an extra initrd: the monitors list each
// client's session under its identity, which is how prune and list tell
// the generations running nodes still use.
//
// Every external program (mksquashfs, veritysetup, rbd, ceph) runs through
// the runner seam; --dry-run reports the commands and changes nothing.
package generation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/runner"
)

// Names and files.
const (
	// StateFile (in the state dir) lists the generations.
	StateFile = "generations.json"
	// LockFile (in the state dir) is held while a command changes them.
	LockFile = "generations.lock"
	// BuildDir (in the state dir) holds an rbd generation's image while
	// it is built and imported.
	BuildDir = "gen-build"
	// Snapshot is the RBD snapshot nodes map, POOL/gen-NNNN@gen.
	Snapshot = "gen"
	// BlockSize is dm-verity's data and hash block size: the squashfs
	// image is padded to it, its hash tree appended at that offset.
	BlockSize = 4096
)

// Name is generation n's image name, gen-NNNN.
func Name(n int) string { return fmt.Sprintf("gen-%04d", n) }

// FileName is an nfs generation's file, gen-NNNN.squashfs.
func FileName(n int) string { return Name(n) + ".squashfs" }

// User is an rbd generation's own cephx identity, client.sidus-gen-NNNN:
// its nodes map the image as this user, so the monitors' sessions tell
// which generation each node runs (see Sessions).
func User(n int) string { return "client.sidus-" + Name(n) }

// InitrdName is an rbd generation's extra initrd in the TFTP root,
// gen-NNNN.img: its user's keyring as layout.CephKeyring.
func InitrdName(n int) string { return Name(n) + ".img" }

// Generation is one published image of the tree.
type Generation struct {
	Number  int       `json:"number"`
	Created time.Time `json:"created"`
	// Backend is config.BackendNFS or config.BackendRBD.
	Backend string `json:"backend"`
	// Location is the image: nfs, its file; rbd, POOL/IMAGE@SNAP.
	Location string `json:"location"`
	// Image (nfs) is the file relative to the NFS export (sidus.image=).
	Image string `json:"image,omitempty"`
	// Size is the image's bytes, hash tree included.
	Size int64 `json:"size"`
	// RootHash is the dm-verity root hash (hex), "" without verity;
	// HashOffset is where the hash tree starts (the padded squashfs size).
	RootHash   string `json:"verity_root_hash,omitempty"`
	HashOffset int64  `json:"verity_hash_offset,omitempty"`
	// TreeGeneration and TreeStamped are the tree's generation stamp
	// (server/tree ReadGeneration) when the image was built.
	TreeGeneration int       `json:"tree_generation"`
	TreeStamped    time.Time `json:"tree_stamped,omitzero"`
	// CephUser (rbd) is the generation's cephx identity, User(Number),
	// and Initrd its keyring's initrd in the TFTP root, InitrdName(Number),
	// listed after the others on the generation's command lines. Both are
	// "" for generations published before they existed: those boot with
	// the nodes' shared key (generations.node_keyring) and prune cannot
	// tell whether nodes still use them.
	CephUser string `json:"ceph_user,omitempty"`
	Initrd   string `json:"initrd,omitempty"`
}

// rbdSpec splits an rbd generation's Location.
func (g *Generation) rbdSpec() (pool, image, snap string, err error) {
	spec, snap, ok := strings.Cut(g.Location, "@")
	pool, image, ok2 := strings.Cut(spec, "/")
	if !ok || !ok2 || pool == "" || image == "" || snap == "" {
		return "", "", "", fmt.Errorf("generation %d: location %q is not POOL/IMAGE@SNAP; fix the state file", g.Number, g.Location)
	}
	return pool, image, snap, nil
}

// State is the state file: the generations, oldest first, and the
// current one (0: none, nodes boot the live tree).
type State struct {
	Current int `json:"current"`
	// Last is the highest number ever given (numbers are never reused).
	Last        int          `json:"last"`
	Generations []Generation `json:"generations"`
}

// Find returns generation n.
func (s *State) Find(n int) *Generation {
	for i := range s.Generations {
		if s.Generations[i].Number == n {
			return &s.Generations[i]
		}
	}
	return nil
}

// CurrentGeneration returns the current generation, nil if none.
func (s *State) CurrentGeneration() *Generation {
	if s.Current == 0 {
		return nil
	}
	return s.Find(s.Current)
}

func (s *State) next() int {
	n := s.Last
	for _, g := range s.Generations {
		n = max(n, g.Number)
	}
	return n + 1
}

func (s *State) numbers() string {
	var a []string
	for _, g := range s.Generations {
		a = append(a, strconv.Itoa(g.Number))
	}
	if len(a) == 0 {
		return "none"
	}
	return strings.Join(a, ", ")
}

// StatePath is the state file of c.
func StatePath(c *config.Config) string { return filepath.Join(c.StateDir, StateFile) }

// LoadState reads a state file; a missing one is an empty state.
func LoadState(path string) (*State, error) {
	var s State
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("generations state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("generations state %s: %w; fix it by hand (it lists what `sidus gen publish` made)", path, err)
	}
	slices.SortFunc(s.Generations, func(a, b Generation) int { return a.Number - b.Number })
	for i, g := range s.Generations {
		if g.Number < 1 || (i > 0 && s.Generations[i-1].Number == g.Number) {
			return nil, fmt.Errorf("generations state %s: bad or repeated generation number %d; fix it by hand", path, g.Number)
		}
	}
	if s.Current != 0 && s.Find(s.Current) == nil {
		return nil, fmt.Errorf("generations state %s: current generation %d is not listed (there are %s); fix it by hand", path, s.Current, s.numbers())
	}
	return &s, nil
}

// Encode is the state file's content.
func (s *State) Encode() []byte {
	if s.Generations == nil {
		s.Generations = []Generation{}
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}

// Options configures Publish, Rollback and Prune.
type Options struct {
	// Runner runs mksquashfs, veritysetup, rbd and ceph.
	Runner runner.Runner
	// Backend overrides generations.backend ("" = the config's).
	Backend string
	// Verity, if set, overrides generations.verity.
	Verity *bool
	// To is the generation Rollback makes current (0 = the one before
	// the current one).
	To int
	// Keep is how many generations Prune keeps (0 = generations.keep).
	Keep int
	// Now is the creation time (default time.Now).
	Now    func() time.Time
	Log    io.Writer
	DryRun bool
}

// defaults fills a missing Runner: os/exec, reporting in dry-run mode.
func (o *Options) defaults() {
	if o.Runner != nil {
		return
	}
	e := &runner.Exec{Log: o.Log}
	if o.DryRun {
		e.DryRunCB = func(c runner.Cmd) { o.logf("would run %s", c) }
	}
	o.Runner = e
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

func (o *Options) verb() string {
	if o.DryRun {
		return "would "
	}
	return ""
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// saveState writes the state file atomically (not in dry-run mode).
func saveState(c *config.Config, o *Options, s *State) error {
	if o.DryRun {
		return nil
	}
	if err := files.WriteAtomic(StatePath(c), s.Encode(), 0o644); err != nil {
		return fmt.Errorf("record the generations: %w (is the state dir %s writable?)", err, c.StateDir)
	}
	return nil
}

// lock takes the state dir's lock for a command that changes the
// generations, so two of them never interleave; it returns the unlock.
func lock(c *config.Config, o *Options) (func(), error) {
	if o.DryRun {
		return func() {}, nil
	}
	if err := os.MkdirAll(c.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", c.StateDir, err)
	}
	p := filepath.Join(c.StateDir, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w: another `sidus gen` is running; wait for it to finish", p, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
