package tree

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestBumpGeneration(t *testing.T) {
	root := t.TempDir()
	if n, ts, err := ReadGeneration(root); err != nil || n != 0 || !ts.IsZero() {
		t.Fatalf("ReadGeneration(new) = %d, %v, %v", n, ts, err)
	}
	t1 := time.Date(2026, 12, 1, 13, 4, 5, 999, time.FixedZone("CET", 3600))
	for want := 1; want <= 3; want++ {
		n, err := BumpGeneration(root, t1)
		if err != nil || n != want {
			t.Fatalf("BumpGeneration = %d, %v; want %d", n, err, want)
		}
	}
	b, _ := os.ReadFile(filepath.Join(root, GenerationFile))
	if string(b) != "3 2026-12-01T12:04:05Z\n" {
		t.Errorf("stamp = %q", b)
	}
	n, ts, err := ReadGeneration(root)
	if err != nil || n != 3 || !ts.Equal(t1.Truncate(time.Second)) {
		t.Errorf("ReadGeneration = %d, %v, %v", n, ts, err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "var/lib/sidus"))
	if len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
}

func TestParseGeneration(t *testing.T) {
	for _, tc := range []struct {
		in string
		n  int
		ok bool
	}{
		{"7 2026-01-02T03:04:05Z\n", 7, true},
		{"0 2026-01-02T03:04:05Z\n", 0, true},
		{"7 2026-01-02T03:04:05Z", 7, true},
		{" 7  2026-01-02T03:04:05Z \n\n", 7, true},
		{"07 2026-01-02T03:04:05+01:00\n", 7, true},
		{"\n", 0, false},
		{"-1 2026-01-02T03:04:05Z\n", 0, false},
		{"x 2026-01-02T03:04:05Z\n", 0, false},
		{"7 yesterday\n", 0, false},
		{"7 2026-01-02T03:04:05Z\n8 2026-01-02T03:04:05Z\n", 0, false},
	} {
		n, _, err := ParseGeneration(tc.in)
		if (err == nil) != tc.ok || n != tc.n {
			t.Errorf("ParseGeneration(%q) = %d, %v", tc.in, n, err)
		}
	}
}
