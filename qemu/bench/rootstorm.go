package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/gobuild"
	"github.com/sidus-go/sidus/qemu/kernel"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/roots"
	"github.com/sidus-go/sidus/server/generation"
)

// The root storm: after the boot storm, the same N nodes of ours
// PXE-booted at once (storm.go's batch) on each of three shared roots in
// turn: the plain busybox tree on the NFS export, a squashfs image of that
// tree on the same export (loop-mounted) and that image in an RBD snapshot
// of a Ceph cluster in the lab. One lab serves the three: a tap and a fixed
// lease per node, nfs-ganesha, dnsmasq's DHCP and TFTP, and the cluster.
// initramfs-tools cannot boot the last two, so ours boots alone, with one
// initrd for the three rows (ours, plus the RBD modules and a cephx
// keyring).

// RootKind is a shared root the root storm boots.
type RootKind string

const (
	RootNFS   RootKind = "nfs"   // the plain tree on the NFS export
	RootImage RootKind = "image" // a squashfs of the tree on the export, loop-mounted (sidus.image=)
	RootRBD   RootKind = "rbd"   // the same squashfs in an RBD snapshot (root=rbd:)
)

// RootKinds are the root storm's rows, in the order they run.
var RootKinds = []RootKind{RootNFS, RootImage, RootRBD}

// Label is the kind's row label in the report.
func (k RootKind) Label() string {
	switch k {
	case RootNFS:
		return "nfs: the plain tree on NFS"
	case RootImage:
		return "image: squashfs on NFS (loop)"
	case RootRBD:
		return "rbd: squashfs in an RBD snapshot"
	}
	return string(k)
}

// DefaultRootStorm is the root storm's node counts when
// Options.RootStorm is nil: one batch of the performance issue's 16 nodes
// per root (three batches of 16 is what the bench's time allows).
var DefaultRootStorm = []int{StormTargetN}

// RootStormSizes returns the node counts of the root storm that
// Options.RootStorm asks for: nil gives DefaultRootStorm; an empty list or
// a single 0 gives none (no root storm). Every other count must be
// 1..MaxStormNodes.
func RootStormSizes(s []int) ([]int, error) {
	if s == nil {
		return slices.Clone(DefaultRootStorm), nil
	}
	if len(s) == 0 || len(s) == 1 && s[0] == 0 {
		return nil, nil
	}
	for _, n := range s {
		if n < 1 || n > MaxStormNodes {
			return nil, fmt.Errorf("Options.RootStorm: %d is not a node count; want 1..%d nodes per batch (a single 0 skips the root storm)", n, MaxStormNodes)
		}
	}
	return slices.Clone(s), nil
}

// ParseNodeCounts turns a command-line flag's value into node counts for
// Options.RootStorm (or Options.Storm): comma-separated counts, each
// 1..MaxStormNodes; "none", "0" or "" give an empty list, which skips the
// part. flag names the flag in errors ("-rootstorm").
func ParseNodeCounts(flag, s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" || s == "0" {
		return []int{}, nil
	}
	var ns []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a node count; want comma-separated positive integers like 1,4,8,16 (or none)", flag, f)
		}
		if n > MaxStormNodes {
			return nil, fmt.Errorf("%s: %d nodes in one batch is more than %d (each is a 512 MB VM)", flag, n, MaxStormNodes)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// Where the root storm puts its roots, and what it packs.
const (
	// RootStormImage is the squashfs file on the NFS export
	// (sidus.image=), where sidus gen publish puts generations.
	RootStormImage = "generations/rootstorm.squashfs"
	// WalkDir is the tree of the metadata walk in the test root
	// (roots.WalkTree: WalkDirs directories of WalkFiles files), which
	// one node per root walks (sidus.test.walk=/WalkDir).
	WalkDir   = "walk"
	WalkDirs  = 200
	WalkFiles = 50
	// RootStormRBDImage and RootStormSnap name the RBD snapshot of the
	// same image in the lab's pool.
	RootStormRBDImage = "rootstorm"
	RootStormSnap     = "gen"
	// RootStormNFSOptions are the NFS mount options of the two NFS rows:
	// the seed's (the boot storm's ours row boots them).
	RootStormNFSOptions = NFSSizes + ",tcp"
	// RBDStatPath is the block statistics of the node's mapped snapshot
	// (the first RBD device of a fresh node), which the test root reports.
	RBDStatPath = "/sys/block/rbd0/stat"
	// RootStormKeyUser is the cephx user packed in the initrd: it may map
	// the pool's images read-only.
	RootStormKeyUser = "node"
)

// RootStormModules are the modules packed beyond our default set, as
// e2e's TestCephRoots packs them.
var RootStormModules = []string{"rbd", "ceph", "dm_verity"}

// RootTargets is what the root storm's kernel command lines name.
type RootTargets struct {
	NFS   string // SERVER:PATH of the NFS export (lab.NFSRoot: the NFSv4 pseudo path)
	Image string // the squashfs file on the export, relative to it
	RBD   string // POOL/IMAGE@SNAP
	Mon   string // a Ceph monitor, IP:PORT
}

// RootStormLine returns kind's kernel command line (pxelinux's APPEND,
// without initrd=: see pxeAppend): the serial console, DHCP, a tmpfs
// upper, panic=5 (a node whose init fails reboots, which ends its VM, as
// QEMU runs with -no-reboot, rather than waiting in the rescue shell until
// the batch's deadline) and the kind's root words. The RBD row's test root
// reports RBDStatPath (sidus.test.report=).
func RootStormLine(kind RootKind, t RootTargets) (string, error) {
	var root string
	need := func(what, v string) error {
		if v == "" {
			return fmt.Errorf("root storm: the %s row needs %s", kind, what)
		}
		return nil
	}
	switch kind {
	case RootNFS, RootImage:
		if err := need("the NFS export (SERVER:PATH)", t.NFS); err != nil {
			return "", err
		}
		root = "root=/dev/nfs nfsroot=" + t.NFS + "," + RootStormNFSOptions
		if kind == RootImage {
			if err := need("the image's path on the export", t.Image); err != nil {
				return "", err
			}
			root += " sidus.image=" + t.Image
		}
	case RootRBD:
		if err := need("the snapshot (POOL/IMAGE@SNAP)", t.RBD); err != nil {
			return "", err
		}
		if err := need("a Ceph monitor", t.Mon); err != nil {
			return "", err
		}
		root = "root=rbd:" + t.RBD + " sidus.ceph.mon=" + t.Mon
	default:
		return "", fmt.Errorf("root storm: unknown root kind %q (want nfs, image or rbd)", kind)
	}
	line := "console=ttyS0 " + root + " ip=dhcp aufs=tmpfs panic=5"
	if kind == RootRBD {
		line += " sidus.test.report=" + RBDStatPath
	}
	return line, nil
}

// BlockReadBytes returns what the console's first "SIDUS-ROOT: file PATH
// CONTENT" line for statPath, a /sys/block/DEV/stat file, says was read
// from the device: its third field (sectors read, in 512-byte units
// whatever the device's block size) × 512. -1 if the console has no such
// line or it is not a stat line (e.g. "<missing>").
func BlockReadBytes(console, statPath string) int64 {
	prefix := "SIDUS-ROOT: file " + statPath + " "
	for _, line := range strings.Split(console, "\n") {
		i := strings.Index(line, prefix)
		if i < 0 {
			continue
		}
		rest := strings.TrimSuffix(strings.TrimSpace(line[i+len(prefix):]), `\n`)
		f := strings.Fields(rest)
		// Linux has 11 fields since 2.6, 15 since 4.18, 17 since 5.5.
		if len(f) < 11 {
			return -1
		}
		for _, x := range f {
			if _, err := strconv.ParseUint(x, 10, 64); err != nil {
				return -1
			}
		}
		sectors, _ := strconv.ParseInt(f[2], 10, 64)
		return sectors * 512
	}
	return -1
}

// rootReadBytes is what one node of kind read from its root's server, by
// its console: the NFS bytes of the test root for the NFS rows, the RBD
// device's reads for the RBD row (-1: unknown).
func rootReadBytes(kind RootKind, console string) int64 {
	if kind == RootRBD {
		return BlockReadBytes(console, RBDStatPath)
	}
	return NFSBytes(console)
}

// RootStorm is the root storm's result.
type RootStorm struct {
	Sizes   []int        // the node counts asked for
	Batches []*RootBatch // in the order they ran
	// Skipped says why the root storm did not run, or stopped ("": it
	// ran).
	Skipped    string
	Initrd     string // the initrd of every row
	InitrdSize int64
	ImageSize  int64 // the squashfs image's bytes
	// Setup is the time from the root storm's start to its first batch:
	// the image, the lab, the Ceph cluster and the initrd.
	Setup   time.Duration
	Elapsed time.Duration // the root storm's wall time, its lab included
	// Walks are the metadata walks, one node per root kind, in RootKinds
	// order.
	Walks []RootWalk
	// Debian are the Debian nodes' reads, one per root kind (debnode.go).
	Debian []DebianRead
}

// RootWalk is one node's metadata walk of /WalkDir (find -exec stat),
// cold (just booted) then warm (again at once).
type RootWalk struct {
	Kind       RootKind
	Entries    int
	Cold, Warm float64 // seconds; Cold < 0: no walk line on the console
}

var walkRe = regexp.MustCompile(`SIDUS-ROOT: walk \S+ (cold|warm) entries=(\d+) seconds=([0-9.]+)`)

// ParseWalk reads the test root's two walk lines from a console; cold and
// warm are -1 when their line is missing.
func ParseWalk(console string) (entries int, cold, warm float64) {
	cold, warm = -1, -1
	for _, m := range walkRe.FindAllStringSubmatch(console, -1) {
		n, _ := strconv.Atoi(m[2])
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		entries = n
		if m[1] == "cold" {
			cold = v
		} else {
			warm = v
		}
	}
	return entries, cold, warm
}

// RootBatch is one batch of the root storm: N nodes of ours on one root.
type RootBatch struct {
	Kind   RootKind
	Append string // pxelinux's APPEND line
	Batch  *StormBatch
	// Read is, per node (in Batch.Nodes order), the bytes it read from
	// its root's server (rootReadBytes; -1: unknown).
	Read []int64
}

// N is the batch's node count.
func (b *RootBatch) N() int { return b.Batch.N }

// rootInit summarizes the times until the nodes that got there reached
// their root's init.
func (b *RootBatch) rootInit() Summary {
	var xs []float64
	for _, n := range b.Batch.Nodes {
		xs = append(xs, n.RootInit)
	}
	return Summarize(xs)
}

// read summarizes the nodes' known Read figures.
func (b *RootBatch) read() Summary {
	var xs []float64
	for _, r := range b.Read {
		xs = append(xs, float64(r))
	}
	return Summarize(xs)
}

// complete reports whether every node reached its root's init.
func (b *RootBatch) complete() bool { return b.Batch.Last() >= 0 }

// find returns the batch of kind with n nodes, or nil.
func (rs *RootStorm) find(kind RootKind, n int) *RootBatch {
	for _, b := range rs.Batches {
		if b.Kind == kind && b.N() == n {
			return b
		}
	}
	return nil
}

// ns returns the batches' node counts, in the order they first ran.
func (rs *RootStorm) ns() []int {
	var ns []int
	for _, b := range rs.Batches {
		if !slices.Contains(ns, b.N()) {
			ns = append(ns, b.N())
		}
	}
	return ns
}

// rootStormTitle is the section's heading.
func rootStormTitle(ns []int) string {
	nodes := "ours"
	if len(ns) > 0 {
		var s []string
		for _, n := range ns {
			s = append(s, strconv.Itoa(n))
		}
		nodes = strings.Join(s, ", ") + " nodes, ours"
	}
	return "Root storm (" + nodes + "): plain NFS tree vs squashfs on NFS vs RBD"
}

// rootStormMarkdown renders the root storm's section (nothing if the
// report has none), one table per node count.
func (r *Report) rootStormMarkdown(p func(string, ...any)) {
	rs := r.Roots
	if rs == nil {
		return
	}
	if len(rs.Batches) == 0 {
		p("\n## %s\n\nNot run: %s.\n", rootStormTitle(rs.Sizes), rs.Skipped)
		return
	}
	for _, n := range rs.ns() {
		p("\n## %s\n\n", rootStormTitle([]int{n}))
		p("%d nodes of ours PXE-booted at once on each shared root in turn: the time until they reached their root's init (s, host clock from just before the first VM started; median and last node) and what each read from its root's server (median over the nodes), with each row's ratio to the plain NFS tree's (below 1: faster or less).\n\n", n)
		p("| root | nodes at root's init | median root's init (s) | last root's init (s) | read from the server per node | median / nfs | last / nfs | read / nfs |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|\n")
		base := rs.find(RootNFS, n)
		for _, kind := range RootKinds {
			b := rs.find(kind, n)
			if b == nil {
				p("| %s | not run | | | | | | |\n", kind.Label())
				continue
			}
			last, ok := b.Batch.lastOK()
			lastS := "n/a"
			if ok > 0 {
				lastS = fmt.Sprintf("%.1f", last)
			}
			p("| %s | %d/%d | %s | %s | %s | %s | %s | %s |\n", kind.Label(), ok, b.N(),
				medianCell(b.rootInit()),
				lastS, bytesOrNA(b.read()),
				rootRatio(b, base, func(b *RootBatch) float64 { return b.rootInit().Median }, true),
				rootRatio(b, base, func(b *RootBatch) float64 { return b.Batch.Last() }, true),
				rootRatio(b, base, func(b *RootBatch) float64 { return readMedian(b) }, false))
		}
	}
	if len(rs.Walks) > 0 {
		p("\n### Metadata walk (one node per root)\n\n")
		p("One node per root walks `/%s` (%d directories of %d 64-byte files, through the union) with `find -xdev -exec stat`, just after its init started (cold) and again at once (warm), timed by the guest's /proc/uptime (s).\n\n", WalkDir, WalkDirs, WalkFiles)
		p("| root | entries | cold (s) | warm (s) | cold / nfs |\n|---|---:|---:|---:|---:|\n")
		var base float64 = -1
		for _, w := range rs.Walks {
			if w.Kind == RootNFS {
				base = w.Cold
			}
		}
		for _, w := range rs.Walks {
			cell := func(v float64) string {
				if v < 0 {
					return "n/a"
				}
				return fmt.Sprintf("%.2f", v)
			}
			ratio := "n/a"
			if w.Cold > 0 && base > 0 {
				ratio = fmt.Sprintf("%.2f", w.Cold/base)
			}
			p("| %s | %d | %s | %s | %s |\n", w.Kind.Label(), w.Entries, cell(w.Cold), cell(w.Warm), ratio)
		}
	}
	debianMarkdown(p, rs.Debian)
	p("\nRead from the server: for nfs and image, the test root's `SIDUS-ROOT: nfsbytes` line, the bytes sent and received over its NFS mounts (RPC level, /proc/self/mountstats) when its init started (for image, the export stays mounted under the loop device, at /run/sidus/nfs, so its reads of the image count); for rbd, the sectors read × 512 of `%s` (its third field), which the test root reports (`sidus.test.report=`) just after its init started: what the kernel's RBD client read from the OSDs, without the messenger's framing or the monitors' traffic. n/a: the console lacks the figure.\n", RBDStatPath)

	var failed []string
	for _, b := range rs.Batches {
		for _, n := range b.Batch.Failed() {
			failed = append(failed, fmt.Sprintf("- %s N=%d, %s (%s): %s", b.Kind, b.N(), n.Host.Hostname, n.Host.IP, firstLine(n.Err)))
		}
	}
	if len(failed) > 0 {
		p("\nFailed nodes (a row where one did not reach its root's init has no time ratios; its times are of the nodes that got there):\n\n%s\n", strings.Join(failed, "\n"))
	}
	if rs.Skipped != "" {
		p("\nThe root storm stopped early: %s.\n", rs.Skipped)
	}

	spread, boots := time.Duration(0), 0
	for _, b := range rs.Batches {
		spread = max(spread, b.Batch.Spread)
		boots += b.N()
	}
	cpus := "the host's CPUs"
	if r.CPUs > 0 {
		cpus = fmt.Sprintf("the host's %d CPUs", r.CPUs)
	}
	image := ""
	if rs.ImageSize > 0 {
		image = ", " + humanBytes(float64(rs.ImageSize))
	}
	initrd := ""
	if rs.InitrdSize > 0 {
		initrd = " (" + mb(rs.InitrdSize) + ")"
	}
	p("\nHow it was run: one lab for the three roots, started once the other labs were torn down, with a tap and a fixed lease per node: nfs-ganesha exports a copy of the busybox test root holding the tree's squashfs image (`mksquashfs -comp zstd`%s) at `%s`, and a Ceph cluster in the lab (one monitor, one manager, one metadata server, %s, pool `%s` with two copies) holds the same image as the protected snapshot `%s/%s@%s` (`rbd import`). ",
		image, RootStormImage, "two BlueStore OSDs on files", lab.DefaultRBDPool, lab.DefaultRBDPool, RootStormRBDImage, RootStormSnap)
	p("One initrd for the three rows%s: ours as in the main table plus the modules %s and a read-only cephx keyring (`client.%s`, `profile rbd-read-only` on the pool). ", initrd, "`"+strings.Join(RootStormModules, "`, `")+"`", RootStormKeyUser)
	p("Each batch PXE-boots its N VMs as the boot storm does (QEMU's iPXE, dnsmasq's TFTP, pxelinux, the row's `APPEND` below), all powered on within %.2f s (the widest of the batches); the rows run in the order nfs, image, rbd, with the Ceph cluster up for all three; QEMU TCG, 1 vCPU and 512 MB per VM, and the N VMs and the servers share %s. Each node is waited for until its root's init reports and powers off, and every VM is killed before the next batch. `panic=5`: a node whose init fails reboots, which ends its VM (-no-reboot), rather than waiting in the rescue shell.\n\n", spread.Seconds(), cpus)
	for _, kind := range RootKinds {
		for _, b := range rs.Batches {
			if b.Kind == kind {
				p("- %s: `%s`\n", kind, b.Append)
				break
			}
		}
	}
	if rs.Elapsed > 0 {
		p("\nRoot storm wall time: %v (%d boots in %d batches; its setup — the image, the lab, the Ceph cluster and the initrd — %v).\n",
			rs.Elapsed.Round(time.Second), boots, len(rs.Batches), rs.Setup.Round(time.Second))
	}
}

// medianCell is the median to 0.1, or "n/a".
func medianCell(s Summary) string {
	if s.N == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", s.Median)
}

func readMedian(b *RootBatch) float64 {
	s := b.read()
	if s.N == 0 {
		return -1
	}
	return s.Median
}

// rootRatio is f(b)/f(base) ("n/a" without a base or a figure); with
// whole, only when both batches are complete.
func rootRatio(b, base *RootBatch, f func(*RootBatch) float64, whole bool) string {
	if base == nil || whole && (!b.complete() || !base.complete()) {
		return "n/a"
	}
	return ratio(f(b), f(base))
}

// rootStormPart is Run's root storm: it records in rep the batches that
// ran, or why none did. Only the context's end is an error.
func rootStormPart(ctx context.Context, o Options, k *kernel.Info, rootDir, dir string, rep *Report, sizes []int, logf func(string, ...any)) error {
	rs := &RootStorm{Sizes: sizes}
	rep.Roots = rs
	if len(sizes) == 0 {
		rs.Skipped = "not requested (Options.RootStorm, -rootstorm none)"
		return nil
	}
	if rep.Ours < 0 || rep.Ours >= len(rep.Variants) || len(rep.Variants[rep.Ours].Boots) == 0 {
		rs.Skipped = "our initrd did not boot in the main table"
		return nil
	}
	if err := runRootStorm(ctx, o, k, rootDir, dir, rs, logf); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rs.Skipped = firstLine(err.Error())
		logf("root storm: %v", err)
	}
	return nil
}

// runRootStorm builds the image, starts the lab (max(sizes) taps, fixed
// leases, NFS, DHCP/TFTP) and its Ceph cluster, packs the initrd and runs,
// for each node count, a batch per root kind. The batches run so far are
// in rs, whatever the error; every process it starts is the lab's or a
// VM's, torn down by PID.
func runRootStorm(ctx context.Context, o Options, k *kernel.Info, rootDir, dir string, rs *RootStorm, logf func(string, ...any)) error {
	start := time.Now()
	defer func() {
		rs.Elapsed = time.Since(start)
		logf("root storm: %d batches in %v", len(rs.Batches), rs.Elapsed.Round(time.Second))
	}()
	maxN := 0
	for _, n := range rs.Sizes {
		maxN = max(maxN, n)
	}
	var hosts []lab.DHCPHost
	for i := range maxN {
		hosts = append(hosts, StormHost(i))
	}
	work := filepath.Join(dir, "rootstorm")
	export := filepath.Join(work, "export")
	tftp := filepath.Join(work, "tftp")
	for _, d := range []string{filepath.Dir(filepath.Join(export, RootStormImage)), tftp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	// The export: the test root and, beside its tree, the tree's squashfs.
	run := func(argv ...string) error {
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := run("cp", "-a", rootDir+"/.", export+"/"); err != nil {
		return err
	}
	if err := roots.WalkTree(filepath.Join(export, WalkDir), WalkDirs, WalkFiles); err != nil {
		return err
	}
	img := filepath.Join(export, RootStormImage)
	if err := run(generation.MksquashfsCmd(export, img, []string{filepath.Dir(RootStormImage)}).Args...); err != nil {
		return err
	}
	if fi, err := os.Stat(img); err == nil {
		rs.ImageSize = fi.Size()
	}

	p := qemu.NewProcess(o.Log)
	defer p.Close()
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	l, err := lab.StartProcess(p, lab.Options{RootDir: export, TFTPDir: tftp, Taps: maxN, Hosts: hosts})
	if err != nil {
		return fmt.Errorf("root storm lab (%d taps, TFTP from %s): %w", maxN, tftp, err)
	}
	c, err := l.StartCeph(lab.CephOptions{})
	if err != nil {
		return fmt.Errorf("root storm: Ceph cluster: %w", err)
	}
	snap := c.Pool + "/" + RootStormRBDImage + "@" + RootStormSnap
	for _, s := range [][]string{
		{"import", img, c.Pool + "/" + RootStormRBDImage},
		{"snap", "create", snap},
		{"snap", "protect", snap},
	} {
		if _, err := c.RBD(s...); err != nil {
			return fmt.Errorf("root storm: %w", err)
		}
	}
	key, err := c.ReadOnlyRBDClient(RootStormKeyUser)
	if err != nil {
		return fmt.Errorf("root storm: %w", err)
	}
	ring := filepath.Join(work, "ceph.keyring")
	if err := os.WriteFile(ring, key, 0o600); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t0 := time.Now()
	rs.Initrd, err = gobuild.Initrd(gobuild.InitrdOptions{Dir: filepath.Join(dir, "sidus"), Kernel: k, Shell: roots.BusyboxPath,
		Modules: RootStormModules, CephKeyring: ring, Out: filepath.Join(work, "initrd.img-Sidus-ceph")})
	if err != nil {
		return fmt.Errorf("root storm initrd: %w", err)
	}
	if fi, err := os.Stat(rs.Initrd); err == nil {
		rs.InitrdSize = fi.Size()
	}
	logf("root storm: built %s (%s) in %v", rs.Initrd, mb(rs.InitrdSize), time.Since(t0).Round(time.Millisecond))
	targets := RootTargets{NFS: l.NFSRoot(), Image: RootStormImage, RBD: snap, Mon: c.Mon}
	rs.Setup = time.Since(start)
	logf("root storm: image %s (%s), Ceph mon %s, snapshot %s; set up in %v", RootStormImage, humanBytes(float64(rs.ImageSize)), c.Mon, snap, rs.Setup.Round(time.Second))

	for _, n := range rs.Sizes {
		for _, kind := range RootKinds {
			if err := ctx.Err(); err != nil {
				return err
			}
			line, err := RootStormLine(kind, targets)
			if err != nil {
				return err
			}
			rb := &RootBatch{Kind: kind, Append: pxeAppend(line), Read: make([]int64, n)}
			for i := range rb.Read {
				rb.Read[i] = -1
			}
			env := stormEnv{p: p, lab: l, k: k, tftp: tftp, o: o,
				logf:      func(f string, a ...any) { logf("root storm, "+string(kind)+" root: "+f, a...) },
				onConsole: func(i int, console string) { rb.Read[i] = rootReadBytes(kind, console) }}
			v := &Variant{Name: "ours, root " + string(kind), Initrd: rs.Initrd, CPU: o.CPU, Ours: true, Append: line}
			b, err := env.batch(ctx, v, hosts[:n])
			if b != nil {
				rb.Batch = b
				rs.Batches = append(rs.Batches, rb)
				last, ok := b.lastOK()
				logf("root storm, %s root, N=%d: %d/%d nodes at their root's init, median %s s, last %.1f s; read from the server per node (median) %s",
					kind, n, ok, n, medianCell(rb.rootInit()), last, bytesOrNA(rb.read()))
			}
			if err != nil {
				return err
			}
		}
	}
	// The metadata walk: one node per root.
	for _, kind := range RootKinds {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := RootStormLine(kind, targets)
		if err != nil {
			return err
		}
		line += " sidus.test.walk=/" + WalkDir
		w := RootWalk{Kind: kind, Cold: -1, Warm: -1}
		env := stormEnv{p: p, lab: l, k: k, tftp: tftp, o: o,
			logf:      func(f string, a ...any) { logf("metadata walk, "+string(kind)+" root: "+f, a...) },
			onConsole: func(_ int, console string) { w.Entries, w.Cold, w.Warm = ParseWalk(console) }}
		v := &Variant{Name: "ours, walk " + string(kind), Initrd: rs.Initrd, CPU: o.CPU, Ours: true, Append: line}
		_, err = env.batch(ctx, v, hosts[:1])
		rs.Walks = append(rs.Walks, w)
		logf("metadata walk, %s root: %d entries, cold %.2f s, warm %.2f s", kind, w.Entries, w.Cold, w.Warm)
		if err != nil {
			return err
		}
	}
	rs.Debian, err = debianNodes(ctx, p, l, c, k, rs.Initrd, export, o, logf)
	return err
}
