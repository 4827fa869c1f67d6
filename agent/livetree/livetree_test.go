package livetree

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sidus-go/sidus/agent/handover"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

const (
	dpkgStatus = "var/lib/dpkg/status"
	root       = "/ro"
)

// fakeClock is virtual time: Sleep returns at once, moving the clock;
// the test ticks.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	tick   chan time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0, tick: make(chan time.Time)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
func (c *fakeClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}
func (c *fakeClock) Ticker(time.Duration) (<-chan time.Time, func()) { return c.tick, func() {} }

type fakeFile struct {
	id   FileID
	data string
	err  error // returned by StatOpen instead
}

// fakeSys is a tree of fake files under root; gate, if set, holds every
// StatOpen until it is closed (an NFS server that does not answer).
type fakeSys struct {
	mu          sync.Mutex
	files       map[string]fakeFile // by full path
	gate        chan struct{}
	dropGate    chan struct{} // holds DropCaches, as gate
	dropEntered chan struct{}
	entered     chan string // StatOpen calls, as they start
	inflight    int
	maxInflight int
	opens       int
	maxes       map[string]int
	drops       int
	dropErr     error
	dropTook    time.Duration
	clock       *fakeClock
}

func newSys(clock *fakeClock) *fakeSys {
	return &fakeSys{files: map[string]fakeFile{}, maxes: map[string]int{}, entered: make(chan string, 100),
		dropEntered: make(chan struct{}, 100), clock: clock}
}

func (s *fakeSys) set(f string, ff fakeFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[root+"/"+f] = ff
}
func (s *fakeSys) remove(f string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.files, root+"/"+f)
}
func (s *fakeSys) get(f string) fakeFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[root+"/"+f]
}

func (s *fakeSys) StatOpen(path string, limit int) (FileID, []byte, error) {
	s.mu.Lock()
	s.inflight++
	s.opens++
	s.maxInflight = max(s.maxInflight, s.inflight)
	s.maxes[path] = limit
	gate := s.gate
	s.mu.Unlock()
	s.entered <- path
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	f, ok := s.files[path]
	switch {
	case !ok:
		return FileID{}, nil, &fs.PathError{Op: "open", Path: path, Err: syscall.ENOENT}
	case f.err != nil:
		return FileID{}, nil, f.err
	}
	b := []byte(f.data)
	if len(b) > limit {
		b = b[:limit]
	}
	return f.id, b, nil
}

func (s *fakeSys) DropCaches() error {
	s.mu.Lock()
	gate := s.dropGate
	s.mu.Unlock()
	if gate != nil {
		s.dropEntered <- struct{}{}
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops++
	s.clock.advance(s.dropTook)
	return s.dropErr
}

func (s *fakeSys) counts() (opens, drops, maxInflight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens, s.drops, s.maxInflight
}

// harness runs a watcher on the fakes.
type harness struct {
	t      *testing.T
	w      *Watcher
	sys    *fakeSys
	clock  *fakeClock
	events chan string
	mu     sync.Mutex
	logs   []string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func newHarness(t *testing.T, cfg Config, setup func(*fakeSys)) *harness {
	t.Helper()
	h := &harness{t: t, clock: newClock(), events: make(chan string, 100), done: make(chan error, 1)}
	h.sys = newSys(h.clock)
	h.sys.dropTook = 3 * time.Millisecond
	if setup != nil {
		setup(h.sys)
	}
	if cfg.Root == "" {
		cfg.Root = root
	}
	w, err := New(cfg, Options{System: h.sys, Clock: h.clock, Logf: func(f string, a ...any) {
		h.mu.Lock()
		h.logs = append(h.logs, fmt.Sprintf(f, a...))
		h.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.stepped = func(ev string) { h.events <- ev }
	h.w = w
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- w.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.once.Do(func() {
		h.cancel()
		h.sys.mu.Lock()
		if h.sys.gate != nil {
			close(h.sys.gate)
			h.sys.gate = nil
		}
		if h.sys.dropGate != nil {
			close(h.sys.dropGate)
			h.sys.dropGate = nil
		}
		h.sys.mu.Unlock()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			h.t.Error("Run did not return after its context ended")
		}
	})
}

// expect waits for Run's next events.
func (h *harness) expect(want ...string) {
	h.t.Helper()
	for _, w := range want {
		select {
		case got := <-h.events:
			if got != w {
				h.t.Fatalf("event %q, want %q; log:\n%s", got, w, h.log())
			}
		case <-time.After(5 * time.Second):
			h.t.Fatalf("no event %q within 5 s; log:\n%s", w, h.log())
		}
	}
}

// tick moves the clock one poll interval and ticks.
func (h *harness) tick() {
	h.t.Helper()
	now := h.clock.advance(h.w.cfg.Poll)
	select {
	case h.clock.tick <- now:
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run does not take the tick")
	}
}

func (h *harness) log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.logs, "\n")
}

// lines are the log lines after the start line.
func (h *harness) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.logs) == 0 {
		h.t.Fatal("no start line")
	}
	return append([]string{}, h.logs[1:]...)
}

func stampFile(n uint64) fakeFile {
	return fakeFile{id: FileID{Dev: 40, Ino: 900 + n, Size: 30, MtimeNS: int64(n), CtimeNS: int64(n)}, data: FormatStamp(n, t0)}
}

var statusID = FileID{Dev: 40, Ino: 100, Size: 5000, MtimeNS: 1e18, CtimeNS: 1e18}

func TestChanges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(s *fakeSys)
		change func(s *fakeSys)
		want   string // the change line up to "; dropped"; "" for no change
	}{
		{"untouched", nil, func(*fakeSys) {}, ""},
		{"rename over: a new inode", nil, func(s *fakeSys) {
			f := s.get(dpkgStatus)
			f.id.Ino = 101
			s.set(dpkgStatus, f)
		}, "var/lib/dpkg/status was replaced (generation 7 of 2026-12-01T10:00:00Z)"},
		{"rewrite in place: size", nil, func(s *fakeSys) {
			f := s.get(dpkgStatus)
			f.id.Size++
			s.set(dpkgStatus, f)
		}, "var/lib/dpkg/status was rewritten (generation 7 of 2026-12-01T10:00:00Z)"},
		{"rewrite in place: mtime", nil, func(s *fakeSys) {
			f := s.get(dpkgStatus)
			f.id.MtimeNS++
			s.set(dpkgStatus, f)
		}, "var/lib/dpkg/status was rewritten (generation 7 of 2026-12-01T10:00:00Z)"},
		{"ctime only (a link count)", nil, func(s *fakeSys) {
			f := s.get(dpkgStatus)
			f.id.CtimeNS++
			s.set(dpkgStatus, f)
		}, "var/lib/dpkg/status changed (generation 7 of 2026-12-01T10:00:00Z)"},
		{"stamp bumped", nil, func(s *fakeSys) { s.set(StampFile, stampFile(8)) },
			"var/lib/sidus/generation was replaced (generation 8 of 2026-12-01T10:00:00Z)"},
		{"stamp counter only", nil, func(s *fakeSys) {
			f := s.get(StampFile)
			f.data = FormatStamp(9, t0)
			s.set(StampFile, f)
		}, "var/lib/sidus/generation changed (generation 9 of 2026-12-01T10:00:00Z)"},
		{"stamp appears", func(s *fakeSys) { s.remove(StampFile) }, func(s *fakeSys) { s.set(StampFile, stampFile(1)) },
			"var/lib/sidus/generation appeared (generation 1 of 2026-12-01T10:00:00Z)"},
		{"status disappears", nil, func(s *fakeSys) { s.remove(dpkgStatus) },
			"var/lib/dpkg/status disappeared (generation 7 of 2026-12-01T10:00:00Z)"},
		{"stamp disappears", nil, func(s *fakeSys) { s.remove(StampFile) }, "var/lib/sidus/generation disappeared"},
		{"stamp becomes garbage", nil, func(s *fakeSys) {
			f := s.get(StampFile)
			f.data, f.id.Size = "not a stamp\n", 12
			s.set(StampFile, f)
		}, `var/lib/sidus/generation was rewritten (var/lib/sidus/generation holds "not a stamp"; want "<counter> <RFC3339 time>")`},
		{"both", nil, func(s *fakeSys) {
			f := s.get(dpkgStatus)
			f.id.Ino = 102
			s.set(dpkgStatus, f)
			s.set(StampFile, stampFile(8))
		}, "var/lib/dpkg/status was replaced, var/lib/sidus/generation was replaced (generation 8 of 2026-12-01T10:00:00Z)"},
		{"an I/O error", nil, func(s *fakeSys) {
			s.set(dpkgStatus, fakeFile{err: &fs.PathError{Op: "open", Path: "/ro/" + dpkgStatus, Err: syscall.EIO}})
		}, "var/lib/dpkg/status: open /ro/var/lib/dpkg/status: input/output error (generation 7 of 2026-12-01T10:00:00Z)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{Poll: 5 * time.Second}, func(s *fakeSys) {
				s.set(dpkgStatus, fakeFile{id: statusID})
				s.set(StampFile, stampFile(7))
				if tc.before != nil {
					tc.before(s)
				}
			})
			h.expect("polled")
			tc.change(h.sys)
			h.tick()
			h.expect("poll", "polled")
			if tc.want == "" {
				h.tick()
				h.expect("poll", "polled")
				if l := h.lines(); len(l) != 0 {
					t.Fatalf("logged %q with no change", l)
				}
				if _, drops, _ := h.sys.counts(); drops != 0 {
					t.Fatalf("%d drops with no change", drops)
				}
				if s := h.w.Snapshot(); s.Changes != 0 || s.Polls != 3 {
					t.Fatalf("status %+v", s)
				}
				return
			}
			h.expect("dropped")
			want := tc.want + "; dropped the dentry and inode caches in 3.0 ms, again 2s later in 3.0 ms"
			if l := h.lines(); len(l) != 1 || l[0] != want {
				t.Fatalf("logged\n%q\nwant\n%q", l, want)
			}
			if _, drops, _ := h.sys.counts(); drops != 2 {
				t.Fatalf("%d drops, want 2", drops)
			}
			// Seen once: the next poll is quiet.
			h.tick()
			h.expect("poll", "polled")
			if l := h.lines(); len(l) != 1 {
				t.Fatalf("logged %q", l)
			}
			s := h.w.Snapshot()
			if s.Changes != 1 || s.LastChange == nil || !s.LastChange.Time.Equal(t0.Add(5*time.Second)) || s.LastChange.NFSReturn || s.LastDropMS != 3 {
				t.Fatalf("status %+v %+v", s, s.LastChange)
			}
		})
	}
}

func TestSettleBetweenDrops(t *testing.T) {
	h := newHarness(t, Config{Poll: time.Second, Settle: 1500 * time.Millisecond}, nil)
	h.expect("polled")
	h.sys.set(dpkgStatus, fakeFile{id: statusID})
	h.tick()
	h.expect("poll", "polled", "dropped")
	h.clock.mu.Lock()
	sleeps := append([]time.Duration{}, h.clock.sleeps...)
	h.clock.mu.Unlock()
	if len(sleeps) != 1 || sleeps[0] != 1500*time.Millisecond {
		t.Fatalf("slept %v between the drops, want [1.5s]", sleeps)
	}
	if l := h.lines(); len(l) != 1 || !strings.HasPrefix(l[0], "var/lib/dpkg/status appeared; dropped") {
		t.Fatalf("logged %q", l)
	}
	opens, _, maxIn := h.sys.counts()
	if opens != 4 || maxIn != 1 {
		t.Fatalf("%d opens (max %d at once), want 4 (1)", opens, maxIn)
	}
}

func TestStamp(t *testing.T) {
	h := newHarness(t, Config{Poll: 5 * time.Second}, func(s *fakeSys) { s.set(StampFile, stampFile(42)) })
	h.expect("polled")
	if g := h.w.Snapshot().Generation; g == nil || g.Counter != 42 || !g.Time.Equal(t0) {
		t.Fatalf("generation %+v", g)
	}
	h.sys.mu.Lock()
	if m := h.sys.maxes["/ro/"+StampFile]; m != maxStamp {
		t.Errorf("the stamp was read with max %d", m)
	}
	if m := h.sys.maxes["/ro/"+dpkgStatus]; m != 0 {
		t.Errorf("dpkg's status was read with max %d, want 0 (fstat only)", m)
	}
	h.sys.mu.Unlock()
	h.sys.set(StampFile, fakeFile{id: FileID{Ino: 3}, data: "12 yesterday\n"})
	h.tick()
	h.expect("poll", "polled", "dropped")
	if g := h.w.Snapshot().Generation; g != nil {
		t.Fatalf("generation %+v from garbage", g)
	}
	if l := h.lines(); len(l) != 1 || !strings.Contains(l[0], `time "yesterday" is not RFC3339`) {
		t.Fatalf("logged %q", l)
	}
	h.sys.remove(StampFile)
	h.tick()
	h.expect("poll", "polled", "dropped")
	if g := h.w.Snapshot().Generation; g != nil {
		t.Fatalf("generation %+v with no stamp", g)
	}
}

func TestParseStamp(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  string
	}{
		{"12 2026-12-01T10:00:00Z\n", 12, ""},
		{"12 2026-12-01T10:00:00Z", 12, ""},
		{"  3   2026-12-01T11:00:00+01:00 \n", 3, ""},
		{"18446744073709551615 2026-12-01T10:00:00Z\n", 1<<64 - 1, ""},
		{"", 0, `holds ""`},
		{"12\n", 0, `holds "12"`},
		{"twelve 2026-12-01T10:00:00Z\n", 0, `counter "twelve" is not a decimal number`},
		{"-1 2026-12-01T10:00:00Z\n", 0, "not a decimal number"},
		{"12 2026-12-01\n", 0, "is not RFC3339"},
		{"12 2026-12-01T10:00:00Z\n13 2026-12-01T10:00:00Z\n", 0, "more than one line"},
		{"\x00\x01\x02", 0, "holds"},
	} {
		g, err := ParseStamp([]byte(tc.in))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.err == "" && (g.Counter != tc.want || !g.Time.Equal(t0) || g.Time.Location() != time.UTC):
			t.Errorf("%q: %+v", tc.in, g)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		}
	}
	g, err := ParseStamp([]byte(FormatStamp(5, t0.In(time.FixedZone("X", 3600)))))
	if err != nil || g.Counter != 5 || !g.Time.Equal(t0) {
		t.Fatalf("FormatStamp does not round-trip: %+v %v", g, err)
	}
	if s := FormatStamp(5, t0); s != "5 2026-12-01T10:00:00Z\n" {
		t.Fatalf("FormatStamp %q", s)
	}
}

func TestBlockedPoll(t *testing.T) {
	h := newHarness(t, Config{Poll: 5 * time.Second}, func(s *fakeSys) {
		s.set(dpkgStatus, fakeFile{id: statusID})
		s.set(StampFile, stampFile(7))
	})
	h.expect("polled")
	for len(h.sys.entered) > 0 {
		<-h.sys.entered
	}
	gate := make(chan struct{})
	h.sys.mu.Lock()
	h.sys.gate = gate
	h.sys.mu.Unlock()
	h.tick() // t0+5 s: the poll starts, and blocks
	h.expect("poll")
	<-h.sys.entered
	h.tick()
	h.expect("busy")
	h.tick()
	h.expect("busy")
	if l := h.lines(); len(l) != 0 {
		t.Fatalf("logged %q before 3 poll intervals", l)
	}
	h.tick() // 15 s into the poll
	h.expect("blocked")
	s := h.w.Snapshot() // Status answers while the poll is blocked
	if !s.NFSBlocked || s.NFSBlockedSince == nil || !s.NFSBlockedSince.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("status %+v", s)
	}
	for range 10 {
		h.tick()
		h.expect("busy")
	}
	want := []string{"the NFS server does not answer (tree poll blocked 15 s); reads resume when it returns"}
	if l := h.lines(); strings.Join(l, "\n") != strings.Join(want, "\n") {
		t.Fatalf("logged %q, want %q", l, want)
	}
	if opens, _, maxIn := h.sys.counts(); opens != 3 || maxIn != 1 {
		t.Fatalf("%d opens, at most %d at once: a second poll started while one was blocked", opens, maxIn)
	}
	// The server is back 70 s into the poll.
	h.clock.advance(5 * time.Second)
	h.sys.mu.Lock()
	h.sys.gate = nil
	h.sys.mu.Unlock()
	close(gate)
	h.expect("polled", "dropped")
	want = append(want, "the NFS server answers again after 70 s; files may have been replaced meanwhile (generation 7 of 2026-12-01T10:00:00Z); dropped the dentry and inode caches in 3.0 ms, again 2s later in 3.0 ms")
	if l := h.lines(); strings.Join(l, "\n") != strings.Join(want, "\n") {
		t.Fatalf("logged\n%s\nwant\n%s", strings.Join(l, "\n"), strings.Join(want, "\n"))
	}
	s = h.w.Snapshot()
	if s.NFSBlocked || s.NFSBlockedSince != nil || s.Changes != 1 || s.LastChange == nil || !s.LastChange.NFSReturn || s.Polls != 2 {
		t.Fatalf("status %+v", s)
	}
	if _, drops, _ := h.sys.counts(); drops != 2 {
		t.Fatalf("%d drops after the return, want 2", drops)
	}
	// Back to normal: a quiet poll.
	h.tick()
	h.expect("poll", "polled")
	if l := h.lines(); len(l) != 2 {
		t.Fatalf("logged %q", l)
	}
}

func TestBlockedAtStart(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t, Config{Poll: time.Second}, func(s *fakeSys) {
		s.gate = gate
		s.set(dpkgStatus, fakeFile{id: statusID})
	})
	<-h.sys.entered
	h.tick()
	h.expect("busy")
	h.tick()
	h.expect("busy")
	h.tick()
	h.expect("blocked")
	h.sys.mu.Lock()
	h.sys.gate = nil
	h.sys.mu.Unlock()
	close(gate)
	h.expect("polled", "dropped")
	l := h.lines()
	if len(l) != 2 || !strings.HasPrefix(l[1], "the NFS server answers again after 3 s; files may have been replaced meanwhile; dropped") {
		t.Fatalf("logged %q", l)
	}
}

func TestBlockedDrop(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t, Config{Poll: time.Second}, func(s *fakeSys) { s.dropGate = gate })
	h.expect("polled")
	h.sys.set(dpkgStatus, fakeFile{id: statusID})
	h.tick()
	h.expect("poll", "polled")
	<-h.sys.dropEntered
	for range 4 {
		h.tick()
		h.expect("busy")
	}
	h.tick() // 3 polls and the settle delay
	h.expect("blocked")
	h.tick()
	h.expect("busy")
	if opens, _, _ := h.sys.counts(); opens != 4 {
		t.Fatalf("%d opens: a poll started during the drop", opens)
	}
	h.sys.mu.Lock()
	h.sys.dropGate = nil
	h.sys.mu.Unlock()
	close(gate)
	h.expect("dropped")
	want := "the NFS server does not answer (cache drop blocked 5 s); reads resume when it returns\n" +
		"the NFS server answers again after 8 s; var/lib/dpkg/status appeared; dropped the dentry and inode caches in 6003.0 ms, again 2s later in 3.0 ms"
	if l := strings.Join(h.lines(), "\n"); l != want {
		t.Fatalf("logged\n%s\nwant\n%s", l, want)
	}
	if s := h.w.Snapshot(); s.NFSBlocked || s.Changes != 1 {
		t.Fatalf("status %+v", s)
	}
}

func TestDropFailure(t *testing.T) {
	for _, tc := range []struct {
		err  error
		hint string
	}{
		{&fs.PathError{Op: "open", Path: DropCachesPath, Err: syscall.EACCES}, "open /proc/sys/vm/drop_caches: permission denied (sidus-agent must run as root, as /init starts it)"},
		{fmt.Errorf("write 2 to %s: %w", DropCachesPath, syscall.EROFS), "read-only file system (/proc/sys is mounted read-only"},
		{&fs.PathError{Op: "open", Path: DropCachesPath, Err: syscall.ENOENT}, "(is /proc mounted?)"},
	} {
		h := newHarness(t, Config{Poll: time.Second}, func(s *fakeSys) { s.dropErr = tc.err })
		h.expect("polled")
		h.sys.set(dpkgStatus, fakeFile{id: statusID})
		h.tick()
		h.expect("poll", "polled", "dropped")
		l := h.lines()
		if len(l) != 1 || !strings.HasPrefix(l[0], "var/lib/dpkg/status appeared; ERROR: the caches could not be dropped: ") || !strings.Contains(l[0], tc.hint) {
			t.Fatalf("logged %q, want the hint %q", l, tc.hint)
		}
		if _, drops, _ := h.sys.counts(); drops != 1 {
			t.Fatalf("%d drops after a failed one, want 1", drops)
		}
		if s := h.w.Snapshot(); s.LastDropError != tc.err.Error() || s.Changes != 1 {
			t.Fatalf("status %+v", s)
		}
		h.stop()
	}
}

func TestWatcherOff(t *testing.T) {
	clock := newClock()
	sys := newSys(clock)
	var logs []string
	w, err := New(Config{Root: root}, Options{System: sys, Clock: clock, Logf: func(f string, a ...any) { logs = append(logs, f) }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run with Poll 0 did not return")
	}
	if opens, drops, _ := sys.counts(); opens != 0 || drops != 0 || len(logs) != 0 {
		t.Fatalf("off, yet %d opens, %d drops, logged %q", opens, drops, logs)
	}
	if s := w.Snapshot(); s.PollSeconds != 0 || s.Root != root {
		t.Fatalf("status %+v", s)
	}
}

func TestConfig(t *testing.T) {
	c, err := FromHandover(&handover.Tree{Root: "/ro/", PollSeconds: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.normalize(); err != nil {
		t.Fatal(err)
	}
	if c.Root != "/ro" || c.Poll != 7*time.Second || c.Settle != DefaultSettle || strings.Join(c.Files, ",") != "var/lib/dpkg/status,var/lib/sidus/generation" {
		t.Fatalf("%+v", c)
	}
	c = Config{Root: "/ro", Poll: time.Second, Files: []string{"/etc/apt/sources.list", "usr/./bin/x"}}
	if err := c.normalize(); err != nil || strings.Join(c.Files, ",") != "etc/apt/sources.list,usr/bin/x" {
		t.Fatalf("%+v %v", c, err)
	}
	if DefaultPoll != 5*time.Second {
		t.Fatalf("DefaultPoll %s", DefaultPoll)
	}
	if _, err := FromHandover(nil); err == nil {
		t.Error("FromHandover(nil) gave no error")
	}
	for _, bad := range []Config{
		{Root: "", Poll: time.Second},
		{Root: "ro", Poll: time.Second},
		{Root: "/ro", Poll: -time.Second},
		{Root: "/ro", Poll: time.Second, Files: []string{"../etc/passwd"}},
		{Root: "/ro", Poll: time.Second, Files: []string{"var/../../x"}},
	} {
		if _, err := New(bad, Options{}); err == nil {
			t.Errorf("New(%+v) gave no error", bad)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	h := newHarness(t, Config{Poll: 5 * time.Second}, func(s *fakeSys) { s.set(StampFile, stampFile(3)) })
	h.expect("polled")
	h.sys.set(dpkgStatus, fakeFile{id: statusID})
	h.tick()
	h.expect("poll", "polled", "dropped")
	var d interface {
		Name() string
		Run(context.Context) error
		Status() any
	} = h.w
	if d.Name() != "tree" {
		t.Fatalf("name %q", d.Name())
	}
	b, err := json.Marshal(d.Status())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"root", "poll_seconds", "generation", "changes", "last_change", "last_drop_ms", "nfs_blocked", "polls"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status has no %q: %s", k, b)
		}
	}
	want := `{"root":"/ro","poll_seconds":5,"generation":{"counter":3,"time":"2026-12-01T10:00:00Z"},"changes":1,` +
		`"last_change":{"time":"2026-12-01T10:00:05Z","file":"var/lib/dpkg/status"},"last_drop_ms":3,"nfs_blocked":false,"polls":2}`
	if string(b) != want {
		t.Fatalf("status\n%s\nwant\n%s", b, want)
	}
}
