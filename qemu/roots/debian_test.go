package roots

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/qemu"
)

func TestMirrorFromDeb822(t *testing.T) {
	src := `Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
`
	for _, tc := range []struct{ text, suite, want string }{
		{src, "bookworm", "http://mirror.example/debian"},
		{src, "bookworm-security", "http://mirror.example/debian-security"},
		{src, "trixie", ""},
		{"Types: deb-src\nURIs: http://a/\nSuites: bookworm\n\nTypes: deb\nURIs: http://b/ http://c/\nSuites: bookworm\n", "bookworm", "http://b/"},
		{"Enabled: no\nTypes: deb\nURIs: http://a/\nSuites: bookworm\n", "bookworm", ""},
		{"Types: deb\nURIs:\n http://cont/\nSuites: bookworm\n", "bookworm", "http://cont/"},
	} {
		if got := MirrorFromDeb822(tc.text, tc.suite); got != tc.want {
			t.Errorf("MirrorFromDeb822(%q, %s) = %q, want %q", tc.text, tc.suite, got, tc.want)
		}
	}
}

func TestMirrorFromList(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"deb http://m/debian bookworm main\n", "http://m/debian"},
		{"# deb http://old/ bookworm main\ndeb-src http://src/ bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://opt/ bookworm main contrib\n", "http://opt/"},
		{"deb http://sec/ bookworm-security main\n", ""},
		{"deb [ trusted=yes ] http://sp/ bookworm main\n", "http://sp/"},
		{"", ""},
	} {
		if got := MirrorFromList(tc.text, "bookworm"); got != tc.want {
			t.Errorf("MirrorFromList(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestDebRootHash(t *testing.T) {
	a := debRootHash("bookworm", []string{"a", "b"})
	if a != debRootHash("bookworm", []string{"a", "b"}) || a == debRootHash("bookworm", []string{"a", "c"}) ||
		a == debRootHash("trixie", []string{"a", "b"}) || len(a) != 12 {
		t.Errorf("debRootHash is not a stable short hash of suite and packages: %s", a)
	}
	if got := dedup([]string{"", "a", "a", "b"}); strings.Join(got, ",") != "a,b" {
		t.Errorf("dedup = %v", got)
	}
}

// TestFitDebianRoot fits a fake debootstrapped tree and checks the files
// the boot tests rely on.
func TestFitDebianRoot(t *testing.T) {
	dir := t.TempDir()
	for p, data := range map[string]string{
		"etc/shadow":      "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
		"etc/resolv.conf": "nameserver 10.9.9.9\n",
		"etc/hostname":    "buildhost\n",
		"etc/machine-id":  "0123456789abcdef0123456789abcdef\n",
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := fitDebianRoot(dir); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) string { b, _ := os.ReadFile(filepath.Join(dir, p)); return string(b) }
	if read("etc/hostname") != "" || read("etc/machine-id") != "" {
		t.Errorf("hostname %q, machine-id %q: want both empty", read("etc/hostname"), read("etc/machine-id"))
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/resolv.conf")); err == nil {
		t.Errorf("the build host's resolv.conf is still in the tree")
	}
	if !strings.HasPrefix(read("etc/shadow"), "root::") || !strings.Contains(read("etc/shadow"), "daemon:*:") {
		t.Errorf("shadow: %q", read("etc/shadow"))
	}
	if l, _ := os.Readlink(filepath.Join(dir, "etc/systemd/system/multi-user.target.wants/sidus-report.service")); l != "/etc/systemd/system/sidus-report.service" {
		t.Errorf("sidus-report.service is not enabled: %q", l)
	}
	if fi, err := os.Stat(filepath.Join(dir, "usr/local/sbin/sidus-report")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("sidus-report: %v %v", fi, err)
	}
	f := read("etc/fstab")
	if !strings.Contains(f, " / ext4 ") || !strings.Contains(f, " swap ") {
		t.Errorf("fstab lacks the / and swap lines the init must filter:\n%s", f)
	}
}

// TestDebianReportScriptSyntax checks the report script with sh -n.
func TestDebianReportScriptSyntax(t *testing.T) { shSyntax(t, DebianReportScript) }

// TestDebian builds (or finds cached) the Debian root; only with
// SIDUS_E2E=1, since the first build runs debootstrap for minutes.
func TestDebian(t *testing.T) {
	if !qemu.E2E() {
		t.Skip("set SIDUS_E2E=1 to debootstrap the Debian test root")
	}
	dir, err := Debian()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sbin/init", "lib/systemd/systemd", "usr/local/sbin/sidus-report", "bin/ip", "sbin/ifup"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	out, _ := exec.Command("du", "-sh", dir).Output()
	t.Logf("Debian root %s: %s", dir, strings.TrimSpace(string(out)))
}
