// Package kmod chooses and loads the kernel modules of initrd.img-Sidus at
// boot, the way udev and dracut do: the modules every boot needs, the
// hardware drivers whose modalias patterns match a device present on this
// node, and on demand the modules of a later stage (iSCSI).
//
// The packer (initramfs/image) writes the index (layout.ModulesIndex, format
// below) with WriteTo; the init reads it with Open or ReadIndex, computes a
// load plan with Plan and loads it with a Loader. Images without an index
// fall back to every module of layout.LoadOrder.
//
// # Index format
//
// UTF-8 text, one record per line, fields separated by blanks; blank lines
// and lines starting with '#' are ignored:
//
//	module NAME GROUP PATH [DEP ...]
//	alias NAME PATTERN
//
// "module" records come in load order: each DEP (a direct dependency, by
// module name) is a module listed on an earlier line. PATH is the
// image-relative module file (as in layout.LoadOrder). GROUP is boot (loaded
// by every boot), hw (loaded when one of its aliases matches a device) or
// iscsi (loaded by the iSCSI stage); other lowercase words are accepted and
// only loaded when asked for by name. "alias" records give a modalias
// pattern of module NAME, which must have been declared above; PATTERN is
// the rest of the line (fnmatch-style: *, ?, [...]).
package kmod

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Module groups written by the packer.
const (
	GroupBoot  = "boot"  // first, every boot: bus drivers (and -m extras)
	GroupHW    = "hw"    // device drivers, loaded when an alias matches
	GroupRoot  = "root"  // every boot, while DHCP waits: the NFS client (v4) and overlayfs
	GroupNFS3  = "nfs3"  // NFSv3 only (nfsv3, nfs_acl): loaded when a v3 mount is tried
	GroupISCSI = "iscsi" // iSCSI initiator, disks and filesystems, on demand
	GroupNet   = "net"   // bonding, 802.1Q and the iBFT reader, when bond=, vlan= or the iBFT ask
	GroupImage = "image" // squashfs, erofs, loop, dm-verity: a root that is a filesystem image (root=rbd:, sidus.image=)
	GroupCeph  = "ceph"  // the kernel's Ceph clients (libceph, rbd, ceph): root=rbd: and root=cephfs:
)

// GroupRank orders the packer's groups by when a boot needs them: boot (0),
// hw (1), root (2), nfs3 (3), iscsi (4), net (5), image (6), ceph (7);
// other groups rank 8. A
// module needed by several groups belongs to the lowest-ranked one.
func GroupRank(g string) int {
	switch g {
	case GroupBoot:
		return 0
	case GroupHW:
		return 1
	case GroupRoot:
		return 2
	case GroupNFS3:
		return 3
	case GroupISCSI:
		return 4
	case GroupNet:
		return 5
	case GroupImage:
		return 6
	case GroupCeph:
		return 7
	}
	return 8
}

// Module is one packed module.
type Module struct {
	Name    string   // normalised name, e.g. "virtio_net"
	Group   string   // GroupBoot, GroupHW, GroupISCSI, ...
	Path    string   // image-relative file, e.g. lib/modules/KVER/kernel/drivers/net/virtio_net.ko
	Deps    []string // names of the modules it needs directly, all earlier in the Index
	Aliases []string // modalias patterns (hw modules), e.g. "virtio:d00000001v*"
}

// Index is the set of packed modules, in load order (dependencies first).
type Index struct {
	Modules []Module
	// Fallback is set when the index was made by Open from the plain
	// layout.LoadOrder list: every module is in GroupBoot, without deps.
	Fallback bool
	// Note says why Open fell back, for the boot log; "" otherwise.
	Note string

	pos map[string]int // name -> index in Modules
}

// ReadIndex parses an index (see the package documentation). Errors name
// the line.
func ReadIndex(r io.Reader) (*Index, error) {
	ix := &Index{pos: map[string]int{}}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := ix.parseLine(line); err != nil {
			return nil, fmt.Errorf("modules index line %d: %w: %q", n, err, line)
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("modules index: %w", err)
	}
	return ix, nil
}

func (ix *Index) parseLine(line string) error {
	f := strings.Fields(line)
	switch f[0] {
	case "module":
		if len(f) < 4 {
			return errors.New("want module NAME GROUP PATH [DEP ...]")
		}
		m := Module{Name: f[1], Group: f[2], Path: f[3]}
		if _, dup := ix.pos[m.Name]; dup {
			return fmt.Errorf("module %s listed twice", m.Name)
		}
		for _, d := range f[4:] {
			if _, ok := ix.pos[d]; !ok {
				return fmt.Errorf("module %s needs %s, which is not listed before it", m.Name, d)
			}
			m.Deps = append(m.Deps, d)
		}
		ix.pos[m.Name] = len(ix.Modules)
		ix.Modules = append(ix.Modules, m)
	case "alias":
		if len(f) < 3 {
			return errors.New("want alias NAME PATTERN")
		}
		i, ok := ix.pos[f[1]]
		if !ok {
			return fmt.Errorf("alias for %s, which is not listed before it", f[1])
		}
		pat := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line[len("alias"):]), f[1]))
		ix.Modules[i].Aliases = append(ix.Modules[i].Aliases, pat)
	default:
		return fmt.Errorf("unknown record %q (want module or alias)", f[0])
	}
	return nil
}

// WriteTo writes ix in the index format. Modules must be in load order with
// their deps listed earlier; names, groups, paths and deps must be single
// words and aliases single lines (checked).
func (ix *Index) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	b.WriteString("# sidus-go modules index: module NAME GROUP PATH [DEP ...] / alias NAME PATTERN\n")
	seen := map[string]bool{}
	word := func(what, s string) error {
		if s == "" || strings.ContainsAny(s, " \t\r\n") || strings.HasPrefix(s, "#") {
			return fmt.Errorf("modules index: %s %q is not a single word", what, s)
		}
		return nil
	}
	for _, m := range ix.Modules {
		for _, s := range []string{m.Name, m.Group, m.Path} {
			if err := word("module field", s); err != nil {
				return 0, err
			}
		}
		if seen[m.Name] {
			return 0, fmt.Errorf("modules index: module %s listed twice", m.Name)
		}
		b.WriteString("module " + m.Name + " " + m.Group + " " + m.Path)
		for _, d := range m.Deps {
			if !seen[d] {
				return 0, fmt.Errorf("modules index: module %s needs %s, which is not listed before it", m.Name, d)
			}
			b.WriteString(" " + d)
		}
		b.WriteByte('\n')
		seen[m.Name] = true
		for _, a := range m.Aliases {
			a = strings.TrimSpace(a)
			if a == "" || strings.ContainsAny(a, "\r\n") {
				return 0, fmt.Errorf("modules index: module %s: bad alias %q", m.Name, a)
			}
			b.WriteString("alias " + m.Name + " " + a + "\n")
		}
	}
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

// Lookup returns the module called name.
func (ix *Index) Lookup(name string) (Module, bool) {
	ix.index()
	i, ok := ix.pos[name]
	if !ok {
		return Module{}, false
	}
	return ix.Modules[i], true
}

func (ix *Index) index() {
	if ix.pos != nil && len(ix.pos) == len(ix.Modules) {
		return
	}
	ix.pos = make(map[string]int, len(ix.Modules))
	for i, m := range ix.Modules {
		if _, dup := ix.pos[m.Name]; !dup {
			ix.pos[m.Name] = i
		}
	}
}

// Plan returns the modules to load, in index (dependency) order, each once:
// those of the given groups, those whose alias patterns match one of the
// device modaliases (as modprobe matches them), and everything they need.
// It does not change ix.
func (ix *Index) Plan(groups []string, modaliases []string) []Module {
	ix.index()
	want := make([]bool, len(ix.Modules))
	norm := make([]string, len(modaliases))
	for i, a := range modaliases {
		norm[i] = normalizeAlias(strings.TrimSpace(a))
	}
	var mark func(i int)
	mark = func(i int) {
		if want[i] {
			return
		}
		want[i] = true
		for _, d := range ix.Modules[i].Deps {
			if j, ok := ix.pos[d]; ok {
				mark(j)
			}
		}
	}
	for i, m := range ix.Modules {
		if contains(groups, m.Group) || matchAny(m.Aliases, norm) {
			mark(i)
		}
	}
	var out []Module
	for i, m := range ix.Modules {
		if want[i] {
			out = append(out, m)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func matchAny(patterns, modaliases []string) bool {
	for _, p := range patterns {
		p = normalizeAlias(p)
		for _, a := range modaliases {
			if a != "" && Match(p, a) {
				return true
			}
		}
	}
	return false
}

// normalizeAlias replaces '-' by '_' outside [...] brackets, as kmod does to
// both modules.alias patterns and the modalias it looks up.
func normalizeAlias(s string) string {
	if !strings.Contains(s, "-") {
		return s
	}
	b := []byte(s)
	in := false
	for i, c := range b {
		switch {
		case c == '[':
			in = true
		case c == ']':
			in = false
		case c == '-' && !in:
			b[i] = '_'
		}
	}
	return string(b)
}

// Match reports whether name matches the shell pattern, like fnmatch(3)
// with no flags (as modprobe matches modaliases): '*' matches any string
// ('/' included), '?' one byte, [...] a byte class (ranges, leading '!' or
// '^' negates), '\' quotes the next byte. A malformed class matches '['
// literally.
func Match(pattern, name string) bool {
	// Iterative matcher with single-star backtracking.
	px, nx := 0, 0
	starP, starN := -1, -1
	for nx < len(name) || px < len(pattern) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starP, starN = px, nx
				px++
				continue
			case '?':
				if nx < len(name) {
					px++
					nx++
					continue
				}
			case '[':
				if nx < len(name) {
					if ok, width, valid := matchClass(pattern[px:], name[nx]); valid {
						if ok {
							px += width
							nx++
							continue
						}
					} else if name[nx] == '[' {
						px++
						nx++
						continue
					}
				}
			case '\\':
				lit := byte('\\')
				w := 1
				if px+1 < len(pattern) {
					lit, w = pattern[px+1], 2
				}
				if nx < len(name) && name[nx] == lit {
					px += w
					nx++
					continue
				}
			default:
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
			}
		}
		if starP >= 0 && starN < len(name) {
			starN++
			px, nx = starP+1, starN
			continue
		}
		return false
	}
	return true
}

// matchClass matches c against the class at the start of p ("[...]"). It
// returns whether c is in it, the class's width, and whether the class is
// well formed (closed by ']').
func matchClass(p string, c byte) (ok bool, width int, valid bool) {
	i := 1
	neg := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return ok != neg, i + 1, true
		}
		first = false
		lo := p[i]
		if lo == '\\' && i+1 < len(p) {
			i++
			lo = p[i]
		}
		i++
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi = p[i+1]
			if hi == '\\' && i+2 < len(p) {
				hi = p[i+2]
				i++
			}
			i += 2
		}
		if lo <= c && c <= hi {
			ok = true
		}
	}
	return false, 0, false
}
