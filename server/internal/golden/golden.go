// Package golden compares generated files with testdata/NAME; `go test
// -update` rewrites them.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/server/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Check compares got with testdata/name.
func Check(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// Config parses a test configuration on 192.168.1.0/24: extra's
// top-level keys (before its first [section]) then its sections.
func Config(t testing.TB, extra string) *config.Config {
	t.Helper()
	top, sections := extra, ""
	if i := strings.Index(extra, "["); i >= 0 {
		top, sections = extra[:i], extra[i:]
	}
	c, err := config.Parse(strings.NewReader(top + "[network]\ncidr = \"192.168.1.0/24\"\nserver_ip = \"192.168.1.1\"\n" + sections))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
