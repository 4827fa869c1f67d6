package livetree

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StampFile is the tree's generation stamp, relative to its root. It is a
// contract with the server side ("sidus tree run" bumps it, the README
// tells admins to touch it): one line, "<decimal counter> <RFC3339 UTC
// time>\n" (FormatStamp). A tree that was never stamped has no such file.
const StampFile = "var/lib/sidus/generation"

// maxStamp bounds what a poll reads of StampFile.
const maxStamp = 128

// Generation is a parsed stamp.
type Generation struct {
	Counter uint64    `json:"counter"`
	Time    time.Time `json:"time"`
}

func (g Generation) String() string {
	return fmt.Sprintf("generation %d of %s", g.Counter, g.Time.UTC().Format(time.RFC3339))
}

// FormatStamp is the content of StampFile for generation counter, made at t.
func FormatStamp(counter uint64, t time.Time) string {
	return fmt.Sprintf("%d %s\n", counter, t.UTC().Format(time.RFC3339))
}

// ParseStamp reads StampFile's content (see FormatStamp).
func ParseStamp(b []byte) (Generation, error) {
	s := string(b)
	line, rest, _ := strings.Cut(s, "\n")
	if strings.TrimSpace(rest) != "" {
		return Generation{}, fmt.Errorf("%s holds more than one line; want %q", StampFile, "<counter> <RFC3339 time>")
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		return Generation{}, fmt.Errorf("%s holds %q; want %q", StampFile, strings.TrimSpace(line), "<counter> <RFC3339 time>")
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return Generation{}, fmt.Errorf("%s: counter %q is not a decimal number", StampFile, f[0])
	}
	t, err := time.Parse(time.RFC3339, f[1])
	if err != nil {
		return Generation{}, fmt.Errorf("%s: time %q is not RFC3339 (2006-01-02T15:04:05Z)", StampFile, f[1])
	}
	return Generation{Counter: n, Time: t.UTC()}, nil
}
