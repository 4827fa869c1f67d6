package boot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sidus-go/sidus/initramfs/image"
	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/tree"
)

// Options configures Publish and Rollback.
type Options struct {
	// KernelVersion picks a kernel of the tree; "" is the one the tree's
	// /vmlinuz points to, else the newest.
	KernelVersion string
	// ExeDir is where sidus-init is looked for when the config does not
	// name it ("" = the sidus program's directory).
	ExeDir string
	// MTime is the packed files' mtime (SOURCE_DATE_EPOCH); 0 by default.
	MTime  int64
	Log    io.Writer
	DryRun bool
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

// Manifest is sidus-boot.txt in the TFTP root: what the installed pair is.
type Manifest struct {
	Kernel     string // release, e.g. 6.1.0-28-amd64
	Generation int    // the tree's generation when published
	Published  time.Time
}

func (m Manifest) String() string {
	return fmt.Sprintf("kernel=%s\ngeneration=%d\npublished=%s\n", m.Kernel, m.Generation, m.Published.UTC().Format(time.RFC3339))
}

// ReadManifest reads sidus-boot.txt (or its .prev).
func ReadManifest(path string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "kernel":
			m.Kernel = v
		case "generation":
			m.Generation, _ = strconv.Atoi(v)
		case "published":
			m.Published, _ = time.Parse(time.RFC3339, v)
		}
	}
	return m, nil
}

// PickKernel returns the release to publish: want if given (it must be
// installed), else the one the tree's /vmlinuz link names, else the newest.
func PickKernel(root, want string) (string, error) {
	ks, err := tree.Kernels(root)
	if err != nil {
		return "", err
	}
	if len(ks) == 0 {
		return "", fmt.Errorf("tree %s has no kernel (boot/vmlinuz-* with lib/modules/*): install one with `sidus tree run -- apt-get install -y linux-image-amd64`", root)
	}
	has := func(k string) bool {
		for _, x := range ks {
			if x == k {
				return true
			}
		}
		return false
	}
	if want != "" {
		if !has(want) {
			return "", fmt.Errorf("kernel %s is not in the tree %s (it has %s)", want, root, strings.Join(ks, ", "))
		}
		return want, nil
	}
	for _, l := range []string{"vmlinuz", "boot/vmlinuz"} {
		if t, err := os.Readlink(filepath.Join(root, l)); err == nil {
			if k := strings.TrimPrefix(filepath.Base(t), "vmlinuz-"); has(k) {
				return k, nil
			}
		}
	}
	return ks[len(ks)-1], nil
}

// Publish builds initrd.img-Sidus for the tree's kernel and installs it
// with vmlinuz-Sidus into the TFTP root:
//
//   - the initrd is packed by initramfs/image (reproducible: same tree,
//     same bytes) into a temp file next to its final place;
//   - if the kernel and the initrd are those already installed, nothing
//     moves (so publishing twice keeps the real previous pair);
//   - else the installed pair becomes *.prev (hard links: the files never
//     disappear), and the new files are renamed over the old ones, initrd
//     first;
//   - pxelinux.cfg/default and sidus.ipxe are (re)written if they changed.
func Publish(c *config.Config, o Options) error {
	root, err := tree.CheckRoot(c.Tree)
	if err != nil {
		return err
	}
	kver, err := PickKernel(root, o.KernelVersion)
	if err != nil {
		return err
	}
	exeDir := o.ExeDir
	if exeDir == "" {
		if exe, err := os.Executable(); err == nil {
			exeDir = filepath.Dir(exe)
		}
	}
	initPath, agentPath := c.Boot.Init, c.Boot.Agent
	if initPath == "" {
		initPath = filepath.Join(exeDir, "sidus-init")
	}
	if agentPath == "" {
		// sidus-init is also the node agent (by argv[0]): packed once,
		// the image's agent a link to it.
		agentPath = initPath
	}
	if !fileExists(initPath) {
		return fmt.Errorf("sidus-init %s: not found; build it (CGO_ENABLED=0 go build ./cmd/sidus-init) and set boot.init in the config", initPath)
	}
	gen, _, err := tree.ReadGeneration(root)
	if err != nil {
		return err
	}
	tftp := c.TFTP.Root
	if !o.DryRun {
		if err := os.MkdirAll(filepath.Join(tftp, PXEDir), 0o755); err != nil {
			return fmt.Errorf("TFTP root %s: %w", tftp, err)
		}
	}

	kernelSrc := filepath.Join(root, "boot", "vmlinuz-"+kver)
	opts := image.Options{
		BaseDir: root, KernelVersion: kver, Modules: c.Boot.Modules, Compression: c.Boot.Compression,
		Init: initPath, Agent: agentPath, Shell: c.Boot.Shell, MTime: o.MTime, Log: o.Log,
		CephKeyring: c.Generations.NodeKeyring,
	}
	o.logf("packing %s for kernel %s of %s (generation %d)...", InitrdFile, kver, root, gen)
	start := time.Now()
	var w files.Writer
	w.DryRun, w.Log = o.DryRun, o.Log
	if o.DryRun {
		s, err := image.Build(io.Discard, opts)
		if err != nil {
			return packErr(err, root, kver)
		}
		o.logf("would install %s (%d modules, %d bytes) and %s (kernel %s) into %s, keeping the current pair as *%s",
			InitrdFile, len(s.Modules), s.Compressed, KernelFile, kver, tftp, PrevSuffix)
	} else {
		newInitrd, s, err := buildTemp(tftp, opts)
		if err != nil {
			return packErr(err, root, kver)
		}
		defer os.Remove(newInitrd)
		o.logf("packed %d modules, %d firmware files: %d bytes in %.1fs", len(s.Modules), len(s.Firmware), s.Compressed, time.Since(start).Seconds())
		newKernel, err := copyTemp(kernelSrc, tftp, KernelFile)
		if err != nil {
			return err
		}
		defer os.Remove(newKernel)
		ki := filepath.Join(tftp, InitrdFile)
		kk := filepath.Join(tftp, KernelFile)
		if sameFile(newInitrd, ki) && sameFile(newKernel, kk) {
			o.logf("%s and %s are already these: unchanged", KernelFile, InitrdFile)
		} else {
			for _, p := range []string{ki, kk, filepath.Join(tftp, ManifestFile)} {
				if err := keepPrevious(p); err != nil {
					return err
				}
			}
			if err := os.Rename(newInitrd, ki); err != nil {
				return fmt.Errorf("install %s: %w", ki, err)
			}
			if err := os.Rename(newKernel, kk); err != nil {
				return fmt.Errorf("install %s: %w", kk, err)
			}
			m := Manifest{Kernel: kver, Generation: gen, Published: time.Now()}
			if err := files.WriteAtomic(filepath.Join(tftp, ManifestFile), []byte(m.String()), 0o644); err != nil {
				return err
			}
			if fileExists(kk + PrevSuffix) {
				o.logf("installed %s and %s (kernel %s); the previous pair is kept as *%s (sidus boot rollback)", kk, ki, kver, PrevSuffix)
			} else {
				o.logf("installed %s and %s (kernel %s)", kk, ki, kver)
			}
		}
	}
	if !fileExists(filepath.Join(tftp, PXELinux)) {
		o.logf("warning: no %s in %s: install pxelinux and syslinux-common and copy /usr/lib/PXELINUX/pxelinux.0 and /usr/lib/syslinux/modules/bios/ldlinux.c32 there", PXELinux, tftp)
	}
	return WriteConfigs(c, &w)
}

// WriteConfigs writes pxelinux.cfg/default and sidus.ipxe.
func WriteConfigs(c *config.Config, w *files.Writer) error {
	def, err := DefaultConfig(c)
	if err != nil {
		return err
	}
	ipxe, err := IPXEScript(c)
	if err != nil {
		return err
	}
	if _, err := w.Write(filepath.Join(c.TFTP.Root, DefaultFile), []byte(def), 0o644); err != nil {
		return err
	}
	_, err = w.Write(filepath.Join(c.TFTP.Root, IPXEFile), []byte(ipxe), 0o644)
	return err
}

func packErr(err error, root, kver string) error {
	var nf *image.ModuleNotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("pack %s: %w; fix boot.modules in the config", InitrdFile, err)
	}
	return fmt.Errorf("pack %s for %s in %s: %w (does lib/modules/%s have modules.dep? run `sidus tree run -- depmod -a %s`)", InitrdFile, kver, root, err, kver, kver)
}

func buildTemp(dir string, o image.Options) (string, *image.Summary, error) {
	var s *image.Summary
	name, err := writeTemp(dir, InitrdFile, func(w io.Writer) (err error) {
		s, err = image.Build(w, o)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return name, s, nil
}

func copyTemp(src, dir, name string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("kernel: %w", err)
	}
	defer in.Close()
	tmp, err := writeTemp(dir, name, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("copy %s into %s: %w", src, dir, err)
	}
	return tmp, nil
}

// writeTemp fills a new hidden temporary file in dir (mode 0644, synced)
// for a rename over name, and returns its path; on error it is removed.
func writeTemp(dir, name string, fill func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return "", fmt.Errorf("TFTP root %s: %w", dir, err)
	}
	err = fill(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// keepPrevious makes p.prev the same file as p (a hard link, replacing
// the old .prev atomically), so p can then be replaced.
func keepPrevious(p string) error {
	if !fileExists(p) {
		return nil
	}
	tmp := p + PrevSuffix + ".tmp"
	os.Remove(tmp)
	if err := os.Link(p, tmp); err != nil {
		return fmt.Errorf("keep previous %s: %w", p, err)
	}
	if err := os.Rename(tmp, p+PrevSuffix); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("keep previous %s: %w", p, err)
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 != nil || err2 != nil || sa.Size() != sb.Size() {
		return false
	}
	da, err1 := os.ReadFile(a)
	db, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && bytes.Equal(da, db)
}

// Rollback swaps the installed pair with the previous one (each file by
// an atomic exchange where the kernel supports it), so a second rollback
// undoes the first.
func Rollback(c *config.Config, o Options) error {
	tftp := c.TFTP.Root
	var pairs []string
	for _, n := range []string{InitrdFile, KernelFile} {
		p := filepath.Join(tftp, n)
		if !fileExists(p + PrevSuffix) {
			return fmt.Errorf("no previous %s in %s: nothing to roll back to (publish keeps one after the second publish)", n+PrevSuffix, tftp)
		}
		if !fileExists(p) {
			return fmt.Errorf("%s is missing: run `sidus boot publish`", p)
		}
		pairs = append(pairs, p)
	}
	cur, _ := ReadManifest(filepath.Join(tftp, ManifestFile))
	prev, _ := ReadManifest(filepath.Join(tftp, ManifestFile+PrevSuffix))
	if o.DryRun {
		o.logf("would swap %s and %s with their %s (kernel %s -> %s)", KernelFile, InitrdFile, PrevSuffix, orUnknown(cur.Kernel), orUnknown(prev.Kernel))
		return nil
	}
	if fileExists(filepath.Join(tftp, ManifestFile+PrevSuffix)) {
		pairs = append(pairs, filepath.Join(tftp, ManifestFile))
	}
	for _, p := range pairs {
		if err := exchange(p, p+PrevSuffix); err != nil {
			return fmt.Errorf("swap %s with %s: %w", p, p+PrevSuffix, err)
		}
	}
	o.logf("rolled back: nodes now boot kernel %s (was %s); `sidus boot rollback` again undoes it", orUnknown(prev.Kernel), orUnknown(cur.Kernel))
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// exchangeByRename swaps a and b with three renames (not atomic).
func exchangeByRename(a, b string) error {
	tmp := a + ".swap"
	if err := os.Rename(a, tmp); err != nil {
		return err
	}
	if err := os.Rename(b, a); err != nil {
		os.Rename(tmp, a)
		return err
	}
	return os.Rename(tmp, b)
}
