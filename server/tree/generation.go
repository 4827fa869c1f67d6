package tree

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sidus-go/sidus/server/files"
)

// GenerationFile is the tree's generation stamp, relative to the tree: one
// line "<decimal counter> <RFC3339 UTC time>\n", written atomically. It is
// a contract with the node agent, which watches it to learn that the
// shared tree changed: do not change its place or form.
const GenerationFile = "var/lib/sidus/generation"

// ReadGeneration returns the tree's generation counter and when it was
// stamped; a tree never stamped is generation 0 (zero time, no error).
func ReadGeneration(treeRoot string) (int, time.Time, error) {
	p := filepath.Join(treeRoot, GenerationFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("generation stamp: %w", err)
	}
	n, t, err := ParseGeneration(string(b))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("generation stamp %s: %w; fix or remove the file (the next bump then starts from 1)", p, err)
	}
	return n, t, nil
}

// ParseGeneration parses the stamp's line, as leniently as the node
// agent (agent/livetree.ParseStamp) does: blanks around the two fields
// and a missing final newline are accepted (an administrator may write
// the file by hand); what sidus writes is always FormatGeneration's form.
func ParseGeneration(s string) (int, time.Time, error) {
	line, rest, _ := strings.Cut(s, "\n")
	if strings.TrimSpace(rest) != "" {
		return 0, time.Time{}, fmt.Errorf("%q: more than one line; want \"<counter> <RFC3339 UTC time>\"", s)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		return 0, time.Time{}, fmt.Errorf("%q: want \"<counter> <RFC3339 UTC time>\"", line)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 {
		return 0, time.Time{}, fmt.Errorf("counter %q: want a decimal number", f[0])
	}
	t, err := time.Parse(time.RFC3339, f[1])
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("time %q: want RFC3339 UTC: %w", f[1], err)
	}
	return n, t.UTC(), nil
}

// FormatGeneration is the stamp's content for counter n at t.
func FormatGeneration(n int, t time.Time) string {
	return strconv.Itoa(n) + " " + t.UTC().Format(time.RFC3339) + "\n"
}

// BumpGeneration increments the tree's generation counter, stamps it with
// now and returns the new counter. The file is replaced atomically (a
// temp file in the same directory, then a rename), so the agent never
// reads half a line.
func BumpGeneration(treeRoot string, now time.Time) (int, error) {
	n, _, err := ReadGeneration(treeRoot)
	if err != nil {
		return 0, err
	}
	n++
	if err := files.WriteAtomic(filepath.Join(treeRoot, GenerationFile), []byte(FormatGeneration(n, now)), 0o644); err != nil {
		return 0, fmt.Errorf("bump generation of %s: %w", treeRoot, err)
	}
	return n, nil
}
