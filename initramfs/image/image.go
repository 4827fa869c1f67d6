// Package image builds initrd.img-Sidus: a newc cpio archive holding the
// static Go /init, the kernel modules it loads (in dependency order, listed
// in layout.LoadOrder), their firmware, and optionally a rescue shell and an
// iSCSI parameter file. The paths are those of package layout.
//
// The output is reproducible: records are sorted by name, every parent
// directory has a record, owners are 0:0, mtimes are fixed (Options.MTime,
// e.g. SOURCE_DATE_EPOCH) and no host inode numbers leak in; the
// compressors are deterministic. Building twice gives the same bytes.
package image

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sidus-go/sidus/initramfs/kmod"
	"github.com/sidus-go/sidus/initramfs/layout"
)

// Compression names accepted in Options.Compression.
const (
	Zstd = "zstd"
	Gzip = "gzip"
	None = "none"
)

// Options says what to pack.
type Options struct {
	// BaseDir is the root holding lib/modules/KVER and lib/firmware, as for
	// depmod -b; "" means "/".
	BaseDir string
	// KernelVersion selects BaseDir/lib/modules/KernelVersion.
	KernelVersion string
	// Modules are packed in addition to Defaults; each must exist as a
	// module or be built in.
	Modules []string
	// Defaults are packed if the kernel has them; nil means
	// DefaultNames(), an empty non-nil slice means none. Their groups come
	// from DefaultModules (DefaultGroup); Modules are GroupBoot.
	Defaults []string
	// Compression is Zstd (when ""), Gzip or None.
	Compression string
	// Init is the static sidus-init binary, packed as /init. Required.
	Init string
	// Shell, if set, is a static binary packed as layout.Shell. If it is
	// busybox, a few applet links are added next to it.
	Shell string
	// ISCSIConf, if set, is packed as layout.ISCSIConf, mode 0600.
	ISCSIConf string
	// CephKeyring, if set, is a cephx keyring file (Ceph's format), packed
	// as layout.CephKeyring, mode 0600: the init's key for root=rbd: and
	// root=cephfs:. It must hold a [client.NAME] section with a key.
	CephKeyring string
	// Agent, if set, is the static sidus-agent binary, packed as
	// layout.Agent: the init starts it at switch_root.
	Agent string
	// MTime is the modification time of every record (Unix seconds), e.g.
	// SOURCE_DATE_EPOCH; 0 by default.
	MTime int64
	// Log receives notes (compressed modules, ...); nil discards them.
	Log io.Writer
}

// Summary describes a built image.
type Summary struct {
	KernelVersion string
	// Modules are the packed modules, in load order.
	Modules []Module
	// ModulesSize is the total size of the packed module files.
	ModulesSize int64
	// FromDep: dependencies came from modules.dep (else from .modinfo).
	FromDep bool
	// Builtin are needed modules compiled into the kernel (not packed).
	Builtin []string
	// Skipped are default modules this kernel does not have.
	Skipped []string
	// CompressedModules are the packed modules that are compressed files.
	CompressedModules []string
	// Firmware are the packed firmware files, image paths.
	Firmware []string
	// MissingFirmware are "module: file" firmware entries not found under
	// BaseDir/lib/firmware.
	MissingFirmware []string
	// Compression is the compressor used.
	Compression string
	// Uncompressed is the cpio size; Compressed is the size written.
	Uncompressed, Compressed int64
	// Init and Agent are the packed Go binaries (Agent is zero if none).
	Init, Agent Binary
}

// Binary is a packed executable.
type Binary struct {
	Path string // as given in Options
	Size int64
	// Unstripped is the size of its symbols and debug info (see
	// Unstripped): 0 for a binary built with -ldflags='-s -w'.
	Unstripped int64
}

// packedBinary describes the executable file, whose contents are data.
func packedBinary(file string, data []byte) (Binary, error) {
	n, err := unstripped(bytes.NewReader(data))
	if err != nil {
		return Binary{}, fmt.Errorf("%s: %w", file, err)
	}
	return Binary{Path: file, Size: int64(len(data)), Unstripped: n}, nil
}

// applets are the busybox links added next to a busybox rescue shell.
var applets = []string{"cat", "dmesg", "ip", "ls", "mount"}

// Build writes the image described by o to w.
//
// Steps:
//   - check o.Init (and o.Shell) are static ELF executables;
//   - compute the module closure of o.Defaults (optional) and o.Modules
//     (required) in load order;
//   - collect module files, their firmware, /init, the shell, the iSCSI
//     file, dev/console and dev/null, the load order file and the modules
//     index (groups, deps, modalias patterns; see assignGroups);
//   - write them as a sorted newc cpio, with parents, through the compressor.
func Build(w io.Writer, o Options) (*Summary, error) {
	if o.Compression == "" {
		o.Compression = Zstd
	}
	if _, err := compressor(io.Discard, o.Compression); err != nil {
		return nil, err
	}
	if o.Init == "" {
		return nil, errors.New("no init binary given")
	}
	if o.BaseDir == "" {
		o.BaseDir = "/"
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	defaults := o.Defaults
	if defaults == nil {
		defaults = DefaultNames()
	}

	img := newTree(uint64(o.MTime))
	initBin, err := readStatic("init", o.Init)
	if err != nil {
		return nil, err
	}
	img.file(layout.Init, 0o755, initBin)

	set, err := Closure(o.BaseDir, o.KernelVersion, o.Modules, defaults)
	if err != nil {
		return nil, err
	}
	s := &Summary{
		KernelVersion: o.KernelVersion,
		Modules:       set.Modules,
		FromDep:       set.FromDep,
		Builtin:       set.Builtin,
		Skipped:       set.Missing,
		Compression:   o.Compression,
	}
	if s.Init, err = packedBinary(o.Init, initBin); err != nil {
		return nil, err
	}

	modDir := path.Join(layout.ModulesDir, o.KernelVersion)
	treeDir := filepath.Join(o.BaseDir, "lib", "modules", o.KernelVersion)
	var order strings.Builder
	for _, m := range set.Modules {
		data, err := os.ReadFile(filepath.Join(treeDir, filepath.FromSlash(m.Path)))
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", m.Name, err)
		}
		p := path.Join(modDir, m.Path)
		img.file(p, 0o644, data)
		s.ModulesSize += int64(len(data))
		if m.Compressed() {
			s.CompressedModules = append(s.CompressedModules, m.Name)
		}
		order.WriteString(p + "\n")
	}
	if len(s.CompressedModules) > 0 {
		fmt.Fprintf(logw, "note: %d modules are compressed files (%s, ...), packed as-is; the init must load them with finit_module(MODULE_INIT_COMPRESSED_FILE) and the kernel needs CONFIG_MODULE_DECOMPRESS\n",
			len(s.CompressedModules), s.CompressedModules[0])
	}
	img.file(layout.LoadOrder, 0o644, []byte(order.String()))
	for _, n := range assignGroups(set, defaults, o.Modules) {
		fmt.Fprintf(logw, "note: %s is a NIC driver without modalias patterns (nor any in its dependencies): it will be loaded at every boot\n", n)
	}
	ix := &kmod.Index{}
	for _, m := range set.Modules {
		ix.Modules = append(ix.Modules, kmod.Module{
			Name: m.Name, Group: m.Group, Path: path.Join(modDir, m.Path), Deps: m.Deps, Aliases: m.Aliases,
		})
	}
	var index bytes.Buffer
	if _, err := ix.WriteTo(&index); err != nil {
		return nil, err
	}
	img.file(layout.ModulesIndex, 0o644, index.Bytes())

	fwDir := filepath.Join(o.BaseDir, "lib", "firmware")
	for _, m := range set.Modules {
		for _, fw := range m.Firmware {
			name, data, err := findFirmware(fwDir, fw)
			if err != nil {
				return nil, fmt.Errorf("module %s: %w", m.Name, err)
			}
			if data == nil {
				s.MissingFirmware = append(s.MissingFirmware, m.Name+": "+fw)
				continue
			}
			p := path.Join(layout.FirmwareDir, name)
			if img.has(p) {
				continue
			}
			img.file(p, 0o644, data)
			s.Firmware = append(s.Firmware, p)
		}
	}
	slices.Sort(s.Firmware)

	if o.Shell != "" {
		sh, err := readStatic("shell", o.Shell)
		if err != nil {
			return nil, err
		}
		img.file(layout.Shell, 0o755, sh)
		if isBusybox(o.Shell, sh) {
			dir := path.Dir(layout.Shell)
			for _, a := range applets {
				if p := path.Join(dir, a); p != layout.Shell {
					img.symlink(p, path.Base(layout.Shell))
				}
			}
		}
	}
	if o.Agent != "" {
		ag, err := readStatic("agent", o.Agent)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(ag, initBin) {
			// One multi-call binary (cmd/sidus-init is also the agent,
			// by argv[0]): packed once, the agent a link to it.
			img.symlink(layout.Agent, "../"+layout.Init)
		} else {
			img.file(layout.Agent, 0o755, ag)
		}
		if s.Agent, err = packedBinary(o.Agent, ag); err != nil {
			return nil, err
		}
	}
	if o.ISCSIConf != "" {
		data, err := os.ReadFile(o.ISCSIConf)
		if err != nil {
			return nil, fmt.Errorf("iscsi conf: %w", err)
		}
		img.file(layout.ISCSIConf, 0o600, data)
	}
	if o.CephKeyring != "" {
		data, err := os.ReadFile(o.CephKeyring)
		if err != nil {
			return nil, fmt.Errorf("ceph keyring: %w", err)
		}
		if !bytes.Contains(data, []byte("[client.")) || !bytes.Contains(data, []byte("key")) {
			return nil, fmt.Errorf("ceph keyring %s: no [client.NAME] section with a key; export one with `ceph auth get client.NAME -o FILE`", o.CephKeyring)
		}
		img.file(layout.CephKeyring, 0o600, data)
	}

	img.charDev("dev/console", 0o600, 5, 1)
	img.charDev("dev/null", 0o666, 1, 3)
	for _, d := range []string{"proc", "sys", "run", "tmp", "root"} {
		img.dir(d)
	}

	s.Uncompressed, s.Compressed, err = img.write(w, o.Compression)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// findFirmware looks for fw under dir, also as fw.zst and fw.xz (the kernel
// can load those with CONFIG_FW_LOADER_COMPRESS). It returns the name found
// (relative to dir) and its contents, or nil data if absent.
func findFirmware(dir, fw string) (string, []byte, error) {
	clean := path.Clean("/" + fw)[1:] // no escaping lib/firmware
	for _, name := range []string{clean, clean + ".zst", clean + ".xz"} {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err == nil {
			return name, data, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", nil, fmt.Errorf("firmware %s: %w", name, err)
		}
	}
	return "", nil, nil
}

// readStatic reads an executable that must run in the initramfs, which has
// no dynamic loader: a static ELF (EXEC, or static-pie DYN) without
// PT_INTERP. what names it in errors ("init", "shell").
func readStatic(what, file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s binary: %w", what, err)
	}
	if err := CheckStatic(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%s binary %s: %w", what, file, err)
	}
	return data, nil
}

// CheckStatic returns an error unless r is an ELF executable with no
// PT_INTERP program header, i.e. one that runs without a dynamic loader.
func CheckStatic(r io.ReaderAt) error {
	f, err := elf.NewFile(r)
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("ELF type %v, want an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(io.LimitReader(p.Open(), 256))
			return fmt.Errorf("dynamically linked (interpreter %s), but the initramfs has no loader or libc; build it static (CGO_ENABLED=0 go build, or busybox-static)",
				strings.TrimRight(string(interp), "\x00"))
		}
	}
	if f.Type == elf.ET_DYN && len(f.Progs) == 0 {
		return errors.New("ELF shared object without program headers, want an executable")
	}
	return nil
}

// isBusybox guesses whether a shell binary is busybox: by name, or by the
// "BusyBox v" banner in it.
func isBusybox(file string, data []byte) bool {
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	return strings.Contains(filepath.Base(file), "busybox") || bytes.Contains(data, []byte("BusyBox v"))
}

// assignGroups sets Group and Aliases of each module of set (see
// layout.ModulesIndex). A module takes the earliest group (kmod.GroupRank)
// of the roots whose closure holds it: a default name's DefaultGroup, boot
// for extras. Aliases are kept for hw modules only; an hw root without any
// inherits those of its hw dependencies (mlx4_en gets mlx4_core's PCI ids),
// and one left without any is moved to boot, whose names it returns.
func assignGroups(set *ModuleSet, defaults, extras []string) (noAlias []string) {
	group := map[string]string{}
	lower := func(n, g string) {
		if cur, ok := group[n]; !ok || kmod.GroupRank(g) < kmod.GroupRank(cur) {
			group[n] = g
		}
	}
	roots := map[string]bool{}
	for _, r := range defaults {
		for _, n := range set.Roots[r] {
			lower(n, DefaultGroup(r))
			roots[n] = true
		}
	}
	for _, r := range extras {
		for _, n := range set.Roots[r] {
			lower(n, DefaultGroup(r))
			roots[n] = true
		}
	}
	byName := map[string]*Module{}
	for i := range set.Modules {
		byName[set.Modules[i].Name] = &set.Modules[i]
	}
	propagate := func() {
		// Dependents come after their dependencies: one backward pass.
		for i := len(set.Modules) - 1; i >= 0; i-- {
			m := set.Modules[i]
			g, ok := group[m.Name]
			if !ok {
				g = kmod.GroupBoot
				group[m.Name] = g
			}
			for _, d := range m.Deps {
				lower(d, g)
			}
		}
	}
	propagate()
	aliases := map[string][]string{}
	for _, m := range set.Modules {
		if group[m.Name] == kmod.GroupHW {
			aliases[m.Name] = m.Aliases
		}
	}
	for _, m := range set.Modules {
		if group[m.Name] != kmod.GroupHW || !roots[m.Name] || len(m.Aliases) > 0 {
			continue
		}
		var inherited []string
		seen := map[string]bool{}
		var walk func(n string)
		walk = func(n string) {
			for _, d := range byName[n].Deps {
				if seen[d] {
					continue
				}
				seen[d] = true
				walk(d)
				if group[d] == kmod.GroupHW {
					for _, a := range byName[d].Aliases {
						if !slices.Contains(inherited, a) {
							inherited = append(inherited, a)
						}
					}
				}
			}
		}
		walk(m.Name)
		if len(inherited) == 0 {
			noAlias = append(noAlias, m.Name)
			group[m.Name] = kmod.GroupBoot
			continue
		}
		aliases[m.Name] = inherited
	}
	if len(noAlias) > 0 {
		propagate()
	}
	for i := range set.Modules {
		m := &set.Modules[i]
		m.Group = group[m.Name]
		m.Aliases = nil
		if m.Group == kmod.GroupHW {
			m.Aliases = aliases[m.Name]
		}
	}
	return noAlias
}
