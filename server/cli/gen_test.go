package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/server/runner"
)

func TestGenCommands(t *testing.T) {
	h := newHarness(t, 0)
	os.MkdirAll(h.dir+"/tree/usr/bin", 0o755)
	h.fr.Respond = func(c runner.Cmd) (string, error) {
		if c.Args[0] == "mksquashfs" && !h.a.dryRun { // in dry-run mode, runner.Exec runs nothing
			return "", os.WriteFile(c.Args[2], make([]byte, 4096), 0o644)
		}
		return "", nil
	}
	if rc := h.run("gen", "list"); rc != 0 || !strings.Contains(h.stdout.String(), "no generation") {
		t.Errorf("empty list: %d %s %s", rc, h.stdout.String(), h.stderr.String())
	}
	// --dry-run: needs no root, writes nothing.
	h.a.euid = func() int { return 1000 }
	if rc := h.run("--dry-run", "gen", "publish"); rc != 0 || !strings.Contains(h.stderr.String(), "would publish generation 1") {
		t.Fatalf("dry run: %d %s", rc, h.stderr.String())
	}
	if _, err := os.Stat(h.dir + "/state/generations.json"); err == nil {
		t.Error("dry run wrote the state")
	}
	if rc := h.run("gen", "publish"); rc != 1 || !strings.Contains(h.stderr.String(), "sidus gen publish must run as root") {
		t.Errorf("not root: %d %s", rc, h.stderr.String())
	}
	h.a.euid = func() int { return 0 }
	h.fr.Calls = nil
	for range 3 {
		if rc := h.run("gen", "publish"); rc != 0 {
			t.Fatal(h.stderr.String())
		}
	}
	if len(h.fr.Calls) != 3 || h.fr.Calls[0].Args[0] != "mksquashfs" {
		t.Errorf("commands %v", h.fr.Lines())
	}
	if rc := h.run("gen", "publish", "--backend", "rbd"); rc != 1 || !strings.Contains(h.stderr.String(), "backend rbd: generations.rbd_pool: missing") {
		t.Errorf("rbd without pool: %d %s", rc, h.stderr.String())
	}
	if rc := h.run("gen", "rollback"); rc != 0 {
		t.Fatal(h.stderr.String())
	}
	if rc := h.run("gen", "list"); rc != 0 {
		t.Fatal(h.stderr.String())
	}
	out := h.stdout.String()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if f := strings.Fields(lines[2]); len(lines) != 4 || !strings.HasPrefix(lines[0], "   GEN  CREATED  ") || len(f) != 8 ||
		strings.Join(append(f[:2:2], f[3:]...), " ") != "* 2 nfs "+h.dir+"/tree/var/lib/sidus/generations/gen-0002.squashfs 4K - 0" ||
		strings.HasPrefix(lines[1], "*") || strings.HasPrefix(lines[3], "*") {
		t.Errorf("list:\n%s", out)
	}
	if rc := h.run("gen", "rollback", "--to", "3"); rc != 0 {
		t.Fatal(h.stderr.String())
	}
	if b, _ := os.ReadFile(h.dir + "/tftp/pxelinux.cfg/default"); !strings.Contains(string(b), " sidus.image=var/lib/sidus/generations/gen-0003.squashfs\n") {
		t.Errorf("default:\n%s", b)
	}
	if rc := h.run("gen", "prune", "--keep", "1"); rc != 0 {
		t.Fatal(h.stderr.String())
	}
	if rc := h.run("gen", "list"); rc != 0 || strings.Count(h.stdout.String(), "\n") != 2 {
		t.Errorf("after prune:\n%s", h.stdout.String())
	}
}
