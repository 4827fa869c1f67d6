// Package livetree watches the shared tree that the node runs from, while
// the admin upgrades it in place on the server (dpkg or apt in a chroot,
// "sidus tree run"), and makes the node's overlay see the new tree.
//
// overlayfs over an NFS lower keeps what it looked up: a negative dentry
// for a file that did not exist then (never revalidated), and lower
// dentries of files that dpkg has since replaced by a rename (ESTALE for
// good). Dropping the kernel's unused dentries and inodes
// (echo 2 > /proc/sys/vm/drop_caches) makes the next lookups fresh; see
// the LAB notes on overlayfs over a changing NFS lower.
//
// The watcher (Watcher.Run):
//   - every Config.Poll, opens each of Config.Files under Config.Root (the
//     NFS mount itself, not the overlay), fstats the open descriptor and
//     closes it: the open is what makes NFS revalidate (close-to-open), a
//     stat would answer from the attribute cache; it records device,
//     inode, size, mtime and ctime, and for StampFile the generation read
//     from it;
//   - any difference from the last poll (a file rewritten, replaced by a
//     rename, appeared, disappeared) is a change: it drops the caches,
//     waits Config.Settle (dpkg writes many files around its status) and
//     drops them again, then logs one line: what changed, the generation,
//     how long the drops took;
//   - the NFS mount is hard, so a poll may block for as long as the server
//     is down: the I/O runs on its own goroutine, one at a time, and Run
//     and Status never wait for it. A poll still blocked after 3 × Poll is
//     logged once ("the NFS server does not answer"); its return is logged
//     once and counts as a change, since files may have been replaced
//     during the outage.
package livetree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sidus-go/sidus/agent/clock"
	"github.com/sidus-go/sidus/agent/handover"
)

// Defaults.
const (
	DefaultPoll   = handover.DefaultTreePollSeconds * time.Second
	DefaultSettle = 2 * time.Second
	// blockedPolls is how many poll intervals a poll may take before the
	// NFS server is reported as not answering.
	blockedPolls = 3
)

// DefaultFiles are the files watched unless the boot names others:
// dpkg rewrites its status on every run; "sidus tree run" bumps the stamp.
var DefaultFiles = []string{"var/lib/dpkg/status", StampFile}

// Config is what to watch.
type Config struct {
	// Root is the node's path to the NFS mount of the tree ("/ro").
	Root string
	// Poll is the interval between two polls; 0 turns the watcher off.
	Poll time.Duration
	// Files are relative to Root; empty: DefaultFiles.
	Files []string
	// Settle is the wait between the two drops of a change; 0: 2 s.
	Settle time.Duration
}

// FromHandover builds the Config from the init's handover.
func FromHandover(t *handover.Tree) (Config, error) {
	if t == nil {
		return Config{}, errors.New("tree watcher: no tree in the handover")
	}
	return Config{Root: t.Root, Poll: time.Duration(t.PollSeconds) * time.Second, Files: append([]string{}, t.Files...)}, nil
}

func (c *Config) normalize() error {
	if c.Poll < 0 {
		return fmt.Errorf("tree watcher: poll interval %s is negative; want seconds, 0 for off", c.Poll)
	}
	if c.Root == "" || !filepath.IsAbs(c.Root) {
		return fmt.Errorf("tree watcher: root %q is not an absolute path; want the node's NFS mount of the tree, e.g. /ro", c.Root)
	}
	c.Root = filepath.Clean(c.Root)
	if len(c.Files) == 0 {
		c.Files = append([]string{}, DefaultFiles...)
	}
	for i, f := range c.Files {
		f = strings.TrimPrefix(f, "/")
		if !filepath.IsLocal(f) {
			return fmt.Errorf("tree watcher: file %q is not a path inside the tree (relative, no ..)", c.Files[i])
		}
		c.Files[i] = path.Clean(f)
	}
	if c.Settle <= 0 {
		c.Settle = DefaultSettle
	}
	return nil
}

// Options are the watcher's seams; zero values take the defaults.
type Options struct {
	System System               // DefaultSystem()
	Clock  Clock                // the real clock
	Logf   func(string, ...any) // one line per call
}

// Watcher is the agent duty "tree" (Name, Run, Status).
type Watcher struct {
	cfg    Config
	sys    System
	clock  Clock
	logf   func(string, ...any)
	status status

	// stepped, if set (tests), gets each event Run has handled.
	stepped func(event string)
}

// New checks cfg and returns its watcher.
func New(cfg Config, o Options) (*Watcher, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if o.System == nil {
		o.System = DefaultSystem()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	w := &Watcher{cfg: cfg, sys: o.System, clock: o.Clock, logf: o.Logf}
	w.status.s = StatusSnapshot{Root: cfg.Root, PollSeconds: cfg.Poll.Seconds()}
	return w, nil
}

// Name is the duty's key in the status file.
func (w *Watcher) Name() string { return "tree" }

// Status is the duty's part of the status file (a StatusSnapshot).
func (w *Watcher) Status() any { return w.status.snapshot() }

// Snapshot is the current status.
func (w *Watcher) Snapshot() StatusSnapshot { return w.status.snapshot() }

// fileState is one file at one poll.
type fileState struct {
	exists bool
	id     FileID
	err    string // an error other than "does not exist"
	stamp  bool   // the file is StampFile
	gen    Generation
	genErr string // the stamp is not valid
}

func (a fileState) equal(b fileState) bool {
	return a.exists == b.exists && a.id == b.id && a.err == b.err &&
		a.gen.Counter == b.gen.Counter && a.gen.Time.Equal(b.gen.Time) && a.genErr == b.genErr
}

// describe says how file f went from a to b ("" if it did not).
func describe(f string, a, b fileState) string {
	switch {
	case a.equal(b):
		return ""
	case b.err != "":
		return fmt.Sprintf("%s: %s", f, b.err)
	case !b.exists && a.exists:
		return f + " disappeared"
	case !b.exists:
		return f + " is missing"
	case !a.exists && a.err == "":
		return f + " appeared"
	case !a.exists:
		return f + " is readable again"
	case a.id.Dev != b.id.Dev || a.id.Ino != b.id.Ino:
		return f + " was replaced"
	case a.id.Size != b.id.Size || a.id.MtimeNS != b.id.MtimeNS:
		return f + " was rewritten"
	default:
		return f + " changed"
	}
}

type snapshot map[string]fileState

// poll is one round of I/O on the tree (on its own goroutine).
func (w *Watcher) poll() snapshot {
	s := make(snapshot, len(w.cfg.Files))
	for _, f := range w.cfg.Files {
		st := fileState{stamp: f == StampFile}
		max := 0
		if st.stamp {
			max = maxStamp
		}
		id, b, err := w.sys.StatOpen(filepath.Join(w.cfg.Root, filepath.FromSlash(f)), max)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		case err != nil:
			st.err = err.Error()
		default:
			st.exists, st.id = true, id
			if st.stamp {
				if g, perr := ParseStamp(b); perr != nil {
					st.genErr = perr.Error()
				} else {
					st.gen = g
				}
			}
		}
		s[f] = st
	}
	return s
}

// generation is the stamp of s, if valid.
func (s snapshot) generation() *Generation {
	st, ok := s[StampFile]
	if !ok || !st.exists || st.genErr != "" {
		return nil
	}
	g := st.gen
	return &g
}

// drops is what a drop job did.
type drops struct {
	first, second time.Duration
	err           error
	secondErr     error
	settled       bool // the second drop was tried
}

// dropTwice drops the caches, waits Settle, drops them again.
func (w *Watcher) dropTwice(ctx context.Context) drops {
	var d drops
	t := w.clock.Now()
	d.err = w.sys.DropCaches()
	d.first = w.clock.Now().Sub(t)
	if d.err != nil || w.clock.Sleep(ctx, w.cfg.Settle) != nil {
		return d
	}
	t = w.clock.Now()
	d.secondErr = w.sys.DropCaches()
	d.second = w.clock.Now().Sub(t)
	d.settled = true
	return d
}

// job is the one piece of I/O in flight: a poll, or the drops of a change.
type job struct {
	drop    bool
	start   time.Time
	limit   time.Duration // reported as blocked after it
	blocked bool          // and so reported
	reason  string        // drop: the start of its log line
}

type result struct {
	snap  snapshot
	drops drops
}

// Run watches the tree until ctx ends; with Config.Poll 0 it returns at
// once. It returns nil.
func (w *Watcher) Run(ctx context.Context) error {
	if w.cfg.Poll <= 0 {
		return nil
	}
	w.logf("watching %s (%s) every %s; a change drops the dentry and inode caches",
		w.cfg.Root, strings.Join(w.cfg.Files, ", "), w.cfg.Poll)
	results := make(chan result, 1) // one job at a time: its send never blocks
	var (
		cur  *job
		last snapshot
	)
	start := func(j *job, at time.Time) {
		cur = j
		j.start = at
		j.limit = blockedPolls * w.cfg.Poll
		if j.drop {
			j.limit += w.cfg.Settle
		}
		go func() {
			if j.drop {
				results <- result{drops: w.dropTwice(ctx)}
			} else {
				results <- result{snap: w.poll()}
			}
		}()
	}
	step := func(ev string) {
		if w.stepped != nil {
			w.stepped(ev)
		}
	}
	tick, stop := w.clock.Ticker(w.cfg.Poll)
	defer stop()
	start(&job{}, w.clock.Now())
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick:
			if cur == nil {
				start(&job{}, now)
				step("poll")
				continue
			}
			// Half a poll's slack: the job started just after a tick.
			if !cur.blocked && now.Sub(cur.start) >= cur.limit-w.cfg.Poll/2 {
				cur.blocked = true
				since := cur.start
				w.status.update(func(s *StatusSnapshot) { s.NFSBlocked, s.NFSBlockedSince = true, &since })
				what := "tree poll"
				if cur.drop {
					what = "cache drop"
				}
				w.logf("the NFS server does not answer (%s blocked %d s); reads resume when it returns", what, secs(now.Sub(cur.start)))
				step("blocked")
				continue
			}
			step("busy")
		case r := <-results:
			j := cur
			cur = nil
			var back string
			if j.blocked {
				back = fmt.Sprintf("the NFS server answers again after %d s", secs(w.clock.Now().Sub(j.start)))
				w.status.update(func(s *StatusSnapshot) { s.NFSBlocked, s.NFSBlockedSince = false, nil })
			}
			if j.drop {
				w.logDrop(back, j.reason, r.drops)
				step("dropped")
				continue
			}
			if next := w.polled(last, r.snap, back); next != nil {
				start(next, w.clock.Now())
			}
			last = r.snap
			step("polled")
		}
	}
}

// polled records a poll's result and returns the drop job of a change.
func (w *Watcher) polled(last, s snapshot, back string) *job {
	gen := s.generation()
	w.status.update(func(st *StatusSnapshot) { st.Polls++; st.Generation = gen })
	var what, files []string
	if last != nil {
		for _, f := range w.cfg.Files {
			if d := describe(f, last[f], s[f]); d != "" {
				what = append(what, d)
				files = append(files, f)
			}
		}
	}
	if len(what) == 0 && back == "" {
		return nil
	}
	reason := strings.Join(what, ", ")
	if len(what) == 0 {
		reason = "files may have been replaced meanwhile"
	}
	if st := s[StampFile]; st.genErr != "" && last != nil && !last[StampFile].equal(st) {
		reason += " (" + st.genErr + ")"
	} else if gen != nil {
		reason += " (" + gen.String() + ")"
	}
	if back != "" {
		reason = back + "; " + reason
	}
	ch := &Change{Time: w.clock.Now(), File: strings.Join(files, ", "), NFSReturn: back != ""}
	w.status.update(func(st *StatusSnapshot) { st.Changes++; st.LastChange = ch })
	return &job{drop: true, reason: reason}
}

// logDrop writes the one line of a change.
func (w *Watcher) logDrop(back, reason string, d drops) {
	if back != "" {
		reason = back + "; " + reason
	}
	w.status.update(func(s *StatusSnapshot) {
		s.LastDropMS = ms(d.first)
		s.LastDropError = ""
		if err := errors.Join(d.err, d.secondErr); err != nil {
			s.LastDropError = err.Error()
		}
	})
	switch {
	case d.err != nil:
		w.logf("%s; ERROR: the caches could not be dropped: %s; until they are, the node may not see new files (ENOENT) and may get ESTALE for replaced ones", reason, dropHint(d.err))
	case !d.settled:
		w.logf("%s; dropped the dentry and inode caches in %.1f ms", reason, ms(d.first))
	case d.secondErr != nil:
		w.logf("%s; dropped the dentry and inode caches in %.1f ms, but not again %s later: %s", reason, ms(d.first), w.cfg.Settle, dropHint(d.secondErr))
	default:
		w.logf("%s; dropped the dentry and inode caches in %.1f ms, again %s later in %.1f ms", reason, ms(d.first), w.cfg.Settle, ms(d.second))
	}
}

// dropHint says what to check when a drop failed.
func dropHint(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return err.Error() + " (sidus-agent must run as root, as /init starts it)"
	case errors.Is(err, syscall.EROFS):
		return err.Error() + " (/proc/sys is mounted read-only: is the agent in a container?)"
	case errors.Is(err, fs.ErrNotExist):
		return err.Error() + " (is /proc mounted?)"
	}
	return err.Error()
}

func secs(d time.Duration) int64 { return int64(d.Round(time.Second) / time.Second) }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
