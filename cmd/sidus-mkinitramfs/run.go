package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sidus-go/sidus/initramfs/image"
	"github.com/sidus-go/sidus/initramfs/kmod"
	"github.com/sidus-go/sidus/initramfs/layout"
)

const usage = `usage: sidus-mkinitramfs [flags] -o OUTPUT KVERSION

Packs BASEDIR/lib/modules/KVERSION's modules for an NFS-root node, their
firmware (BASEDIR/lib/firmware) and the static sidus-init into a newc cpio.

  -m MOD,...  modules to pack in addition to the default set, with their
              dependencies; each must exist (as a module or built in), else
              it is an error. -m -MOD drops MOD from the default set;
              -m -DEFAULT drops the whole default set. May be repeated.
              Default set (each kept only if the kernel has it), by the
              boot stage that loads it (hw: when a device matches):
              %s
              -m extras are loaded at every boot (group boot).
  SOURCE_DATE_EPOCH, if set, is the mtime of every archive entry (else 0).
  -o - writes the image to standard output (the summary then goes to stderr).

flags:
`

// listFlag collects comma-separated values from repeated flags.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// config is the parsed command line.
type config struct {
	opts   image.Options
	output string
}

func parse(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("sidus-mkinitramfs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, usage, defaultsUsage())
		fs.PrintDefaults()
	}
	var (
		c    config
		mods listFlag
	)
	fs.StringVar(&c.opts.BaseDir, "b", "/", "base `DIR` holding lib/modules/KVERSION and lib/firmware (like depmod -b)")
	fs.Var(&mods, "m", "extra `MOD,...` (see above)")
	fs.StringVar(&c.opts.Compression, "c", image.Zstd, "compression: zstd, gzip or none")
	fs.StringVar(&c.opts.Agent, "agent", "", "static sidus-agent `PATH`, started by the init at switch_root to keep the DHCP lease and the iSCSI session")
	fs.StringVar(&c.opts.Shell, "shell", "", "static rescue shell `PATH` (e.g. /bin/busybox from busybox-static), packed as /bin/sh")
	fs.StringVar(&c.opts.ISCSIConf, "iscsi-conf", "", "iSCSI parameter `FILE`, packed as /etc/iscsi.initramfs (mode 0600)")
	fs.StringVar(&c.opts.CephKeyring, "ceph-keyring", "", "cephx keyring `FILE` for root=rbd: and root=cephfs:, packed as /etc/sidus/ceph.keyring (mode 0600)")
	fs.StringVar(&c.opts.Init, "init", "", "static sidus-init `PATH` (default: sidus-init next to this program)")
	fs.StringVar(&c.output, "o", "", "output `FILE` (required; - for stdout)")

	// Allow flags after KVERSION too.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(pos) != 1:
		fs.Usage()
		return nil, fmt.Errorf("want exactly one KVERSION argument (e.g. 6.1.0-56-cloud-amd64), got %d", len(pos))
	case c.output == "":
		return nil, errors.New("-o OUTPUT is required")
	}
	c.opts.KernelVersion = pos[0]

	defaults := image.DefaultNames()
	for _, m := range mods {
		switch {
		case m == "-DEFAULT":
			defaults = []string{}
		case strings.HasPrefix(m, "-"):
			drop := kmod.ModName(m[1:])
			defaults = slices.DeleteFunc(defaults, func(d string) bool { return kmod.ModName(d) == drop })
		default:
			c.opts.Modules = append(c.opts.Modules, m)
		}
	}
	c.opts.Defaults = defaults

	if sde := os.Getenv("SOURCE_DATE_EPOCH"); sde != "" {
		t, err := strconv.ParseInt(sde, 10, 64)
		if err != nil || t < 0 || t > 1<<32-1 {
			return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want Unix seconds that fit in 32 bits", sde)
		}
		c.opts.MTime = t
	}
	if c.opts.Init == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("--init not given and cannot find this program's directory: %w", err)
		}
		c.opts.Init = filepath.Join(filepath.Dir(exe), "sidus-init")
	}
	return &c, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	c.opts.Log = stderr
	if c.output == "-" {
		s, err := build(stdout, c.opts)
		if err != nil {
			return err
		}
		printWarnings(stderr, s)
		printSummary(stderr, "-", s)
		return nil
	}

	// Write next to the output, then rename: a failed run leaves no half image.
	tmp, err := os.CreateTemp(filepath.Dir(c.output), "."+filepath.Base(c.output)+".*")
	if err != nil {
		return fmt.Errorf("-o %s: %w", c.output, err)
	}
	defer os.Remove(tmp.Name())
	s, err := build(tmp, c.opts)
	if err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("-o %s: %w", c.output, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("-o %s: %w", c.output, err)
	}
	if err := os.Rename(tmp.Name(), c.output); err != nil {
		return fmt.Errorf("-o %s: %w", c.output, err)
	}
	printWarnings(stderr, s)
	printSummary(stdout, c.output, s)
	return nil
}

// stripFlags are the go build flags of a stripped static Go binary.
const stripFlags = "CGO_ENABLED=0 go build -trimpath -ldflags='-s -w'"

// printWarnings says what is packed but should not be, such as symbols
// and debug info: the image still builds.
func printWarnings(w io.Writer, s *image.Summary) {
	for _, b := range []struct {
		flag string
		bin  image.Binary
	}{{"--init", s.Init}, {"--agent", s.Agent}} {
		if b.bin.Unstripped > 0 {
			fmt.Fprintf(w, "warning: %s %s is not stripped: %s of symbols and debug info (of %s); build it with %s\n",
				b.flag, b.bin.Path, human(b.bin.Unstripped), human(b.bin.Size), stripFlags)
		}
	}
}

// build runs image.Build and names the flag behind an error where it can.
func build(w io.Writer, o image.Options) (*image.Summary, error) {
	s, err := image.Build(w, o)
	var nf *image.ModuleNotFoundError
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("-m %s: %w", nf.Name, err)
	}
	if err != nil && strings.HasPrefix(err.Error(), "kernel ") {
		return nil, fmt.Errorf("-b %s, KVERSION %s: %w", o.BaseDir, o.KernelVersion, err)
	}
	return s, err
}

func printSummary(w io.Writer, output string, s *image.Summary) {
	src := "modules.dep"
	if !s.FromDep {
		src = ".modinfo depends= (no modules.dep)"
	}
	var names []string
	for _, m := range s.Modules {
		names = append(names, m.Name)
	}
	fmt.Fprintf(w, "%s: kernel %s\n", output, s.KernelVersion)
	fmt.Fprintf(w, "  modules:    %d, %s (dependencies from %s)\n", len(s.Modules), size(s.ModulesSize), src)
	fmt.Fprintf(w, "  load order: %s\n", strings.Join(names, " "))
	fmt.Fprintf(w, "  groups:     %s (index %s)\n", groupCounts(s.Modules), layout.ModulesIndex)
	if len(s.CompressedModules) > 0 {
		fmt.Fprintf(w, "  compressed: %d module files packed as-is: %s\n", len(s.CompressedModules), strings.Join(s.CompressedModules, " "))
	}
	if len(s.Builtin) > 0 {
		fmt.Fprintf(w, "  built in:   %s\n", strings.Join(s.Builtin, " "))
	}
	if len(s.Skipped) > 0 {
		fmt.Fprintf(w, "  skipped:    %s (not in this kernel)\n", strings.Join(s.Skipped, " "))
	}
	fmt.Fprintf(w, "  firmware:   %d files\n", len(s.Firmware))
	if len(s.MissingFirmware) > 0 {
		fmt.Fprintf(w, "  firmware not found under lib/firmware: %s\n", strings.Join(s.MissingFirmware, ", "))
	}
	fmt.Fprintf(w, "  size:       %s cpio, %s %s\n", size(s.Uncompressed), size(s.Compressed), s.Compression)
}

// groupCounts says how many packed modules each group has, e.g.
// "boot 20, hw 15, iscsi 13".
func groupCounts(mods []image.Module) string {
	count := map[string]int{}
	var groups []string
	for _, m := range mods {
		if count[m.Group] == 0 {
			groups = append(groups, m.Group)
		}
		count[m.Group]++
	}
	slices.SortFunc(groups, func(a, b string) int { return kmod.GroupRank(a) - kmod.GroupRank(b) })
	var parts []string
	for _, g := range groups {
		parts = append(parts, fmt.Sprintf("%s %d", g, count[g]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// defaultsUsage lists the default set by group for the usage text.
func defaultsUsage() string {
	const indent = "              "
	var groups []string
	byGroup := map[string][]string{}
	for _, d := range image.DefaultModules {
		if byGroup[d.Group] == nil {
			groups = append(groups, d.Group)
		}
		byGroup[d.Group] = append(byGroup[d.Group], d.Name)
	}
	slices.SortStableFunc(groups, func(a, b string) int { return kmod.GroupRank(a) - kmod.GroupRank(b) })
	var lines []string
	for _, g := range groups {
		lines = append(lines, wrap(append([]string{g + ":"}, byGroup[g]...), 60, indent+"  "))
	}
	return strings.Join(lines, "\n"+indent)
}

func size(n int64) string {
	return fmt.Sprintf("%d bytes (%.1f MiB)", n, float64(n)/(1<<20))
}

// human writes n as "1.9 MiB", "12.0 KiB" or "700 bytes".
func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func wrap(words []string, width int, indent string) string {
	var b strings.Builder
	line := 0
	for i, w := range words {
		if i > 0 {
			if line+len(w)+1 > width {
				b.WriteString("\n" + indent)
				line = 0
			} else {
				b.WriteString(" ")
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}
