package roots

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/internal/osutil"
)

// Trees made by another program than this package (the sidus command's
// `sidus tree create`, in e2e/server_test.go) are cached and fitted here.

var cachedTreeMu sync.Mutex

// CachedTree returns qemu.CacheDir()/NAME-<hash of key>, a tree that build
// made once. build gets a path that does not exist yet and must make the
// tree there (it may create siblings of that path, removed afterwards);
// the finished tree appears by an atomic rename, so a tree in the cache is
// always complete. An flock on qemu.CacheDir()/NAME.lock serialises
// builders across processes, as Debian does. log, if not nil, is told when
// a build starts.
//
// The tree is shared by every caller: copy it (cp -a) before changing it.
func CachedTree(name, key string, build func(dir string) error, log func(format string, args ...any)) (string, error) {
	cachedTreeMu.Lock()
	defer cachedTreeMu.Unlock()
	cache := qemu.CacheDir()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	unlock, err := osutil.FlockWait(filepath.Join(cache, name+".lock"), func() {
		if log != nil {
			log("waiting for another process building %s in %s", name, cache)
		}
	})
	if err != nil {
		return "", err
	}
	defer unlock()

	h := sha256.Sum256([]byte(key))
	dir := filepath.Join(cache, name+"-"+hex.EncodeToString(h[:6]))
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	tmp := dir + ".tmp"
	if err := removeSiblings(tmp); err != nil {
		return "", err
	}
	if log != nil {
		log("building %s (not cached yet)", dir)
	}
	if err := build(tmp); err != nil {
		removeSiblings(tmp)
		return "", err
	}
	if _, err := os.Stat(tmp); err != nil {
		return "", fmt.Errorf("cached tree %s: the build made nothing at %s: %w", name, tmp, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	removeSiblings(tmp)
	return dir, nil
}

// removeSiblings removes p and the p.* files and folders a build left.
func removeSiblings(p string) error {
	m, _ := filepath.Glob(p + ".*")
	for _, q := range append([]string{p}, m...) {
		if err := os.RemoveAll(q); err != nil {
			return err
		}
	}
	return nil
}

// FitDebian fits a Debian tree made elsewhere (by `sidus tree create`) for
// the tests as Debian fits its own root (see fitDebianRoot: the
// sidus-report service and its "SIDUS-DEB:" lines, root autologin on the
// serial console, a journal in RAM, the fstab sidus-init must comment
// out...), except that what the tree's maker chose for etc/resolv.conf and
// etc/hostname stays as it was: sidus writes a static resolv.conf and
// removes hostname.
func FitDebian(dir string) error {
	kept := map[string][]byte{}
	var absent []string
	for _, p := range []string{"etc/resolv.conf", "etc/hostname"} {
		b, err := os.ReadFile(filepath.Join(dir, p))
		switch {
		case err == nil:
			kept[p] = b
		case errors.Is(err, fs.ErrNotExist):
			absent = append(absent, p)
		default:
			return err
		}
	}
	if err := fitDebianRoot(dir); err != nil {
		return fmt.Errorf("fit %s: %w", dir, err)
	}
	for p, b := range kept {
		full := filepath.Join(dir, p)
		os.Remove(full)
		if err := os.WriteFile(full, b, 0o644); err != nil {
			return err
		}
	}
	for _, p := range absent {
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// DebianProfile is a `sidus tree create` profile (TOML) for the tree the
// Debian root is: suite DebianSuite, debootstrap's minbase with
// DebianPackages and extra, and the kernel package given (e.g.
// linux-image-cloud-amd64).
func DebianProfile(kernel string, extra ...string) string {
	pkgs := append(append([]string(nil), DebianPackages...), extra...)
	q := make([]string, len(pkgs))
	for i, p := range pkgs {
		q[i] = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf(`# The tests' SIDUS tree: Debian's minbase with systemd and a kernel.
suite = %q
arch = "amd64"
variant = "minbase"
components = ["main"]
kernel = %q
include = [%s]
`, DebianSuite, kernel, strings.Join(q, ", "))
}
