package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/runner"
)

type harness struct {
	a              *app
	fr             *runner.Fake
	stdout, stderr bytes.Buffer
	dir, conf      string
}

func newHarness(t *testing.T, euid int) *harness {
	h := &harness{fr: &runner.Fake{}, dir: t.TempDir()}
	h.conf = filepath.Join(h.dir, "sidus.toml")
	d := h.dir
	os.WriteFile(h.conf, []byte(`tree = "`+d+`/tree"
state_dir = "`+d+`/state"
[network]
cidr = "10.5.0.0/16"
server_ip = "10.5.0.1"
[tftp]
root = "`+d+`/tftp"
[dhcp]
server = "dnsmasq"
hosts = "`+d+`/hosts"
dnsmasq_conf = "`+d+`/dnsmasq.conf"
leases = "`+d+`/leases"
[nfs]
exports = "`+d+`/sidus.exports"
[iscsi]
tgt_conf_dir = "`+d+`/tgt"
lun_dir = "`+d+`/lun"
`), 0o644)
	h.a = &app{stdin: strings.NewReader(""), stdout: &h.stdout, stderr: &h.stderr,
		euid: func() int { return euid }, newRunner: func() runner.Runner { return h.fr }}
	return h
}

func (h *harness) run(args ...string) int {
	h.stdout.Reset()
	h.stderr.Reset()
	h.a.cfg = nil
	h.a.dryRun, h.a.quiet = false, false
	return h.a.run(context.Background(), append([]string{"--config", h.conf}, args...))
}

func TestExampleConfigParses(t *testing.T) {
	h := newHarness(t, 0)
	if rc := h.run("config", "example"); rc != 0 {
		t.Fatal(h.stderr.String())
	}
	if _, err := config.Parse(strings.NewReader(h.stdout.String())); err != nil {
		t.Error(err)
	}
	if rc := h.run("config", "show"); rc != 0 || !strings.Contains(h.stdout.String(), `server = "dnsmasq"`) {
		t.Errorf("config show: %d %s %s", rc, h.stdout.String(), h.stderr.String())
	}
}

func TestNotRoot(t *testing.T) {
	h := newHarness(t, 1000)
	rc := h.run("node", "add", "n1", "--mac", "52:54:00:00:00:01", "--ip", "10.5.0.21")
	if rc == 0 || !strings.Contains(h.stderr.String(), "sidus node add must run as root") {
		t.Errorf("rc %d, stderr %s", rc, h.stderr.String())
	}
	// --dry-run needs no root, and writes nothing.
	if rc := h.run("--dry-run", "node", "add", "n1", "--mac", "52:54:00:00:00:01", "--ip", "10.5.0.21"); rc != 0 {
		t.Fatalf("dry run: %s", h.stderr.String())
	}
	if !strings.Contains(h.stderr.String(), "would write "+h.dir+"/hosts") {
		t.Errorf("dry run said:\n%s", h.stderr.String())
	}
	if _, err := os.Stat(h.dir + "/hosts"); err == nil {
		t.Error("dry run wrote the hosts file")
	}
}

func TestNodeCommands(t *testing.T) {
	h := newHarness(t, 0)
	if rc := h.run("node", "add", "n1", "--mac", "52:54:00:00:00:01", "--ip", "10.5.0.21"); rc != 0 {
		t.Fatal(h.stderr.String())
	}
	if rc := h.run("node", "add", "n2", "--mac", "52:54:00:00:00:01", "--ip", "10.5.0.22"); rc != 1 || !strings.Contains(h.stderr.String(), "already used by another node, n1") {
		t.Errorf("duplicate MAC: %d %s", rc, h.stderr.String())
	}
	if rc := h.run("node", "add", "n2", "--mac", "52:54:00:00:00:02", "--ip", "10.6.0.22"); rc != 1 || !strings.Contains(h.stderr.String(), "outside the node network 10.5.0.0/16") {
		t.Errorf("IP outside: %d %s", rc, h.stderr.String())
	}
	if rc := h.run("node", "add", "n2", "--ip", "10.5.0.22"); rc != 1 || !strings.Contains(h.stderr.String(), `"mac" not set`) {
		t.Errorf("no MAC: %d %s", rc, h.stderr.String())
	}
	if rc := h.run("node", "list"); rc != 0 || !strings.Contains(h.stdout.String(), "n1    52:54:00:00:00:01  10.5.0.21  tmpfs") {
		t.Errorf("list: %d\n%s%s", rc, h.stdout.String(), h.stderr.String())
	}
	if rc := h.run("__complete", "node", "rm", ""); rc != 0 || !strings.Contains(h.stdout.String(), "n1\t10.5.0.21") {
		t.Errorf("completion: %s", h.stdout.String())
	}
	if rc := h.run("node", "rm", "n1"); rc != 0 {
		t.Fatal(h.stderr.String())
	}
	if b, _ := os.ReadFile(h.dir + "/hosts"); strings.Contains(string(b), "52:54") {
		t.Errorf("hosts after rm:\n%s", b)
	}
}

func TestCompletionScripts(t *testing.T) {
	h := newHarness(t, 0)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if rc := h.run("completion", sh); rc != 0 || !strings.Contains(h.stdout.String(), "sidus") {
			t.Errorf("completion %s: %d", sh, rc)
		}
	}
}

func TestBadConfig(t *testing.T) {
	h := newHarness(t, 0)
	os.WriteFile(h.conf, []byte("[network]\ncidr = \"10.5.0.0/16\"\nserver_ip = \"10.6.0.1\"\n"), 0o644)
	if rc := h.run("node", "list"); rc != 1 || !strings.Contains(h.stderr.String(), "network.server_ip = \"10.6.0.1\": want this server's IPv4 address inside network.cidr") {
		t.Errorf("%d %s", rc, h.stderr.String())
	}
	h.a.configPath = ""
	if rc := h.a.run(context.Background(), []string{"--config", h.dir + "/missing.toml", "node", "list"}); rc != 1 || !strings.Contains(h.stderr.String(), "sidus config example") {
		t.Errorf("%d %s", rc, h.stderr.String())
	}
}

// TestTreeRunExitCode runs a real command in a busybox tree (root only)
// and passes its exit status on.
func TestTreeRunExitCode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("no /bin/busybox")
	}
	h := newHarness(t, 0)
	h.a.newRunner = nil
	os.MkdirAll(h.dir+"/tree/bin", 0o755)
	os.WriteFile(h.dir+"/tree/bin/busybox", bb, 0o755)
	os.Symlink("busybox", h.dir+"/tree/bin/sh")
	if rc := h.run("tree", "run", "--", "sh", "-c", "echo hi; exit 3"); rc != 3 || h.stdout.String() != "hi\n" {
		t.Errorf("rc %d, stdout %q, stderr %s", rc, h.stdout.String(), h.stderr.String())
	}
	if rc := h.run("tree", "generation"); rc != 0 || !strings.HasPrefix(h.stdout.String(), "1 ") {
		t.Errorf("generation: %q", h.stdout.String())
	}
}
