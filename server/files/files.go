// Package files writes the server's generated files: atomically (a temp
// file in the same directory, fsync, rename), only when their content
// changes (so commands are idempotent), and, in dry-run mode, not at all:
// each change is reported instead. A Txn stages several files and commits
// them together, or restores what was there.
package files

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteAtomic writes data to path through a temp file in the same
// directory and a rename, so readers see the old or the new file, never
// a part. The directory is created (0755) if missing.
func WriteAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w (is the disk full?)", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	return nil
}

// Same reports whether path holds exactly data with mode's permission bits.
func Same(path string, data []byte, mode fs.FileMode) bool {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != mode.Perm() || st.Size() != int64(len(data)) {
		return false
	}
	old, err := os.ReadFile(path)
	return err == nil && bytes.Equal(old, data)
}

// Writer writes files, or in dry-run mode reports what it would change.
type Writer struct {
	DryRun bool
	// Log gets one line per change ("write PATH", "would write PATH", ...);
	// nil discards them.
	Log io.Writer
}

func (w *Writer) logf(format string, a ...any) {
	if w != nil && w.Log != nil {
		fmt.Fprintf(w.Log, format+"\n", a...)
	}
}

// Verb is "would " in dry-run mode, else "".
func (w *Writer) Verb() string {
	if w != nil && w.DryRun {
		return "would "
	}
	return ""
}

// Write writes data to path unless it already holds it; it reports
// whether the file changed (or would change).
func (w *Writer) Write(path string, data []byte, mode fs.FileMode) (bool, error) {
	if Same(path, data, mode) {
		return false, nil
	}
	what := "write"
	if _, err := os.Lstat(path); err == nil {
		what = "update"
	}
	w.logf("%s%s %s", w.Verb(), what, path)
	if w != nil && w.DryRun {
		return true, nil
	}
	return true, WriteAtomic(path, data, mode)
}

// Remove removes path if it exists; it reports whether it did (or would).
func (w *Writer) Remove(path string) (bool, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	w.logf("%sremove %s", w.Verb(), path)
	if w != nil && w.DryRun {
		return true, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("remove %s: %w", path, err)
	}
	return true, nil
}

// Txn stages writes and removals; Commit applies them all, and if one
// fails puts back every file it had already changed. Nothing touches the
// disk before Commit.
type Txn struct {
	W    *Writer
	ops  []op
	undo []saved
}

type op struct {
	path   string
	data   []byte // nil: remove
	mode   fs.FileMode
	remove bool
}

// Write stages data for path.
func (t *Txn) Write(path string, data []byte, mode fs.FileMode) {
	if data == nil {
		data = []byte{}
	}
	t.ops = append(t.ops, op{path: path, data: data, mode: mode})
}

// Remove stages the removal of path.
func (t *Txn) Remove(path string) { t.ops = append(t.ops, op{path: path, remove: true}) }

// Paths are the staged paths, in order.
func (t *Txn) Paths() []string {
	var p []string
	for _, o := range t.ops {
		p = append(p, o.path)
	}
	return p
}

type saved struct {
	path   string
	data   []byte
	mode   fs.FileMode
	absent bool
}

// Commit applies the staged operations in order and reports how many
// files changed. On error, the files already changed are restored.
func (t *Txn) Commit() (int, error) {
	t.undo = nil
	changed := 0
	rollback := t.Undo
	for _, o := range t.ops {
		s := saved{path: o.path}
		if st, err := os.Lstat(o.path); err == nil && st.Mode().IsRegular() {
			b, err := os.ReadFile(o.path)
			if err != nil {
				rollback()
				return 0, fmt.Errorf("read %s: %w", o.path, err)
			}
			s.data, s.mode = b, st.Mode().Perm()
		} else {
			s.absent = true
		}
		var c bool
		var err error
		if o.remove {
			c, err = t.W.Remove(o.path)
		} else {
			c, err = t.W.Write(o.path, o.data, o.mode)
		}
		if err != nil {
			rollback()
			return 0, err
		}
		if c {
			changed++
			t.undo = append(t.undo, s)
		}
	}
	return changed, nil
}

// Undo puts back the files a successful Commit changed (when a later
// step of the same job fails).
func (t *Txn) Undo() {
	if t.W != nil && t.W.DryRun {
		return
	}
	for i := len(t.undo) - 1; i >= 0; i-- {
		u := t.undo[i]
		if u.absent {
			os.Remove(u.path)
		} else {
			WriteAtomic(u.path, u.data, u.mode)
		}
	}
	t.undo = nil
}
