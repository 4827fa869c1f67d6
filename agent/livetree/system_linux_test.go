package livetree

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestKernelStatOpen runs the real seam on a local directory: what dpkg
// does to its status, as the fstat of an open descriptor sees it.
func TestKernelStatOpen(t *testing.T) {
	sys := DefaultSystem()
	dir := t.TempDir()
	p := filepath.Join(dir, "status")
	if _, _, err := sys.StatOpen(p, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, _, err := sys.StatOpen(filepath.Join(dir, "status", "x"), 0); err == nil {
		t.Fatal("a path through a missing directory opened")
	}
	if err := os.WriteFile(p, []byte("Package: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b, err := sys.StatOpen(p, 0)
	if err != nil || b != nil {
		t.Fatalf("%v %q", err, b)
	}
	if a.Ino == 0 || a.Size != 11 || a.MtimeNS == 0 || a.CtimeNS == 0 {
		t.Fatalf("FileID %+v", a)
	}
	// In place, same size: the mtime moves.
	mt := time.Unix(0, a.MtimeNS).Add(time.Second)
	if err := os.WriteFile(p, []byte("Package: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	c, _, err := sys.StatOpen(p, 0)
	if err != nil || c.Ino != a.Ino || c.MtimeNS == a.MtimeNS {
		t.Fatalf("in place: %+v then %+v (%v)", a, c, err)
	}
	// Renamed over, as dpkg does (status-new, link to status-old): a new
	// inode, while the old one lives on.
	tmp := filepath.Join(dir, "status-new")
	if err := os.WriteFile(tmp, []byte("Package: c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p, filepath.Join(dir, "status-old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	d, _, err := sys.StatOpen(p, 0)
	if err != nil || d.Ino == c.Ino {
		t.Fatalf("rename over: %+v then %+v (%v)", c, d, err)
	}
	// The stamp's prefix.
	if err := os.WriteFile(p, []byte(FormatStamp(4, t0)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, b, err = sys.StatOpen(p, 3)
	if err != nil || string(b) != "4 2" {
		t.Fatalf("read %q (%v)", b, err)
	}
	_, b, err = sys.StatOpen(p, maxStamp)
	if g, perr := ParseStamp(b); err != nil || perr != nil || g.Counter != 4 {
		t.Fatalf("stamp %q: %v %v", b, err, perr)
	}
	// A directory or a FIFO in the file's place neither blocks nor is read.
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err == nil {
		if _, b, err := sys.StatOpen(fifo, maxStamp); err != nil || b != nil {
			t.Fatalf("fifo: %q %v", b, err)
		}
	}
	if _, b, err := sys.StatOpen(dir, maxStamp); err != nil || b != nil {
		t.Fatalf("directory: %q %v", b, err)
	}
}

func mkfifo(p string) error { return unix.Mkfifo(p, 0o644) }
