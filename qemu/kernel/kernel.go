// Package kernel provides the guest kernel of the harness: a Debian kernel
// package fetched with apt-get download and unpacked with dpkg -x into
// qemu.CacheDir()/kernels, with depmod run on the tree. Nothing is
// installed on the host.
package kernel

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/internal/osutil"
)

// DefaultPackage is the Debian package Default follows: the cloud kernel
// has virtio, NFS, overlay and iSCSI as modules.
const DefaultPackage = "linux-image-cloud-amd64"

// Info is an unpacked Debian kernel package.
type Info struct {
	Package string // versioned package, e.g. linux-image-6.1.0-56-cloud-amd64
	Version string // uname -r, e.g. 6.1.0-56-cloud-amd64
	Vmlinuz string // BaseDir/boot/vmlinuz-Version
	BaseDir string // dpkg -x root; depmod -b has been run on it
	// ModulesDir is BaseDir/lib/modules/Version.
	ModulesDir string
}

var (
	mu    sync.Mutex
	cache = map[string]*Info{}
)

// Default returns the cached linux-image-cloud-amd64 kernel, downloading
// and unpacking it first if needed.
func Default() (*Info, error) { return Package(DefaultPackage) }

// Package returns the kernel of the Debian package name, which may be a
// meta package (linux-image-amd64) or a versioned one
// (linux-image-6.1.0-56-cloud-amd64). The first call downloads it with
// apt-get download into qemu.CacheDir()/kernels, unpacks it with dpkg -x
// and runs depmod -b on it; later calls, and other processes, reuse that
// tree. An flock on qemu.CacheDir()/.lock keeps parallel test binaries
// from racing.
func Package(name string) (*Info, error) {
	mu.Lock()
	defer mu.Unlock()
	if k, ok := cache[name]; ok {
		return k, nil
	}
	k, err := fetch(name)
	if err != nil {
		return nil, fmt.Errorf("kernel package %s: %w", name, err)
	}
	cache[name] = k
	return k, nil
}

func fetch(name string) (*Info, error) {
	dir := qemu.CacheDir()
	if err := os.MkdirAll(filepath.Join(dir, "kernels"), 0o755); err != nil {
		return nil, err
	}
	unlock, err := osutil.Flock(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	pkg, err := resolve(name)
	if err != nil {
		return nil, err
	}
	dir = filepath.Join(dir, "kernels", pkg)
	root := filepath.Join(dir, "root")
	done := filepath.Join(dir, "done")
	if _, err := os.Stat(done); err == nil {
		return info(pkg, root)
	}

	// From scratch: download, unpack, depmod, then mark done.
	os.RemoveAll(dir)
	dl := filepath.Join(dir, "deb")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return nil, err
	}
	// apt-get download drops to the _apt user; let it write here.
	os.Chmod(dl, 0o777)
	if _, err := osutil.Run(dl, "apt-get", "download", pkg); err != nil {
		return nil, err
	}
	debs, _ := filepath.Glob(filepath.Join(dl, pkg+"_*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("apt-get download %s left %d .deb files in %s", pkg, len(debs), dl)
	}
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	if _, err := osutil.Run("", "dpkg", "-x", debs[0], tmp); err != nil {
		return nil, err
	}
	// Newer Debian ships /usr/lib/modules only; depmod -b wants lib/modules.
	if _, err := os.Stat(filepath.Join(tmp, "lib", "modules")); os.IsNotExist(err) {
		if _, err := os.Stat(filepath.Join(tmp, "usr", "lib", "modules")); err == nil {
			os.Symlink("usr/lib", filepath.Join(tmp, "lib"))
		}
	}
	ver, err := moduleVersion(tmp)
	if err != nil {
		return nil, err
	}
	if _, err := osutil.Run("", "depmod", "-b", tmp, ver); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, root); err != nil {
		return nil, err
	}
	if err := os.WriteFile(done, []byte(debs[0]+"\n"), 0o644); err != nil {
		return nil, err
	}
	return info(pkg, root)
}

func info(pkg, root string) (*Info, error) {
	ver, err := moduleVersion(root)
	if err != nil {
		return nil, err
	}
	k := &Info{
		Package:    pkg,
		Version:    ver,
		Vmlinuz:    filepath.Join(root, "boot", "vmlinuz-"+ver),
		BaseDir:    root,
		ModulesDir: filepath.Join(root, "lib", "modules", ver),
	}
	if _, err := os.Stat(k.Vmlinuz); err != nil {
		return nil, fmt.Errorf("package %s has no kernel image: %w", pkg, err)
	}
	if _, err := os.Stat(filepath.Join(k.ModulesDir, "modules.dep")); err != nil {
		return nil, fmt.Errorf("depmod did not run on %s: %w", root, err)
	}
	return k, nil
}

func moduleVersion(root string) (string, error) {
	ents, err := os.ReadDir(filepath.Join(root, "lib", "modules"))
	if err != nil {
		return "", err
	}
	var vers []string
	for _, e := range ents {
		if e.IsDir() {
			vers = append(vers, e.Name())
		}
	}
	if len(vers) != 1 {
		return "", fmt.Errorf("%s/lib/modules has %d kernel versions (%v), want 1", root, len(vers), vers)
	}
	return vers[0], nil
}

// resolve follows a meta package (linux-image-cloud-amd64) to the
// versioned package it depends on. A versioned name comes back as is.
func resolve(name string) (string, error) {
	out, err := osutil.Run("", "apt-cache", "depends", "--no-recommends", "--no-suggests", name)
	if err != nil {
		// Fresh machine: no package lists yet.
		if _, uerr := osutil.Run("", "apt-get", "update"); uerr != nil {
			return "", fmt.Errorf("%w (and apt-get update failed: %v)", err, uerr)
		}
		if out, err = osutil.Run("", "apt-cache", "depends", "--no-recommends", "--no-suggests", name); err != nil {
			return "", err
		}
	}
	return parseDepends(name, out), nil
}

// parseDepends picks, from apt-cache depends output, the versioned
// linux-image package that name depends on, or name itself.
func parseDepends(name string, out []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") &&
			len(f[1]) > len("linux-image-") && f[1][len("linux-image-")] >= '0' && f[1][len("linux-image-")] <= '9' {
			return f[1]
		}
	}
	return name
}

// Modules returns the .ko files (absolute paths) that loading names needs,
// dependencies first and without duplicates, from modprobe --show-depends
// on BaseDir. Modules built into the kernel are left out.
func (k *Info) Modules(names ...string) ([]string, error) {
	seen := map[string]bool{}
	var kos []string
	for _, n := range names {
		out, err := osutil.Run("", "modprobe", "-d", k.BaseDir, "-S", k.Version, "--show-depends", n)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "insmod" && !seen[f[1]] {
				seen[f[1]] = true
				kos = append(kos, f[1])
			}
		}
	}
	return kos, nil
}
