package kernel

import (
	"os"
	"testing"
	"time"

	"github.com/sidus-go/sidus/qemu"
)

func TestParseDepends(t *testing.T) {
	for _, tc := range []struct {
		name, out, want string
	}{
		{"linux-image-cloud-amd64", "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n", "linux-image-6.1.0-56-cloud-amd64"},
		{"linux-image-amd64", "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n  Depends: firmware-linux-free\n", "linux-image-6.1.0-56-amd64"},
		{"linux-image-6.1.0-56-amd64", "linux-image-6.1.0-56-amd64\n  Depends: kmod\n  Depends: linux-base\n", "linux-image-6.1.0-56-amd64"},
		{"linux-image-amd64", "linux-image-amd64\n  Depends: <linux-image-6.1.0-56-amd64-unsigned>\n", "linux-image-amd64"},
	} {
		if got := parseDepends(tc.name, []byte(tc.out)); got != tc.want {
			t.Errorf("parseDepends(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestDefault downloads (first time) and checks the cached kernel. With
// SIDUS_CACHE pointing at an empty folder it tests the from-scratch path.
func TestDefault(t *testing.T) {
	qemu.Require(t)
	start := time.Now()
	k, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %+v in %v", *k, time.Since(start))
	for _, f := range []string{k.Vmlinuz, k.ModulesDir + "/modules.dep", k.ModulesDir + "/kernel/fs/nfs/nfsv4.ko"} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	// Second call: from the cache, fast.
	start = time.Now()
	if _, err := fetch(DefaultPackage); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cached kernel lookup took %v", d)
	}
}
