package tree

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/runner"
)

// CreateOptions configures Create.
type CreateOptions struct {
	Runner runner.Runner
	Sys    System // nil: the host
	// DNS are the name servers of the tree's static resolv.conf.
	DNS []string
	// Mirror, if set, replaces the profile's.
	Mirror string
	Log    io.Writer
	DryRun bool
	Now    func() time.Time
}

// Create makes the shared tree at root from a profile, then prepares it
// as the seed does:
//
//   - debootstrap (suite, arch, components, include and exclude lists)
//     into ROOT.debootstrap, renamed to ROOT only once complete; a tree
//     that already has a dpkg database is not bootstrapped again;
//   - locale, timezone and keyboard;
//   - no /etc/hostname (nodes take DHCP's), a static resolv.conf, a
//     loopback-only /etc/network/interfaces, HPC limits, an empty
//     machine-id (each node makes its own at boot);
//   - in the tree, with policy-rc.d in place: locale-gen, depmod for each
//     installed kernel, apt-get clean; the generation is bumped.
//
// It is idempotent: run again, it only puts back what changed.
func Create(ctx context.Context, root string, p *Profile, o CreateOptions) error {
	logf := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", a...)
		}
	}
	if o.Mirror != "" {
		p.Mirror = o.Mirror
	}
	root = filepath.Clean(root)
	if root == "/" || !filepath.IsAbs(root) {
		return fmt.Errorf("tree %q: want an absolute path other than /", root)
	}
	if c := p.Conflicts(); len(c) > 0 {
		logf("warning: both included and excluded (debootstrap installs them): %s", strings.Join(c, " "))
	}
	verb := ""
	if o.DryRun {
		verb = "would "
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/dpkg/status")); err == nil {
		logf("tree %s already has a dpkg database: not bootstrapping again (remove it to start over)", root)
	} else {
		if ents, err := os.ReadDir(root); err == nil && len(ents) > 0 {
			return fmt.Errorf("tree %s exists, is not empty and has no var/lib/dpkg/status: not a Debian tree sidus made; move it away or set another `tree` in the config", root)
		}
		tmp := root + ".debootstrap"
		argv := p.DebootstrapArgs(tmp)
		logf("%sbootstrap %s %s into %s (%d packages; this takes minutes)", verb, p.Suite, p.Arch, root, len(p.Packages()))
		if !o.DryRun {
			if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
				return err
			}
			if err := os.RemoveAll(tmp); err != nil {
				return fmt.Errorf("remove the leftover %s: %w", tmp, err)
			}
		}
		pw := progressWriter(o.Log, "debootstrap: ")
		err := o.Runner.Run(ctx, runner.Cmd{Args: argv, Stdout: pw, Stderr: pw})
		pw.Close()
		if err != nil {
			logPath := root + ".debootstrap.log"
			if b, rerr := os.ReadFile(filepath.Join(tmp, "debootstrap/debootstrap.log")); rerr == nil {
				os.WriteFile(logPath, b, 0o644)
			}
			os.RemoveAll(tmp)
			return fmt.Errorf("debootstrap %s from %s: %w; check the mirror, the network and the package names (debootstrap's log: %s)", p.Suite, p.Mirror, err, logPath)
		}
		if !o.DryRun {
			os.Remove(root) // an empty directory
			if err := os.Rename(tmp, root); err != nil {
				return fmt.Errorf("move %s to %s: %w", tmp, root, err)
			}
		}
	}

	w := &files.Writer{DryRun: o.DryRun, Log: o.Log}
	if err := Prepare(root, p, o.DNS, w); err != nil {
		return err
	}
	kernels, err := Kernels(root)
	if err != nil {
		return err
	}
	if len(kernels) == 0 && !o.DryRun {
		return fmt.Errorf("tree %s has no kernel (no lib/modules/*, boot/vmlinuz-*): add the kernel package (profile key kernel, e.g. linux-image-amd64) and run `sidus tree create` again", root)
	}
	if _, err := os.Stat(root); err != nil && o.DryRun {
		logf("would run in the tree: locale-gen, depmod -a for each kernel, apt-get clean; would bump the generation")
		return nil
	}
	var cmds [][]string
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/locale-gen")); err == nil {
		cmds = append(cmds, []string{"locale-gen"})
	}
	for _, k := range kernels {
		cmds = append(cmds, []string{"depmod", "-a", k})
	}
	cmds = append(cmds, []string{"apt-get", "clean"})
	out := progressWriter(o.Log, "  ")
	defer out.Close()
	_, err = Run(ctx, root, cmds, RunOptions{Runner: o.Runner, Sys: o.Sys, Log: o.Log, DryRun: o.DryRun, Now: o.Now,
		Stdout: out, Stderr: out})
	return err
}

// Prepare writes the seed's "tricks" into the tree: locale, timezone,
// keyboard, no hostname, static resolv.conf, loopback-only interfaces,
// HPC limits, an empty machine-id.
func Prepare(root string, p *Profile, dns []string, w *files.Writer) error {
	charset := "UTF-8"
	if _, cs, ok := strings.Cut(p.Locale, "."); ok {
		charset = cs
	} else {
		charset = "ISO-8859-1"
	}
	var resolv strings.Builder
	resolv.WriteString("# Static for every node (sidus tree create). Nodes get no name server from\n# the tree's DHCP client: sidus-init writes the DHCP one over it in the node's\n# writable layer.\n")
	for _, d := range dns {
		resolv.WriteString("nameserver " + d + "\n")
	}
	limits := "# HPC limits for every node (sidus tree create).\n" + strings.Join(p.Limits, "\n") + "\n"
	for _, f := range []struct {
		path, data string
		mode       fs.FileMode
	}{
		{"etc/locale.gen", p.Locale + " " + charset + "\n", 0o644},
		{"etc/default/locale", "LANG=" + p.Locale + "\n", 0o644},
		{"etc/timezone", p.Timezone + "\n", 0o644},
		{"etc/default/keyboard", "# sidus tree create\nXKBMODEL=\"pc105\"\nXKBLAYOUT=\"" + p.Keyboard + "\"\nXKBVARIANT=\"\"\nXKBOPTIONS=\"\"\nBACKSPACE=\"guess\"\n", 0o644},
		{"etc/resolv.conf", resolv.String(), 0o644},
		{"etc/network/interfaces", "# Loopback only: the boot NIC is up before the tree's init runs, and must\n# stay up (sidus-init keeps ifupdown off it in interfaces.d/).\nauto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n", 0o644},
		{"etc/security/limits.d/90-sidus-hpc.conf", limits, 0o644},
	} {
		if _, err := w.Write(filepath.Join(root, f.path), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	// Each node takes its name from DHCP.
	if _, err := w.Remove(filepath.Join(root, "etc/hostname")); err != nil {
		return err
	}
	// Each node makes its own machine id at boot.
	if st, err := os.Stat(filepath.Join(root, "etc/machine-id")); err == nil && st.Size() > 0 {
		if _, err := w.Write(filepath.Join(root, "etc/machine-id"), nil, 0o444); err != nil {
			return err
		}
	}
	lt := filepath.Join(root, "etc/localtime")
	want := "/usr/share/zoneinfo/" + p.Timezone
	if cur, err := os.Readlink(lt); err != nil || cur != want {
		fmt.Fprintf(logOrDiscard(w.Log), "%slink %s -> %s\n", w.Verb(), lt, want)
		if !w.DryRun {
			os.MkdirAll(filepath.Dir(lt), 0o755)
			tmp := lt + ".sidus-tmp"
			os.Remove(tmp)
			if err := os.Symlink(want, tmp); err != nil {
				return err
			}
			if err := os.Rename(tmp, lt); err != nil {
				return err
			}
		}
	}
	return nil
}

func logOrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Kernels are the kernel versions installed in the tree (lib/modules/*
// with a matching boot/vmlinuz-*), sorted.
func Kernels(root string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, "lib/modules"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(root, "boot", "vmlinuz-"+e.Name())); err == nil {
			out = append(out, e.Name())
		}
	}
	slices.SortFunc(out, compareVersions)
	return out, nil
}

// compareVersions orders kernel versions numerically piece by piece
// (6.1.0-9 < 6.1.0-10).
func compareVersions(a, b string) int {
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' || r == '+' || r == '~' })
	}
	pa, pb := split(a), split(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := atoiOK(pa[i])
		nb, eb := atoiOK(pb[i])
		switch {
		case ea && eb && na != nb:
			if na < nb {
				return -1
			}
			return 1
		case !(ea && eb) && pa[i] != pb[i]:
			return strings.Compare(pa[i], pb[i])
		}
	}
	return len(pa) - len(pb)
}

func atoiOK(s string) (int, bool) {
	n := 0
	if s == "" {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}

// progressWriter prefixes each line written with prefix and copies it to
// w (nil: discard), so long jobs show progress line by line.
func progressWriter(w io.Writer, prefix string) io.WriteCloser {
	if w == nil {
		return nopCloser{io.Discard}
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	return &lineWriter{pw: pw, done: done}
}

type lineWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func (l *lineWriter) Write(p []byte) (int, error) { return l.pw.Write(p) }
func (l *lineWriter) Close() error {
	l.pw.Close()
	<-l.done
	return nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Upgrade is the seed's update: apt-get update, full-upgrade, clean, in
// the tree (see Run).
func Upgrade(ctx context.Context, root string, o RunOptions) (Result, error) {
	return Run(ctx, root, [][]string{
		{"apt-get", "update"},
		{"apt-get", "-y", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "full-upgrade"},
		{"apt-get", "clean"},
	}, o)
}
