package files

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriterIdempotentAndDryRun(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f")
	var log bytes.Buffer
	dry := &Writer{DryRun: true, Log: &log}
	if c, err := dry.Write(p, []byte("x\n"), 0o644); err != nil || !c {
		t.Fatalf("dry Write = %v, %v", c, err)
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("dry run wrote the file")
	}
	if !strings.Contains(log.String(), "would write "+p) {
		t.Errorf("log = %q", log.String())
	}
	w := &Writer{}
	if c, err := w.Write(p, []byte("x\n"), 0o644); err != nil || !c {
		t.Fatalf("Write = %v, %v", c, err)
	}
	if c, err := w.Write(p, []byte("x\n"), 0o644); err != nil || c {
		t.Fatalf("second Write = %v, %v; want unchanged", c, err)
	}
	if c, err := w.Write(p, []byte("x\n"), 0o600); err != nil || !c {
		t.Fatalf("mode change Write = %v, %v", c, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
}

func TestTxnRollback(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("old"), 0o644)
	// c's directory is a file: the write fails after a was written.
	os.WriteFile(filepath.Join(dir, "blocker"), nil, 0o644)
	tx := Txn{W: &Writer{}}
	tx.Write(a, []byte("new"), 0o644)
	tx.Write(b, []byte("new"), 0o644)
	tx.Write(filepath.Join(dir, "blocker", "c"), []byte("new"), 0o644)
	if _, err := tx.Commit(); err == nil {
		t.Fatal("Commit succeeded")
	}
	if got, _ := os.ReadFile(a); string(got) != "old" {
		t.Errorf("a = %q, want restored", got)
	}
	if _, err := os.Stat(b); err == nil {
		t.Error("b left behind")
	}
}
