package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeepTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if got := KeepTail("# new\n", p); got != "# new\n" {
		t.Errorf("no file: %q", got)
	}
	if err := os.WriteFile(p, []byte("# old\ntable\n\n"+KeptMarker+"\n## Live tree\nnumbers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := KeepTail("# new\nrows\n", p)
	if want := "# new\nrows\n\n" + KeptMarker + "\n## Live tree\nnumbers\n"; got != want {
		t.Errorf("KeepTail = %q, want %q", got, want)
	}
	if strings.Contains(got, "# old") {
		t.Errorf("the old report is kept")
	}
}
