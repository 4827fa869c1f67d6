// Package bench is `make bench`: it builds three initrds for the same
// Debian kernel — ours (sidus-mkinitramfs), Debian's initramfs-tools
// (BOOT=nfs, MODULES=netboot, a rootaufs-style overlayfs hook) and dracut
// (nfs + network-legacy + overlay-root) — boots each N times, alternating,
// against one lab (nfs-ganesha + dnsmasq in a network namespace), reads
// the serial consoles and writes a table of boot times, PID 1 peak memory
// and initrd sizes (BENCHMARKS.md). Then a boot storm: N nodes (1, 4, 8,
// 16) PXE-booted at once from the lab's dnsmasq TFTP and pxelinux, ours
// and initramfs-tools in turn, timed to the last node's root init (a
// section of the report and a plot, BENCHMARKS-storm.png; see storm.go).
// Then the root storm: 16 nodes of ours at once on the plain NFS tree, on
// a squashfs of it on NFS and on that squashfs in an RBD snapshot of a
// Ceph cluster in the lab (a section of the report; see rootstorm.go).
//
// Host needs, beyond the lab's: the packages of apt-packages.txt, which
// `make bench` installs (and nfs-common for dracut's mount.nfs).
package bench

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/gobuild"
	"github.com/sidus-go/sidus/qemu/internal/osutil"
	"github.com/sidus-go/sidus/qemu/kernel"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/pxe"
	"github.com/sidus-go/sidus/qemu/roots"
	"github.com/sidus-go/sidus/qemu/vm"
)

// NFSSizes are the NFS read and write sizes of every row: the seed's
// APPEND line's (ours boots it verbatim), given to the baselines too.
const NFSSizes = "rsize=8192,wsize=8192"

// Options configure Run.
type Options struct {
	// N is the number of boots per row (0 → 3: with the storm, make
	// bench stays under 20 minutes on 2 cores).
	N int
	// Out is the Markdown file to write ("" → none; the table is always
	// printed to Log).
	Out string
	// Storm is the boot storm's node counts, one batch per count and
	// initrd (nil → DefaultStorm, {1, 4, 8, 16}; an empty list or a single
	// 0 skips the storm). See StormSizes.
	Storm []int
	// RootStorm is the root storm's node counts, one batch per count and
	// shared root (the plain NFS tree, a squashfs on NFS, the squashfs on
	// RBD), ours only, after the storm (nil → DefaultRootStorm, {16}; an
	// empty list or a single 0 skips it). See RootStormSizes and
	// rootstorm.go.
	RootStorm []int
	// Plot is the storm's PNG ("" → BENCHMARKS-storm.png next to Out, or
	// none if Out is ""); the Markdown embeds it.
	Plot string
	// Log receives progress and the consoles (nil → os.Stdout).
	Log io.Writer
	// Dir is the work folder ("" → a temporary one, removed at the end).
	Dir string
	// ConsoleDir, if set, receives every boot's console as
	// NAME-RUN.log (raw lines, as Parse reads them).
	ConsoleDir string
	// CPU is QEMU's -cpu for the three main rows ("" → "max", which has
	// RDRAND; the baselines were measured that way in LAB.md).
	CPU string
	// NoRDRANDCPU is the CPU of the extra row, ours without RDRAND
	// ("" → "qemu64,-rdrand"; "-" drops the row).
	NoRDRANDCPU string
	// NoDracut skips dracut (its row says so).
	NoDracut bool
	// BootTimeout bounds one boot (0 → 150 s).
	BootTimeout time.Duration
	// Kernel is the guest kernel (nil → kernel.Default()).
	Kernel *kernel.Info
	// Console copies each console line to Log as it comes.
	Console bool
}

// Run builds the initrds, boots them, runs the boot storm (o.Storm) and
// the root storm (o.RootStorm), prints the report to o.Log and writes it
// to o.Out and the storm's plot to o.Plot. A storm that cannot run is said
// so in the report; the main table is kept.
func Run(ctx context.Context, o Options) (err error) {
	start := time.Now()
	if o.N <= 0 {
		o.N = 3
	}
	storm, err := StormSizes(o.Storm)
	if err != nil {
		return err
	}
	rootStorm, err := RootStormSizes(o.RootStorm)
	if err != nil {
		return err
	}
	if o.Plot == "" {
		o.Plot = defaultPlot(o.Out)
	}
	if o.Log == nil {
		o.Log = os.Stdout
	}
	if o.CPU == "" {
		o.CPU = "max"
	}
	if o.NoRDRANDCPU == "" {
		o.NoRDRANDCPU = "qemu64,-rdrand"
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = 150 * time.Second
	}
	logf := func(format string, a ...any) { fmt.Fprintf(o.Log, "bench: "+format+"\n", a...) }
	if miss := missing(o.NoDracut); len(miss) > 0 {
		return fmt.Errorf("bench needs: %s", strings.Join(miss, ", "))
	}

	p := qemu.NewProcess(o.Log)
	defer p.Close()
	// The context's end (a signal) tears down the lab and the VM.
	stopWatch := context.AfterFunc(ctx, func() { logf("interrupted: tearing down") })
	defer stopWatch()

	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sidus-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if o.ConsoleDir != "" {
		if err := os.MkdirAll(o.ConsoleDir, 0o755); err != nil {
			return err
		}
	}
	// One bench at a time: the kernel-tree mount points are shared.
	unlock, err := osutil.Flock(filepath.Join(os.TempDir(), "sidus-bench.lock"))
	if err != nil {
		return err
	}
	defer unlock()

	k := o.Kernel
	if k == nil {
		if k, err = kernel.Default(); err != nil {
			return err
		}
	}
	logf("kernel %s (%s)", k.Version, k.Vmlinuz)

	// The test root, exported over NFS.
	rootDir := filepath.Join(dir, "root")
	if err := roots.Busybox(rootDir); err != nil {
		return err
	}

	// Build the three initrds.
	t0 := time.Now()
	// The README's recipe (qemu/gobuild's recipe test checks the bytes):
	// the multi-call init, which is also the agent, and a rescue shell.
	ours, err := gobuild.Initrd(gobuild.InitrdOptions{Dir: filepath.Join(dir, "sidus"), Kernel: k, Shell: roots.BusyboxPath})
	if err != nil {
		return err
	}
	logf("built %s in %v", ours, time.Since(t0).Round(time.Millisecond))
	if err := ctx.Err(); err != nil {
		return err
	}
	t0 = time.Now()
	itools := filepath.Join(dir, "initrd.img-initramfs-tools")
	if err := BuildInitramfsTools(ctx, k, dir, itools, logf); err != nil {
		return fmt.Errorf("initramfs-tools: %w", err)
	}
	logf("built %s in %v", itools, time.Since(t0).Round(time.Millisecond))
	dracut := filepath.Join(dir, "initrd.img-dracut")
	dracutSkip := ""
	if o.NoDracut {
		dracutSkip = "not requested (Options.NoDracut)"
	} else {
		t0 = time.Now()
		if err := BuildDracut(ctx, k, dir, dracut, logf); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			dracutSkip = "dracut failed to build the image: " + firstLine(err.Error())
			logf("dracut: %v", err)
		} else {
			logf("built %s in %v", dracut, time.Since(t0).Round(time.Millisecond))
		}
	}

	// The lab: option 17 is the seed's path (NFSv4 pseudo path).
	lab, err := lab.StartProcess(p, lab.Options{RootDir: rootDir, RootPath: lab.NFSPseudo})
	if err != nil {
		return err
	}
	stopLab := context.AfterFunc(ctx, func() { p.Close() })
	defer stopLab()

	seed := pxe.SerialConsole(cmdline.SeedTmpfs)
	rep := &Report{Date: time.Now(), Machine: machine(), Kernel: k.Version, QEMU: qemuVersion(), N: o.N,
		Ours: 0, ITools: 1, Dracut: 2, CPUs: runtime.NumCPU()}
	rep.Variants = []*Variant{
		{Name: "ours (SIDUS-Go)", Initrd: ours, CPU: o.CPU, Ours: true, Append: seed,
			Note: "the README's recipe (`sidus-mkinitramfs` with its default module set, the stripped multi-call init packed once as init and agent, busybox as rescue shell; the same bytes, checked by `make test`), zstd at its best-compression level; booted with the seed's tmpfs APPEND line verbatim (DHCP option 17 gives the path, next-server the server; NFSv4)"},
		{Name: "initramfs-tools", Initrd: itools, CPU: o.CPU,
			Append: fmt.Sprintf("console=ttyS0 root=/dev/nfs nfsroot=%s:%s,%s,tcp ip=dhcp aufs=tmpfs", lab.ServerIP, lab.NFSv3Path, NFSSizes),
			Note:   "Debian's `mkinitramfs -d CONFDIR` with `BOOT=nfs MODULES=netboot COMPRESS=zstd` (zstd -19, `COMPRESSLEVEL=19`, as ours), `overlay` in `modules` and a rootaufs-style nfs-bottom script (NFS moved to /ro, tmpfs at /rw, overlayfs at /aufs, /ro and /rw moved under it, /aufs moved to ${rootmnt}); klibc's nfsmount does NFSv2/v3 only, so nfsroot= names the export's real path (NFSv3)"},
		{Name: "dracut", Initrd: dracut, CPU: o.CPU, Skipped: dracutSkip,
			Append: fmt.Sprintf("console=ttyS0 root=nfs:%s:%s:%s ip=dhcp rootovl", lab.ServerIP, lab.NFSv4Path, NFSSizes),
			Note:   "Debian's dracut 059 (`dracut-core`, `dracut-network`): `dracut --no-hostonly -m \"" + strings.Join(DracutModules, " ") + "\" --add-drivers \"" + strings.Join(DracutDrivers, " ") + "\" --zstd` (zstd -15) with the host's dracut.conf ignored; the network module's handler is network-legacy (dhclient), which a non-systemd initrd uses; `rootovl` makes Debian's overlay-root module put a tmpfs-backed overlayfs over the NFS root in a pre-pivot hook (mount.nfs negotiates NFSv4)"},
	}
	if o.NoRDRANDCPU != "-" {
		rep.Variants = append(rep.Variants, &Variant{Name: "ours, no RDRAND", Initrd: ours, CPU: o.NoRDRANDCPU,
			Ours: true, Append: seed, Note: "the same initrd and line as the first row, on a CPU model without RDRAND: early-boot entropy does not slow our boot"})
	}
	for _, v := range rep.Variants {
		v.Modules = -1
		if v.Skipped != "" {
			continue
		}
		fi, err := os.Stat(v.Initrd)
		if err != nil {
			return err
		}
		v.Size = fi.Size()
		v.Modules = countModules(ctx, v.Initrd)
		logf("%s: %s, %d modules, %s", v.Name, v.Initrd, v.Modules, mb(v.Size))
	}

	// Boot: A B C D, A B C D, ...
	for run := 1; run <= o.N; run++ {
		for _, v := range rep.Variants {
			if v.Skipped != "" {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			b, wall, console, err := boot(ctx, p, lab, k, v, o)
			if o.ConsoleDir != "" && console != "" {
				name := fmt.Sprintf("%s-%d.log", slug(v.Name), run)
				if werr := os.WriteFile(filepath.Join(o.ConsoleDir, name), []byte(console+"\n"), 0o644); werr != nil {
					logf("%v", werr)
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				v.Failed = append(v.Failed, fmt.Sprintf("run %d: %v", run, err))
				logf("%s run %d/%d: FAILED: %v", v.Name, run, o.N, err)
				continue
			}
			v.Boots = append(v.Boots, b)
			v.Walls = append(v.Walls, wall)
			logf("%s run %d/%d: /init at %.2f s, root's init at %.2f s, VmHWM %d kB (%v wall)",
				v.Name, run, o.N, b.RunInit, b.RootInit, b.VmHWMkB, wall.Round(time.Millisecond))
		}
		// A boot that cannot work (e.g. dracut here) is not retried N times.
		for _, v := range rep.Variants {
			if v.Skipped == "" && len(v.Boots) == 0 && len(v.Failed) >= 2 {
				v.Skipped = fmt.Sprintf("its first %d boots failed (see below)", len(v.Failed))
			}
		}
	}
	p.Close()

	// The boot storm, on a lab of its own (max N taps, fixed leases).
	if len(storm) == 0 {
		rep.StormSkipped = "not requested (Options.Storm, -storm none)"
	} else if err := runStorm(ctx, o, k, rootDir, dir, rep, storm, logf); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rep.StormSkipped = firstLine(err.Error())
		logf("storm: %v", err)
	}
	// The root storm, on a lab of its own with a Ceph cluster.
	if err := rootStormPart(ctx, o, k, rootDir, dir, rep, rootStorm, logf); err != nil {
		return err
	}
	if pts := StormPoints(rep.Storm); len(pts) > 0 && o.Plot != "" {
		if png, err := StormPlot(pts); err != nil {
			logf("%v", err)
		} else if err := os.WriteFile(o.Plot, png, 0o644); err != nil {
			logf("storm plot: %v", err)
		} else {
			rep.StormPlot = plotLink(o.Out, o.Plot)
			logf("wrote %s", o.Plot)
		}
	}
	rep.Notes = notes(rep)
	rep.Elapsed = time.Since(start)
	md := rep.Markdown()
	fmt.Fprintln(o.Log)
	fmt.Fprint(o.Log, md)
	if o.Out != "" {
		md = KeepTail(md, o.Out)
		if err := os.WriteFile(o.Out, []byte(md), 0o644); err != nil {
			return err
		}
		logf("wrote %s", o.Out)
	}
	if rep.Variants[0].Skipped != "" || len(rep.Variants[0].Boots) == 0 {
		return errors.New("our initrd did not boot")
	}
	return nil
}

// boot boots v once and parses its console. wall is QEMU's start to the
// root's init line, on the host clock.
func boot(ctx context.Context, p *qemu.Process, lab *lab.Lab, k *kernel.Info, v *Variant, o Options) (Boot, time.Duration, string, error) {
	qo := vm.Options{Kernel: k.Vmlinuz, Initrd: v.Initrd, Append: v.Append, CPU: v.CPU,
		NoReboot: true, NetDevs: []vm.NetDev{lab.NetDev(0)}}
	var out io.Writer = io.Discard
	if o.Console {
		out = o.Log
	}
	vm, err := vm.StartProcess(p, lab, qo, out, nil)
	if err != nil {
		return Boot{}, 0, "", err
	}
	defer vm.Kill()
	stop := context.AfterFunc(ctx, vm.Kill)
	defer stop()
	_, err = vm.Expect(`SIDUS-ROOT: init-started uptime=`, o.BootTimeout)
	wall := time.Since(vm.Start)
	if err == nil {
		// The root's init reports and powers off; wait for it so that
		// the figures printed after the start line are on the console.
		_, err = vm.Expect(`SIDUS-ROOT: done`, 60*time.Second)
		vm.Wait(30 * time.Second)
	}
	console := vm.Console()
	if err != nil {
		return Boot{}, wall, console, fmt.Errorf("%v; last lines:\n%s", err, vm.Tail(15))
	}
	b, err := Parse(console)
	return b, wall, console, err
}

func notes(r *Report) []string {
	n := []string{
		"Times are guest uptimes from the serial console: the kernel's `Run /init as init process` line (printk time stamp) and the test root's `SIDUS-ROOT: init-started uptime=` line (/proc/uptime). QEMU TCG is far slower than hardware, so absolute times are not a real node's; every row pays the same emulation cost, so the ratios are the point.",
		"PID 1 VmHWM is the peak resident set of the initramfs' PID 1 (sidus-init; the /init shell for the baselines), read from /proc/1/status just before the switch to the root: it does not count udevd, dhclient, ipconfig or nfsmount, which the baselines run as child processes.",
		"Compressed sizes are the files given to QEMU's -initrd; `modules` counts the .ko files `lsinitrd` lists.",
	}
	if hooks := hostHooks(); len(hooks) > 0 {
		n = append(n, "initramfs-tools runs every hook the host's packages install in "+initramfsHookDir+", whatever its configuration: here "+strings.Join(hooks, ", ")+
			" (lvm2 and dmsetup come with ceph-osd, which the lab's Ceph cluster needs; they add lvm, dmsetup and the device-mapper modules, about 2 MB of its image).")
	}
	for _, v := range r.Variants {
		if len(v.Failed) > 0 {
			n = append(n, fmt.Sprintf("%s: %d of %d boots failed; the figures are from the others.", v.Name, len(v.Failed), len(v.Failed)+len(v.Boots)))
		}
	}
	return n
}

// aptPackages is what bench needs beyond the harness: the list `make
// bench` installs.
//
//go:embed apt-packages.txt
var aptPackages string

// missing lists what bench and the harness need and this host lacks;
// without dracut, dracut itself and its modules are not needed (lsinitrd,
// which counts the modules of every image, still is).
func missing(noDracut bool) []string {
	needs := qemu.ParseNeeds(aptPackages)
	if noDracut {
		for i, n := range needs {
			needs[i].Uses = slices.DeleteFunc(slices.Clone(n.Uses), func(use string) bool { return strings.Contains(use, "dracut") })
		}
	}
	return append(qemu.MissingOf(needs), qemu.Missing()...)
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u syscall.Utsname
	host := ""
	if syscall.Uname(&u) == nil {
		host = ", host kernel " + utsString(u.Release[:])
	}
	return fmt.Sprintf("%d × %s (nproc %d)%s", runtime.NumCPU(), model, runtime.NumCPU(), host)
}

func utsString(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func qemuVersion() string {
	out, err := exec.Command("qemu-system-x86_64", "--version").Output()
	if err != nil {
		return ""
	}
	return firstLine(string(out))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// KeptMarker starts the part of BENCHMARKS.md that measurements outside
// make bench wrote (the live tree's cost, from make test): a new bench
// report keeps it.
const KeptMarker = "<!-- kept by make bench: measured by make test -->"

// KeepTail appends to md the part of the file at path from KeptMarker on,
// if it has one.
func KeepTail(md, path string) string {
	old, err := os.ReadFile(path)
	if err != nil {
		return md
	}
	if i := strings.Index(string(old), KeptMarker); i >= 0 {
		return strings.TrimRight(md, "\n") + "\n\n" + string(old[i:])
	}
	return md
}

// initramfsHookDir is where Debian's packages put their initramfs-tools
// hooks.
const initramfsHookDir = "/usr/share/initramfs-tools/hooks"

// hostHooks lists the initramfs-tools hooks of this host (sorted names).
func hostHooks() []string {
	ents, err := os.ReadDir(initramfsHookDir)
	if err != nil {
		return nil
	}
	var hooks []string
	for _, e := range ents {
		if !e.IsDir() {
			hooks = append(hooks, e.Name())
		}
	}
	return hooks
}
