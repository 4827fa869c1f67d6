package image

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sidus-go/sidus/initramfs/kmod"
)

// DefaultModule is an entry of the default module set: a module name and
// the group (kmod.GroupBoot, GroupHW or GroupISCSI) of the boot stage that
// needs it. A packed module takes the earliest group (boot < hw < iscsi) of
// the roots that pull it in; -m extras are boot.
type DefaultModule struct {
	Name  string
	Group string
}

// DefaultModules is the module set packed when the caller does not choose
// one, and the one place that says which boot stage needs each: the NIC
// drivers compute nodes use (hw: loaded when a device matches one of their
// modaliases), the NFS client, overlayfs and bus drivers (boot: every boot),
// the iSCSI initiator stack, the disk and filesystem drivers for the iSCSI
// writable layer, and crc32c (iscsi: loaded by the iSCSI stage). Each is
// kept only if the kernel has it (as a module or built in); missing ones are
// reported, not fatal.
//
// The order matters only for ties: roots are visited in this order, so NICs
// load first, then NFS (v4 before v3), overlay, iSCSI, disks, filesystems.
var DefaultModules = []DefaultModule{
	// Bus driver: virtio devices (virtio_net, ...) appear once it is loaded.
	{"virtio_pci", kmod.GroupBoot},
	// NICs.
	{"virtio_net", kmod.GroupHW},
	{"e1000", kmod.GroupHW}, {"e1000e", kmod.GroupHW}, {"igb", kmod.GroupHW}, {"igbvf", kmod.GroupHW},
	{"ixgbe", kmod.GroupHW}, {"ixgbevf", kmod.GroupHW}, {"i40e", kmod.GroupHW}, {"iavf", kmod.GroupHW}, {"ice", kmod.GroupHW},
	{"bnx2", kmod.GroupHW}, {"bnx2x", kmod.GroupHW}, {"bnxt_en", kmod.GroupHW}, {"tg3", kmod.GroupHW},
	{"be2net", kmod.GroupHW}, {"mlx4_en", kmod.GroupHW}, {"mlx5_core", kmod.GroupHW},
	{"vmxnet3", kmod.GroupHW}, {"ena", kmod.GroupHW}, {"gve", kmod.GroupHW}, {"mana", kmod.GroupHW}, {"hv_netvsc", kmod.GroupHW},
	{"xen_netfront", kmod.GroupHW}, {"r8169", kmod.GroupHW},
	// NFS root (loaded while DHCP waits; v3 only when a v3 mount is tried).
	{"nfs", kmod.GroupRoot}, {"nfsv4", kmod.GroupRoot}, {"nfsv3", kmod.GroupNFS3},
	// Writable layer.
	{"overlay", kmod.GroupRoot},
	{"iscsi_tcp", kmod.GroupISCSI}, {"libiscsi", kmod.GroupISCSI}, {"scsi_transport_iscsi", kmod.GroupISCSI}, {"sd_mod", kmod.GroupISCSI},
	// xfs and btrfs are not in the default set: xfs is 4.2 MB raw (0.7 MB
	// of the compressed image), btrfs with its raid6/xor/zstd dependencies
	// 1.2 MB compressed, for layouts SIDUS nodes rarely use (-m xfs or
	// -m btrfs adds them; fslabel reads their labels either way, and a
	// mount that fails for want of the driver says to add it).
	{"ext4", kmod.GroupISCSI},
	{"crc32c_generic", kmod.GroupISCSI}, {"libcrc32c", kmod.GroupISCSI},
	// Local disks for overlayroot=device: (hw: loaded when the controller
	// is there; the filesystems are the iscsi group's).
	{"virtio_blk", kmod.GroupHW}, {"nvme", kmod.GroupHW}, {"ahci", kmod.GroupHW},
	// bond=, vlan=, the iBFT: loaded by the network stage only when asked.
	{"bonding", kmod.GroupNet}, {"8021q", kmod.GroupNet}, {"iscsi_ibft", kmod.GroupNet},
	// A root that is a squashfs image (sidus.image= on the NFS export),
	// loop-mounted: loaded by the nfs stage only then.
	{"squashfs", kmod.GroupImage}, {"loop", kmod.GroupImage},
}

// DefaultNames returns the names of DefaultModules, in order.
func DefaultNames() []string {
	out := make([]string, len(DefaultModules))
	for i, d := range DefaultModules {
		out[i] = d.Name
	}
	return out
}

// OptionalModules are known modules outside the default set, with the
// group they take when an -m extra names them: the filesystems a
// writable layer may use, loaded on demand like ext4.
//
// The Ceph clients (rbd, ceph: 2.5 MB raw with libceph) are for the sites
// whose root is on Ceph (root=rbd:, root=cephfs:), as are erofs and
// dm-verity (sidus.verity=) for the sites that want them: -m rbd -m ceph
// -m dm_verity -m erofs pack them.
var OptionalModules = []DefaultModule{
	{"xfs", kmod.GroupISCSI}, {"btrfs", kmod.GroupISCSI},
	{"erofs", kmod.GroupImage}, {"dm_verity", kmod.GroupImage},
	{"rbd", kmod.GroupCeph}, {"ceph", kmod.GroupCeph},
}

// DefaultGroup returns the group of a name of the default set or of
// OptionalModules (as they say; '-' and '_' are the same), or
// kmod.GroupBoot for other names.
func DefaultGroup(name string) string {
	n := kmod.ModName(name)
	for _, d := range append(slices.Clip(DefaultModules), OptionalModules...) {
		if d.Name == n {
			return d.Group
		}
	}
	return kmod.GroupBoot
}

// Module is one kernel module packed into the image.
type Module struct {
	// Name is the normalised module name ("virtio_net", never "virtio-net").
	Name string
	// Path is the file relative to BASEDIR/lib/modules/KVER, as in
	// modules.dep, e.g. "kernel/drivers/net/virtio_net.ko". It may end in
	// .ko.xz, .ko.zst or .ko.gz: such files are packed as they are.
	Path string
	// Size is the file size in bytes.
	Size int64
	// Deps are the names of the modules it needs (hard dependencies, then
	// softdep pre:), all of which come before it in a ModuleSet.
	Deps []string
	// Firmware lists the modinfo firmware= entries (relative to lib/firmware).
	Firmware []string
	// Aliases lists the modinfo alias= entries (modalias patterns). In a
	// Summary: the patterns written to the modules index (hw modules only).
	Aliases []string
	// Group is the boot stage that loads it (kmod.GroupBoot, GroupHW,
	// GroupISCSI); set by Build, empty in a ModuleSet from Closure.
	Group string
}

// Compressed reports whether the module file is compressed (.ko.xz, .ko.zst,
// .ko.gz). The kernel loads those only through finit_module with
// MODULE_INIT_COMPRESSED_FILE and CONFIG_MODULE_DECOMPRESS.
func (m Module) Compressed() bool { return !strings.HasSuffix(m.Path, ".ko") }

// ModuleSet is a module closure in load order.
type ModuleSet struct {
	// Modules is the closure, dependencies first. The order is deterministic:
	// a depth-first post-order from the requested names in the order given,
	// visiting a module's softdep pre: names first, then its dependencies
	// (modules.dep lists them last-to-load-first, as modprobe reads it; the
	// modinfo fallback visits them in sorted order).
	Modules []Module
	// Builtin are requested or needed names compiled into the kernel
	// (modules.builtin), sorted; they are not packed.
	Builtin []string
	// Missing are optional names this kernel has neither as module nor built
	// in, in request order.
	Missing []string
	// FromDep says whether dependencies came from modules.dep (true) or
	// from each module's .modinfo depends= (false).
	FromDep bool
	// Roots maps each requested name that resolved to packed modules to
	// those modules' names (usually itself; an alias such as crc32c may
	// resolve to several).
	Roots map[string][]string
}

// Closure computes the load-ordered closure of the named modules in
// BASEDIR/lib/modules/KVER. A required name that is neither a module nor
// built in is an error naming it; a missing optional name is listed in
// ModuleSet.Missing. Names may use '-' or '_', and may be exact (non-glob)
// aliases from modules.alias (e.g. "crc32c" → crc32c_intel).
//
// Dependencies come from modules.dep when it exists, otherwise from each
// module's .modinfo depends=. softdep pre: entries (modules.softdep and
// .modinfo) are followed when they resolve to a module; unresolvable ones
// are ignored, as modprobe does.
func Closure(baseDir, kver string, required, optional []string) (*ModuleSet, error) {
	t, err := openTree(baseDir, kver)
	if err != nil {
		return nil, err
	}
	return t.closure(required, optional)
}

// ModuleNotFoundError is returned by Closure and Build for a required module
// that the kernel has neither as a module nor built in.
type ModuleNotFoundError struct {
	Name string // as requested
	Dir  string // BASEDIR/lib/modules/KVER
}

func (e *ModuleNotFoundError) Error() string {
	return fmt.Sprintf("module %q: not in %s (modules.dep or *.ko files) nor in its modules.builtin; check the name with modinfo -b BASEDIR -k KVER %s",
		e.Name, e.Dir, e.Name)
}

func isModuleFile(name string) bool {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// tree is an indexed BASEDIR/lib/modules/KVER.
type tree struct {
	dir      string              // BASEDIR/lib/modules/KVER
	paths    map[string]string   // name -> path relative to dir
	deps     map[string][]string // name -> dep names, modules.dep order; nil without modules.dep
	builtin  map[string]bool
	softPre  map[string][]string // name -> softdep pre: names (modules.softdep)
	aliases  map[string][]string // exact alias -> module names
	modinfos map[string]*modinfo
}

func openTree(baseDir, kver string) (*tree, error) {
	if kver == "" {
		return nil, errors.New("no kernel version given")
	}
	if baseDir == "" {
		baseDir = "/"
	}
	dir := filepath.Join(baseDir, "lib", "modules", kver)
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("kernel %s: %w; is the kernel installed under %s (check -b and KVERSION)?", kver, err, baseDir)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("kernel %s: %s is not a directory", kver, dir)
	}
	t := &tree{
		dir:      dir,
		paths:    map[string]string{},
		builtin:  map[string]bool{},
		softPre:  map[string][]string{},
		aliases:  map[string][]string{},
		modinfos: map[string]*modinfo{},
	}
	if err := t.readDep(); err != nil {
		return nil, err
	}
	if t.deps == nil {
		if err := t.walk(); err != nil {
			return nil, err
		}
	}
	if err := eachLine(filepath.Join(dir, "modules.builtin"), func(l string) error {
		t.builtin[kmod.ModName(l)] = true
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eachLine(filepath.Join(dir, "modules.softdep"), func(l string) error {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "softdep" {
			return nil
		}
		name := kmod.ModName(f[1])
		pre, _ := parseSoftdep(strings.Join(f[2:], " "))
		t.softPre[name] = append(t.softPre[name], pre...)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := eachLine(filepath.Join(dir, "modules.alias"), func(l string) error {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "alias" || strings.ContainsAny(f[1], "*?[") {
			return nil
		}
		a := strings.ReplaceAll(f[1], "-", "_")
		t.aliases[a] = append(t.aliases[a], kmod.ModName(f[2]))
		return nil
	}); err != nil {
		return nil, err
	}
	return t, nil
}

// eachLine calls fn for each non-empty, non-comment line of file; a missing
// file has no lines.
func eachLine(file string, fn func(string) error) error {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		l := strings.TrimSpace(s.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if err := fn(l); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// relPath makes a modules.dep path relative to the tree (old depmod wrote
// absolute /lib/modules/KVER/... paths).
func (t *tree) relPath(p string) string {
	if strings.HasPrefix(p, "/") {
		if i := strings.Index(p, "/lib/modules/"); i >= 0 {
			rest := p[i+len("/lib/modules/"):]
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				return rest[j+1:]
			}
		}
	}
	return p
}

// readDep parses modules.dep ("path: dep dep ..."), if present.
func (t *tree) readDep() error {
	file := filepath.Join(t.dir, "modules.dep")
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	deps := map[string][]string{}
	err := eachLine(file, func(l string) error {
		mod, rest, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("malformed line %q (want \"module.ko: deps...\"); rerun depmod", l)
		}
		mod = t.relPath(strings.TrimSpace(mod))
		name := kmod.ModName(mod)
		if _, dup := t.paths[name]; dup {
			return nil // depmod lists the preferred copy first
		}
		t.paths[name] = mod
		var ds []string
		for _, d := range strings.Fields(rest) {
			ds = append(ds, kmod.ModName(d))
		}
		deps[name] = ds
		return nil
	})
	if err != nil {
		return err
	}
	t.deps = deps
	return nil
}

// walk indexes module files when there is no modules.dep.
func (t *tree) walk() error {
	var files []string
	err := filepath.WalkDir(t.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isModuleFile(d.Name()) {
			rel, err := filepath.Rel(t.dir, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing modules (no modules.dep): %w", err)
	}
	// Like depmod's default search order: updates/ wins over the rest, then
	// lexical order, so the choice is deterministic.
	slices.SortFunc(files, func(a, b string) int {
		ua, ub := strings.HasPrefix(a, "updates/"), strings.HasPrefix(b, "updates/")
		if ua != ub {
			if ua {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, f := range files {
		if _, ok := t.paths[kmod.ModName(f)]; !ok {
			t.paths[kmod.ModName(f)] = f
		}
	}
	return nil
}

func (t *tree) modinfo(name string) (*modinfo, error) {
	if mi, ok := t.modinfos[name]; ok {
		return mi, nil
	}
	mi, err := readModinfo(filepath.Join(t.dir, filepath.FromSlash(t.paths[name])))
	if err != nil {
		return nil, err
	}
	t.modinfos[name] = mi
	return mi, nil
}

// resolve maps a requested name to module names: itself if it is a module
// or built in, else its exact aliases. It returns nil if nothing matches.
func (t *tree) resolve(name string) []string {
	n := strings.ReplaceAll(name, "-", "_")
	if _, ok := t.paths[n]; ok || t.builtin[n] {
		return []string{n}
	}
	var out []string
	for _, m := range t.aliases[n] {
		if _, ok := t.paths[m]; ok || t.builtin[m] {
			out = append(out, m)
		}
	}
	return out
}

type closer struct {
	t       *tree
	state   map[string]int // 1 visiting, 2 done
	builtin map[string]bool
	out     []Module
}

func (t *tree) closure(required, optional []string) (*ModuleSet, error) {
	c := &closer{t: t, state: map[string]int{}, builtin: map[string]bool{}}
	set := &ModuleSet{FromDep: t.deps != nil, Roots: map[string][]string{}}
	type root struct {
		name     string
		required bool
	}
	var roots []root
	for _, n := range optional {
		roots = append(roots, root{n, false})
	}
	for _, n := range required {
		roots = append(roots, root{n, true})
	}
	for _, r := range roots {
		names := t.resolve(r.name)
		if len(names) == 0 {
			if r.required {
				return nil, &ModuleNotFoundError{Name: r.name, Dir: t.dir}
			}
			if !slices.Contains(set.Missing, r.name) {
				set.Missing = append(set.Missing, r.name)
			}
			continue
		}
		for _, n := range names {
			if err := c.visit(n, nil, false); err != nil {
				return nil, err
			}
			if _, isMod := t.paths[n]; isMod && !slices.Contains(set.Roots[r.name], n) {
				set.Roots[r.name] = append(set.Roots[r.name], n)
			}
		}
	}
	set.Modules = c.out
	for n := range c.builtin {
		set.Builtin = append(set.Builtin, n)
	}
	slices.Sort(set.Builtin)
	return set, nil
}

// visit appends name and everything it needs to c.out, dependencies first.
// stack is the chain of modules that led here, for error messages.
func (c *closer) visit(name string, stack []string, soft bool) error {
	t := c.t
	if t.builtin[name] {
		if _, ok := t.paths[name]; !ok {
			c.builtin[name] = true
			return nil
		}
	}
	p, ok := t.paths[name]
	if !ok {
		if soft {
			return nil
		}
		return fmt.Errorf("module %s (needed by %s): not in %s and not built in; the module tree is incomplete, rerun depmod -b BASEDIR %s",
			name, strings.Join(stack, " <- "), t.dir, path.Base(t.dir))
	}
	switch c.state[name] {
	case 2:
		return nil
	case 1:
		if soft {
			return nil // a softdep cycle is broken silently, like modprobe
		}
		return fmt.Errorf("module dependency cycle: %s -> %s", strings.Join(stack, " -> "), name)
	}
	c.state[name] = 1
	stack = append(slices.Clip(stack), name)

	mi, err := t.modinfo(name)
	if err != nil {
		return err
	}
	var deps []string
	// softdep pre: first, as modprobe does.
	for _, s := range append(slices.Clone(t.softPre[name]), mi.softPre...) {
		for _, n := range t.resolve(s) {
			if n == name || slices.Contains(deps, n) {
				continue
			}
			if err := c.visit(n, stack, true); err != nil {
				return err
			}
			if c.state[n] == 2 {
				deps = append(deps, n)
			}
		}
	}
	var hard []string
	if t.deps != nil {
		hard = slices.Clone(t.deps[name])
		slices.Reverse(hard) // modules.dep: the last listed loads first
	} else {
		for _, d := range mi.depends {
			hard = append(hard, kmod.ModName(d))
		}
		slices.Sort(hard)
		hard = slices.Compact(hard)
	}
	for _, d := range hard {
		if err := c.visit(d, stack, false); err != nil {
			return err
		}
		if _, isMod := t.paths[d]; isMod && !slices.Contains(deps, d) {
			deps = append(deps, d)
		}
	}

	st, err := os.Stat(filepath.Join(t.dir, filepath.FromSlash(p)))
	if err != nil {
		return fmt.Errorf("module %s: %w", name, err)
	}
	c.state[name] = 2
	c.out = append(c.out, Module{Name: name, Path: p, Size: st.Size(), Deps: deps, Firmware: mi.firmware, Aliases: mi.aliases})
	return nil
}
