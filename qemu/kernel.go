package qemu

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// DefaultKernelPackage is the Debian package Kernel follows: the cloud
// kernel has virtio, NFS, overlay and iSCSI as modules.
const DefaultKernelPackage = "linux-image-cloud-amd64"

// KernelInfo is an unpacked Debian kernel package.
type KernelInfo struct {
	Package string // versioned package, e.g. linux-image-6.1.0-56-cloud-amd64
	Version string // uname -r, e.g. 6.1.0-56-cloud-amd64
	Vmlinuz string // BaseDir/boot/vmlinuz-Version
	BaseDir string // dpkg -x root; depmod -b has been run on it
	// ModulesDir is BaseDir/lib/modules/Version.
	ModulesDir string
}

// CacheDir is where kernels are kept: $SIDUS_CACHE, else /var/cache/sidus-go.
func CacheDir() string {
	if d := os.Getenv("SIDUS_CACHE"); d != "" {
		return d
	}
	return "/var/cache/sidus-go"
}

var (
	kernelMu    sync.Mutex
	kernelCache = map[string]*KernelInfo{}
)

// Kernel returns the cached linux-image-cloud-amd64 kernel, downloading
// and unpacking it first if needed.
func Kernel() (*KernelInfo, error) { return KernelPackage(DefaultKernelPackage) }

// KernelPackage returns the kernel of the Debian package name, which may be
// a meta package (linux-image-amd64) or a versioned one
// (linux-image-6.1.0-56-cloud-amd64). The first call downloads it with
// apt-get download into CacheDir()/kernels, unpacks it with dpkg -x and runs
// depmod -b on it; later calls, and other processes, reuse that tree. An
// flock on CacheDir()/.lock keeps parallel test binaries from racing.
func KernelPackage(name string) (*KernelInfo, error) {
	kernelMu.Lock()
	defer kernelMu.Unlock()
	if k, ok := kernelCache[name]; ok {
		return k, nil
	}
	k, err := kernelPackage(name)
	if err != nil {
		return nil, fmt.Errorf("kernel package %s: %w", name, err)
	}
	kernelCache[name] = k
	return k, nil
}

func kernelPackage(name string) (*KernelInfo, error) {
	cache := CacheDir()
	if err := os.MkdirAll(filepath.Join(cache, "kernels"), 0o755); err != nil {
		return nil, err
	}
	unlock, err := flock(filepath.Join(cache, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	pkg, err := resolveKernelPackage(name)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "kernels", pkg)
	root := filepath.Join(dir, "root")
	done := filepath.Join(dir, "done")
	if _, err := os.Stat(done); err == nil {
		return kernelInfo(pkg, root)
	}

	// From scratch: download, unpack, depmod, then mark done.
	os.RemoveAll(dir)
	dl := filepath.Join(dir, "deb")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return nil, err
	}
	// apt-get download drops to the _apt user; let it write here.
	os.Chmod(dl, 0o777)
	if _, err := run(dl, "apt-get", "download", pkg); err != nil {
		return nil, err
	}
	debs, _ := filepath.Glob(filepath.Join(dl, pkg+"_*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("apt-get download %s left %d .deb files in %s", pkg, len(debs), dl)
	}
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	if _, err := run("", "dpkg", "-x", debs[0], tmp); err != nil {
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
	if _, err := run("", "depmod", "-b", tmp, ver); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, root); err != nil {
		return nil, err
	}
	if err := os.WriteFile(done, []byte(debs[0]+"\n"), 0o644); err != nil {
		return nil, err
	}
	return kernelInfo(pkg, root)
}

func kernelInfo(pkg, root string) (*KernelInfo, error) {
	ver, err := moduleVersion(root)
	if err != nil {
		return nil, err
	}
	k := &KernelInfo{
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

// resolveKernelPackage follows a meta package (linux-image-cloud-amd64) to
// the versioned package it depends on. A versioned name comes back as is.
func resolveKernelPackage(name string) (string, error) {
	out, err := run("", "apt-cache", "depends", "--no-recommends", "--no-suggests", name)
	if err != nil {
		// Fresh machine: no package lists yet.
		if _, uerr := run("", "apt-get", "update"); uerr != nil {
			return "", fmt.Errorf("%w (and apt-get update failed: %v)", err, uerr)
		}
		if out, err = run("", "apt-cache", "depends", "--no-recommends", "--no-suggests", name); err != nil {
			return "", err
		}
	}
	return parseKernelDepends(name, out), nil
}

// parseKernelDepends picks, from apt-cache depends output, the versioned
// linux-image package that name depends on, or name itself.
func parseKernelDepends(name string, out []byte) string {
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

func flock(path string) (func(), error) { return flockWait(path, nil) }

// flockWait is flock that calls waiting once if another process holds the
// lock, so a command can say why it is not progressing.
func flockWait(path string, waiting func()) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == syscall.EWOULDBLOCK && waiting != nil {
		waiting()
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// run runs a host command and returns its stdout; the error carries stderr.
func run(dir string, argv ...string) ([]byte, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Modules returns the .ko files (absolute paths) that loading names needs,
// dependencies first and without duplicates, from modprobe --show-depends
// on BaseDir. Modules built into the kernel are left out.
func (k *KernelInfo) Modules(names ...string) ([]string, error) {
	seen := map[string]bool{}
	var kos []string
	for _, n := range names {
		out, err := run("", "modprobe", "-d", k.BaseDir, "-S", k.Version, "--show-depends", n)
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
