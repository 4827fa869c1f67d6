package kmod

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/sidus-go/sidus/initramfs/layout"
)

// Open reads the image's index through readFile (called with absolute
// paths, "/" + layout.ModulesIndex). Without an index, or with an index it
// cannot parse, it falls back to every module of layout.LoadOrder, in that
// order, all in GroupBoot, and says why in Index.Note: old images still
// boot. If neither file exists the error wraps fs.ErrNotExist (the image has
// no modules; rely on built-in drivers).
func Open(readFile func(name string) ([]byte, error)) (*Index, error) {
	data, err := readFile("/" + layout.ModulesIndex)
	var why string
	switch {
	case err == nil:
		ix, perr := ReadIndex(bytes.NewReader(data))
		if perr == nil {
			return ix, nil
		}
		why = perr.Error()
	case errors.Is(err, fs.ErrNotExist):
		why = "no " + layout.ModulesIndex
	default:
		why = err.Error()
	}
	order, err := readFile("/" + layout.LoadOrder)
	if err != nil {
		return nil, fmt.Errorf("%s; %w", why, err)
	}
	ix := FromLoadOrder(order)
	ix.Note = fmt.Sprintf("%s: loading all %d modules of %s", why, len(ix.Modules), layout.LoadOrder)
	return ix, nil
}

// FromLoadOrder makes a fallback index from a layout.LoadOrder file: every
// listed module in GroupBoot, in the listed order, without deps.
func FromLoadOrder(data []byte) *Index {
	ix := &Index{Fallback: true}
	seen := map[string]bool{}
	for _, p := range strings.Fields(string(data)) {
		name := ModName(p)
		if seen[name] {
			continue
		}
		seen[name] = true
		ix.Modules = append(ix.Modules, Module{Name: name, Group: GroupBoot, Path: p})
	}
	return ix
}

// ModName returns the normalised module name of a module file path or
// name: directory and .ko[.xz|.zst|.gz] suffix stripped, '-' replaced by
// '_' (crc32c-intel.ko.xz -> crc32c_intel), as modprobe does.
func ModName(p string) string {
	b := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(b, ".ko"), "-", "_")
}

// Modaliases returns the sorted, distinct device modalias strings of a sysfs
// tree: the contents of bus/*/devices/*/modalias under sysfs (e.g.
// os.DirFS("/sys")). Devices without a modalias are skipped; a missing bus
// directory gives no aliases, not an error.
func Modaliases(sysfs fs.FS) ([]string, error) {
	buses, err := fs.ReadDir(sysfs, "bus")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sysfs: %w", err)
	}
	var out []string
	for _, bus := range buses {
		dir := path.Join("bus", bus.Name(), "devices")
		devs, err := fs.ReadDir(sysfs, dir)
		if err != nil {
			continue // not every bus entry has devices/
		}
		for _, d := range devs {
			data, err := fs.ReadFile(sysfs, path.Join(dir, d.Name(), "modalias"))
			if err != nil {
				continue
			}
			if a := strings.TrimSpace(string(data)); a != "" {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Loader loads modules.
type Loader struct {
	// Load loads one module file, given as "/" + Module.Path. It returns
	// nil if the module is already loaded (EEXIST).
	Load func(path string) error
	// DryRun, if set, is called instead of Load (and counts as success).
	DryRun func(path string)
	// Done, if non-nil, remembers across calls (stages) which modules were
	// attempted: name -> nil (loaded) or the error. Attempted modules are
	// not loaded again.
	Done map[string]error
}

// LoadAll loads mods in order. A failure is reported in failed (naming the
// module) and does not stop the others; loaded counts the successes. A
// module whose dependency failed is still tried: the dependency may be a
// soft one that something built in satisfies (crc32c_intel fails on CPUs
// without SSE4.2, and the built-in crc32c_generic serves libcrc32c), and
// the kernel refuses the module itself if a symbol is really missing.
func (l Loader) LoadAll(mods []Module) (loaded int, failed []error) {
	done := l.Done
	if done == nil {
		done = map[string]error{}
	}
	for _, m := range mods {
		if _, ok := done[m.Name]; ok {
			continue
		}
		var err error
		p := "/" + strings.TrimPrefix(m.Path, "/")
		switch {
		case l.DryRun != nil:
			l.DryRun(p)
		case l.Load == nil:
			err = fmt.Errorf("module %s: no Load function", m.Name)
		default:
			if err = l.Load(p); err != nil {
				err = fmt.Errorf("module %s: %w", m.Name, err)
				for _, d := range m.Deps {
					if derr, ok := done[d]; ok && derr != nil {
						err = fmt.Errorf("%w (its dependency %s failed too)", err, d)
						break
					}
				}
			}
		}
		done[m.Name] = err
		if err != nil {
			failed = append(failed, err)
			continue
		}
		loaded++
	}
	return loaded, failed
}

// MaxAliasPasses bounds the alias passes of LoadForHardware.
const MaxAliasPasses = 3

// LoadForHardware loads the modules of groups (e.g. GroupBoot, which holds
// the bus drivers such as virtio_pci), then the modules whose aliases match
// the device modaliases readAliases returns, rereading them after each pass
// in which something was loaded (a bus driver makes new devices appear:
// virtio_pci -> virtio:d00000001v00001AF4 -> virtio_net), at most
// MaxAliasPasses times. readAliases may be nil (groups only); its error is
// reported in failed and ends the alias passes. Modules in l.Done are
// skipped.
func (ix *Index) LoadForHardware(l Loader, readAliases func() ([]string, error), groups ...string) (loaded int, failed []error) {
	if l.Done == nil {
		l.Done = map[string]error{}
	}
	n, f := l.LoadAll(ix.Plan(groups, nil))
	loaded, failed = n, f
	if readAliases == nil {
		return loaded, failed
	}
	for pass := 0; pass < MaxAliasPasses; pass++ {
		aliases, err := readAliases()
		if err != nil {
			failed = append(failed, fmt.Errorf("reading device modaliases: %w", err))
			break
		}
		var todo []Module
		for _, m := range ix.Plan(groups, aliases) {
			if _, ok := l.Done[m.Name]; !ok {
				todo = append(todo, m)
			}
		}
		if len(todo) == 0 {
			break
		}
		n, f := l.LoadAll(todo)
		loaded += n
		failed = append(failed, f...)
	}
	return loaded, failed
}
