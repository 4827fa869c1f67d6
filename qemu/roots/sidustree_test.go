package roots

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sidus-go/sidus/server/tree"
)

// TestDebianProfile: the profile is one `sidus tree create` accepts, with
// Debian's packages and the kernel.
func TestDebianProfile(t *testing.T) {
	p, err := tree.ParseProfile([]byte(DebianProfile("linux-image-cloud-amd64", "hwloc")))
	if err != nil {
		t.Fatal(err)
	}
	if p.Suite != DebianSuite || p.Variant != "minbase" || p.Kernel != "linux-image-cloud-amd64" {
		t.Errorf("profile: %+v", p)
	}
	for _, pkg := range append(append([]string(nil), DebianPackages...), "hwloc", "linux-image-cloud-amd64") {
		if !slices.Contains(p.Packages(), pkg) {
			t.Errorf("profile packages %v lack %s", p.Packages(), pkg)
		}
	}
}

// TestCachedTree: built once per key, complete or not at all.
func TestCachedTree(t *testing.T) {
	t.Setenv("SIDUS_CACHE", t.TempDir())
	builds := 0
	build := func(dir string) error {
		builds++
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dir+".log", []byte("a sibling"), 0o644)
	}
	a, err := CachedTree("t", "k1", build, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := CachedTree("t", "k1", build, t.Logf)
	if err != nil || a != b || builds != 1 {
		t.Errorf("second call: %s %v, %d builds; want %s and 1 build", b, err, builds, a)
	}
	if _, err := os.Stat(filepath.Join(a, "etc")); err != nil {
		t.Error(err)
	}
	if m, _ := filepath.Glob(a + ".*"); len(m) > 0 {
		t.Errorf("leftovers beside the tree: %v", m)
	}
	_, err = CachedTree("t", "k2", func(dir string) error {
		os.MkdirAll(dir, 0o755)
		return errors.New("boom")
	}, nil)
	if err == nil {
		t.Fatal("a failed build returned no error")
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(a), "t-*")); len(m) != 1 {
		t.Errorf("after a failed build the cache has %v, want only %s", m, a)
	}
}

// TestFitDebian: the test files are in, the tree maker's resolv.conf and
// missing hostname stay.
func TestFitDebian(t *testing.T) {
	dir := t.TempDir()
	for p, s := range map[string]string{
		"etc/resolv.conf": "nameserver 192.168.77.1\n",
		"etc/shadow":      "root:*:19000:0:99999:7:::\n",
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := FitDebian(dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc/resolv.conf")); err != nil || string(b) != "nameserver 192.168.77.1\n" {
		t.Errorf("resolv.conf = %q (%v)", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/hostname")); err == nil {
		t.Errorf("FitDebian made an etc/hostname")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "usr/local/sbin/sidus-report")); err != nil || string(b) != DebianReportScript {
		t.Errorf("sidus-report not installed: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/shadow")); string(b) != "root::19000:0:99999:7:::\n" {
		t.Errorf("shadow = %q", b)
	}
}
