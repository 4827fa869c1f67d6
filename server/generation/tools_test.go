package generation

import (
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/server/runner"
)

// TestRealTools builds a verity generation of a small tree with the real
// mksquashfs and veritysetup (skipped when they are not installed): the
// image leaves out the generations' directory, and veritysetup verify
// accepts the hash tree at the recorded offset with the recorded hash.
func TestRealTools(t *testing.T) {
	for _, p := range []string{"mksquashfs", "unsquashfs", "veritysetup"} {
		if _, err := runner.LookPath(p); err != nil {
			t.Skip(err)
		}
	}
	e := newEnv(t, "verity = true\n")
	os.WriteFile(filepath.Join(e.d, "tree/usr/bin/hello"), []byte(strings.Repeat("hello\n", 3000)), 0o755)
	os.MkdirAll(filepath.Join(e.d, "tree/var/lib/sidus/generations"), 0o755)
	os.WriteFile(filepath.Join(e.d, "tree/var/lib/sidus/generations/stale"), []byte("not in the image"), 0o644)
	o := e.opts()
	o.Runner = &runner.Exec{}
	g, err := Publish(context.Background(), e.c, o)
	if err != nil {
		t.Fatal(err)
	}
	if g.RootHash == "" || g.HashOffset%BlockSize != 0 || g.Size <= g.HashOffset {
		t.Fatalf("generation %+v", g)
	}
	out, err := exec.Command("unsquashfs", "-l", g.Location).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "squashfs-root/usr/bin/hello") || !strings.Contains(string(out), "var/lib/sidus/generation\n") || strings.Contains(string(out), "generations") {
		t.Errorf("image content:\n%s", out)
	}
	// The node finds the hash tree where the squashfs ends, rounded up
	// to 4096: its superblock's bytes_used (le64 at offset 40).
	img, _ := os.ReadFile(g.Location)
	if used := int64(binary.LittleEndian.Uint64(img[40:48])); Padded(used) != g.HashOffset {
		t.Errorf("squashfs bytes_used %d: padded %d, hash offset %d", used, Padded(used), g.HashOffset)
	}
	off := strconv.FormatInt(g.HashOffset, 10)
	if out, err := exec.Command("veritysetup", "verify", "--hash-offset="+off, g.Location, g.Location, g.RootHash).CombinedOutput(); err != nil {
		t.Errorf("veritysetup verify: %v\n%s", err, out)
	}
	bad := strings.Repeat("0", len(g.RootHash))
	if err := exec.Command("veritysetup", "verify", "--hash-offset="+off, g.Location, g.Location, bad).Run(); err == nil {
		t.Error("veritysetup verify accepts a wrong root hash")
	}
}
