package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/kernel"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/pxe"
	"github.com/sidus-go/sidus/qemu/vm"
)

// The boot storm: after the main table, N nodes of one initrd are
// PXE-booted at once (QEMU's iPXE → dnsmasq's TFTP → pxelinux → the
// kernel and the initrd → the NFS root), as when a rack is powered on,
// for ours and initramfs-tools in turn, against one lab of the storm's
// own, started once the main table's is torn down.

// DefaultStorm is the storm's node counts when Options.Storm is nil.
var DefaultStorm = []int{1, 4, 8, 16}

// MaxStormNodes bounds a storm batch: each node is a 512 MB TCG VM with a
// tap and a fixed lease of its own.
const MaxStormNodes = 32

// The target: at StormTargetN nodes, the time until our last node
// reaches its root's init is at most StormTargetRatio × initramfs-tools'.
const (
	StormTargetN     = 16
	StormTargetRatio = 0.5
)

// StormSizes returns the node counts of the storm that Options.Storm asks
// for: nil gives DefaultStorm; an empty list or a single 0 gives none (no
// storm). Every other count must be 1..MaxStormNodes.
func StormSizes(s []int) ([]int, error) {
	if s == nil {
		return append([]int(nil), DefaultStorm...), nil
	}
	if len(s) == 0 || len(s) == 1 && s[0] == 0 {
		return nil, nil
	}
	for _, n := range s {
		if n < 1 || n > MaxStormNodes {
			return nil, fmt.Errorf("Options.Storm: %d is not a node count; want 1..%d nodes per batch (a single 0 skips the storm)", n, MaxStormNodes)
		}
	}
	return append([]int(nil), s...), nil
}

// StormHost is the fixed lease of storm node i (from 0), known before the
// lab starts: MAC 52:54:00:77:10:XX (XX = i+1, hex), IP .101+i on the
// lab's /24 and hostname stormNN. A cluster's nodes have such leases
// (dnsmasq --dhcp-host), which dnsmasq hands out without a ping check.
func StormHost(i int) lab.DHCPHost {
	base := lab.DefaultServerIP[:strings.LastIndex(lab.DefaultServerIP, ".")+1]
	return lab.DHCPHost{
		MAC:      fmt.Sprintf("52:54:00:77:10:%02x", i+1),
		IP:       base + strconv.Itoa(101+i),
		Hostname: fmt.Sprintf("storm%02d", i+1),
	}
}

// stormTimeout bounds a batch of n nodes, from its start to the last
// node's root's init: the host's cores are shared by all n VMs.
func stormTimeout(n int) time.Duration { return 120*time.Second + time.Duration(n)*25*time.Second }

// StormBatch is one batch of the boot storm: N nodes of one initrd powered
// on at once.
type StormBatch struct {
	Variant string // Variant.Name
	Ours    bool   // our initrd
	N       int
	// Spread is the time from the batch's start (just before the first VM
	// started) to the last VM's start.
	Spread time.Duration
	// Elapsed is the batch's wall time, its start to the last VM's end.
	Elapsed time.Duration
	Nodes   []StormNode // in tap order
}

// StormNode is what one node of a batch did.
type StormNode struct {
	Host lab.DHCPHost
	// RootInit is the host time in seconds from the batch's start (just
	// before the first VM started) to the node's "SIDUS-ROOT:
	// init-started" line; -1 if it did not come.
	RootInit float64
	// TFTPBytes is the size of the files dnsmasq's log says it sent to the
	// node's IP ("sent FILE to IP").
	TFTPBytes int64
	// NFSBytes is the test root's "SIDUS-ROOT: nfsbytes" figure, -1 if
	// the console lacks it.
	NFSBytes int64
	// Err says why the node failed ("" if it booted to the root's end).
	Err string
}

// Label is the batch's short name in progress lines: "ours" or the
// variant's name.
func (b *StormBatch) Label() string {
	if b.Ours {
		return "ours"
	}
	return b.Variant
}

// Last is the time until the batch's last node reached its root's init
// (s), or -1 if one of its nodes did not.
func (b *StormBatch) Last() float64 {
	last, ok := b.lastOK()
	if ok < b.N || ok == 0 {
		return -1
	}
	return last
}

// lastOK is the latest RootInit of the nodes that reached it, and how many
// did.
func (b *StormBatch) lastOK() (float64, int) {
	last, ok := -1.0, 0
	for _, n := range b.Nodes {
		if n.RootInit >= 0 {
			ok++
			last = max(last, n.RootInit)
		}
	}
	return last, ok
}

// Failed returns the nodes with an error.
func (b *StormBatch) Failed() []StormNode {
	var f []StormNode
	for _, n := range b.Nodes {
		if n.Err != "" {
			f = append(f, n)
		}
	}
	return f
}

// tftpMedian returns the median over the batch's nodes of TFTPBytes.
func (b *StormBatch) tftpMedian() Summary {
	var xs []float64
	for _, n := range b.Nodes {
		xs = append(xs, float64(n.TFTPBytes))
	}
	return Summarize(xs)
}

// nfsMedian returns the median over the batch's nodes of NFSBytes (nodes
// without the line are left out).
func (b *StormBatch) nfsMedian() Summary {
	var xs []float64
	for _, n := range b.Nodes {
		xs = append(xs, float64(n.NFSBytes))
	}
	return Summarize(xs)
}

// StormPoints returns the plot's points: one per batch whose nodes all
// reached their root's init.
func StormPoints(batches []*StormBatch) []StormPoint {
	var pts []StormPoint
	for _, b := range batches {
		if last := b.Last(); last >= 0 {
			pts = append(pts, StormPoint{Variant: b.Variant, N: b.N, Seconds: last})
		}
	}
	return pts
}

// tftpSentRe is dnsmasq's line for a finished TFTP transfer, as its
// tftp.c logs it ("sent %s to %s": the full path opened, the client's
// address) behind the "dnsmasq-tftp[PID]: " prefix (and a time stamp when
// it logs to a file). "failed sending" lines (and, in dnsmasq after 2.90,
// "timeout sending") are transfers that did not complete; "file ... not found for ..." and
// "error N ... received from ..." carry no data.
var tftpSentRe = regexp.MustCompile(`dnsmasq-tftp\[\d+\]: sent (.+) to (\S+)\s*$`)

// tftpBytes sums per client address the sizes of the files that a dnsmasq
// log says it sent over TFTP; size returns a file's size (os.Stat's), and
// files it cannot size are left out. A file sent twice counts twice.
func tftpBytes(log string, size func(path string) (int64, error)) map[string]int64 {
	sums := map[string]int64{}
	for _, line := range strings.Split(log, "\n") {
		m := tftpSentRe.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		n, err := size(m[1])
		if err != nil {
			continue
		}
		sums[m[2]] += n
	}
	return sums
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// pxeAppend returns a variant's kernel command line for pxelinux's APPEND:
// pxelinux loads the initrd named by initrd=, so the line gets
// initrd=initrd.img-Sidus if it has no initrd= word (the seed's line has
// one; the baselines', written for QEMU's -initrd, have not).
func pxeAppend(line string) string {
	for _, w := range strings.Fields(line) {
		if strings.HasPrefix(w, "initrd=") {
			return line
		}
	}
	return strings.TrimSpace("initrd=" + pxe.InitrdFile + " " + line)
}

// stormEnv is what every batch of a storm shares.
type stormEnv struct {
	p    *qemu.Process
	lab  *lab.Lab
	k    *kernel.Info
	tftp string // the lab's TFTP folder, rewritten for each batch
	o    Options
	logf func(string, ...any)
	// onConsole, if set, gets each node's console (by index) once its
	// batch is over: the root storm reads its figures from it.
	onConsole func(i int, console string)
}

// runStorm runs the storm: a lab with max(sizes) taps and fixed leases,
// then for each N the batches of ours and of initramfs-tools in turn
// (ours N=1, theirs N=1, ours N=4, ...). The batches run so far are in
// rep.Storm, whatever the error.
func runStorm(ctx context.Context, o Options, k *kernel.Info, rootDir, dir string, rep *Report, sizes []int, logf func(string, ...any)) error {
	var variants []*Variant
	for _, i := range []int{rep.Ours, rep.ITools} {
		if i < 0 || i >= len(rep.Variants) {
			continue
		}
		if v := rep.Variants[i]; v.Skipped != "" {
			logf("storm: %s skipped: %s", v.Name, v.Skipped)
		} else {
			variants = append(variants, v)
		}
	}
	if len(variants) == 0 {
		return errors.New("no initrd to boot: both rows were skipped")
	}
	maxN := 0
	for _, n := range sizes {
		maxN = max(maxN, n)
	}
	var hosts []lab.DHCPHost
	for i := range maxN {
		hosts = append(hosts, StormHost(i))
	}
	tftp := filepath.Join(dir, "storm-tftp")
	if err := os.MkdirAll(tftp, 0o755); err != nil {
		return err
	}

	start := time.Now()
	p := qemu.NewProcess(o.Log)
	defer p.Close()
	stop := context.AfterFunc(ctx, func() { p.Close() })
	defer stop()
	l, err := lab.StartProcess(p, lab.Options{RootDir: rootDir, RootPath: lab.NFSPseudo, TFTPDir: tftp, Taps: maxN, Hosts: hosts})
	if err != nil {
		return fmt.Errorf("storm lab (%d taps, TFTP from %s): %w", maxN, tftp, err)
	}
	env := stormEnv{p: p, lab: l, k: k, tftp: tftp, o: o, logf: logf}
	defer func() {
		rep.StormElapsed = time.Since(start)
		logf("storm: %d batches in %v", len(rep.Storm), rep.StormElapsed.Round(time.Second))
	}()
	for _, n := range sizes {
		for _, v := range variants {
			if err := ctx.Err(); err != nil {
				return err
			}
			b, err := env.batch(ctx, v, hosts[:n])
			if b != nil {
				rep.Storm = append(rep.Storm, b)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// batch PXE-boots one node per host at once with v's initrd, waits for
// each node's root's init and end, and kills every VM before it returns.
func (e stormEnv) batch(ctx context.Context, v *Variant, hosts []lab.DHCPHost) (*StormBatch, error) {
	n := len(hosts)
	b := &StormBatch{Variant: v.Name, Ours: v.Ours, N: n}
	for _, h := range hosts {
		b.Nodes = append(b.Nodes, StormNode{Host: h, RootInit: -1, NFSBytes: -1})
	}
	tag := fmt.Sprintf("storm %s N=%d", b.Label(), n)
	cfg := pxe.Config(slug(v.Name), pxeAppend(v.Append))
	if err := pxe.Dir(e.tftp, e.k.Vmlinuz, v.Initrd, cfg, nil); err != nil {
		return nil, fmt.Errorf("%s: %w (check pxelinux and syslinux-common are installed)", tag, err)
	}
	d := e.lab.Daemon("dnsmasq")
	if d == nil {
		return nil, fmt.Errorf("%s: the storm lab has no dnsmasq", tag)
	}
	logStart := int64(0)
	if fi, err := os.Stat(d.Log); err == nil {
		logStart = fi.Size()
	}

	var vms []*vm.VM
	killAll := func() {
		for _, m := range vms {
			m.Kill()
		}
	}
	defer killAll()
	start := time.Now()
	for i, h := range hosts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var out io.Writer = io.Discard
		if e.o.Console {
			out = &prefixWriter{w: e.o.Log, prefix: h.Hostname + " "}
		}
		m, err := vm.StartProcess(e.p, e.lab, vm.Options{BootNet: true, CPU: e.o.CPU, NoReboot: true,
			NetDevs: []vm.NetDev{{Tap: e.lab.Tap(i), MAC: h.MAC}}}, out, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: start node %d (%s): %w", tag, i+1, h.Hostname, err)
		}
		vms = append(vms, m)
	}
	b.Spread = vms[n-1].Start.Sub(start)
	stop := context.AfterFunc(ctx, killAll)
	defer stop()
	e.logf("%s: %d VMs powered on within %.2f s (PXE: iPXE, dnsmasq TFTP, pxelinux)", tag, n, b.Spread.Seconds())

	// One waiter per node; the events come in the order the nodes get there.
	type event struct {
		i        int
		rootInit float64 // the node reached its root's init
		done     bool    // the node's wait is over, err says how
		err      error
	}
	events := make(chan event, 2*n)
	deadline := start.Add(stormTimeout(n))
	for i, m := range vms {
		go func() {
			_, err := m.TryExpect(rootInitRe.String(), time.Until(deadline))
			if err == nil {
				// When the line came, not when this waiter saw it.
				at := time.Since(start).Seconds()
				if t, _, ok := m.Find(rootInitRe, start); ok {
					at = t.Sub(start).Seconds()
				}
				events <- event{i: i, rootInit: at}
				// As boot(): the root's init reports, then powers off.
				if _, err = m.TryExpect(`SIDUS-ROOT: done`, 60*time.Second); err == nil {
					if werr := m.Wait(30 * time.Second); werr != nil {
						e.logf("%s: %s: %v", tag, hosts[i].Hostname, werr)
					}
				}
			}
			events <- event{i: i, done: true, err: err}
		}()
	}
	reached := 0
	for finished := 0; finished < n; {
		ev := <-events
		node := &b.Nodes[ev.i]
		if !ev.done {
			reached++
			node.RootInit = ev.rootInit
			e.logf("%s: node %d/%d root init after %.1f s (%s)", tag, reached, n, ev.rootInit, node.Host.Hostname)
			continue
		}
		finished++
		if ev.err != nil {
			if ctx.Err() != nil {
				node.Err = "interrupted"
				continue
			}
			node.Err = ev.err.Error()
			e.logf("%s: %s FAILED: %v; last lines:\n%s", tag, node.Host.Hostname, ev.err, vms[ev.i].Tail(15))
		}
	}
	killAll()
	b.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return b, err
	}

	logText, err := readFrom(d.Log, logStart)
	if err != nil {
		e.logf("%s: TFTP bytes unknown: %v", tag, err)
	}
	sent := tftpBytes(logText, fileSize)
	for i := range b.Nodes {
		node := &b.Nodes[i]
		node.TFTPBytes = sent[node.Host.IP]
		console := vms[i].Console()
		node.NFSBytes = NFSBytes(console)
		if e.onConsole != nil {
			e.onConsole(i, console)
		}
		if e.o.ConsoleDir != "" {
			name := fmt.Sprintf("storm-%s-n%d-%s.log", slug(v.Name), n, node.Host.Hostname)
			if err := os.WriteFile(filepath.Join(e.o.ConsoleDir, name), []byte(console+"\n"), 0o644); err != nil {
				e.logf("%v", err)
			}
		}
	}
	last, ok := b.lastOK()
	e.logf("%s: %d/%d nodes at their root's init, the last after %.1f s; per node (median): TFTP %s, NFS %s; batch took %.1f s",
		tag, ok, n, last, bytesOrNA(b.tftpMedian()), bytesOrNA(b.nfsMedian()), b.Elapsed.Seconds())
	return b, nil
}

// readFrom returns the file from offset on.
func readFrom(path string, offset int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "", err
	}
	b, err := io.ReadAll(f)
	return string(b), err
}

// prefixWriter writes each Write (a console line, from vm) behind a
// prefix: the node's name.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// humanBytes renders a byte count in kB or MB (decimal), as sizes are
// elsewhere in the report.
func humanBytes(b float64) string {
	switch {
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.0f kB", b/1e3)
	}
	return fmt.Sprintf("%.0f B", b)
}

func bytesOrNA(s Summary) string {
	if s.N == 0 {
		return "n/a"
	}
	return humanBytes(s.Median)
}

// stormMarkdown renders the "Boot storm" section (nothing if the report
// has no storm and no reason why), then the root storm's.
func (r *Report) stormMarkdown(p func(string, ...any)) {
	defer r.rootStormMarkdown(p) // the root storm's section follows (rootstorm.go)
	if len(r.Storm) == 0 && r.StormSkipped == "" {
		return
	}
	p("\n## Boot storm\n\n")
	if len(r.Storm) == 0 {
		p("Not run: %s.\n", r.StormSkipped)
		return
	}
	ours := r.variantName(r.Ours, "ours (SIDUS-Go)")
	theirs := r.variantName(r.ITools, "initramfs-tools")
	if r.StormPlot != "" {
		p("![Boot storm](%s)\n\n", r.StormPlot)
	}
	p("Time until the last of N nodes reached its root's init (s, host clock from just before the first VM started), and what each node fetched (median over the N nodes).\n\n")
	p("| N | %[1]s: last root's init (s) | %[2]s: last root's init (s) | ratio ours / %[2]s | %[1]s: TFTP per node | %[1]s: NFS per node | %[2]s: TFTP per node | %[2]s: NFS per node |\n", ours, theirs)
	p("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range stormNs(r.Storm) {
		o, t := findBatch(r.Storm, true, n), findBatch(r.Storm, false, n)
		p("| %d | %s | %s | %s | %s | %s | %s | %s |\n", n, lastCell(o), lastCell(t), batchRatio(o, t),
			tftpCell(o), nfsCell(o), tftpCell(t), nfsCell(t))
	}
	p("\n%s\n", stormTarget(findBatch(r.Storm, true, StormTargetN), findBatch(r.Storm, false, StormTargetN), theirs))
	if r.StormSkipped != "" {
		p("\nThe storm stopped early: %s.\n", r.StormSkipped)
	}
	var failed []string
	for _, b := range r.Storm {
		for _, n := range b.Failed() {
			failed = append(failed, fmt.Sprintf("- %s N=%d, %s (%s): %s", b.Variant, b.N, n.Host.Hostname, n.Host.IP, firstLine(n.Err)))
		}
	}
	if len(failed) > 0 {
		p("\nFailed nodes (a batch where one did not reach its root's init has no ratio, and its last root's init is of the nodes that got there):\n\n%s\n", strings.Join(failed, "\n"))
	}
	spread, boots := time.Duration(0), 0
	for _, b := range r.Storm {
		spread = max(spread, b.Spread)
		boots += b.N
	}
	cpus := "the host's CPUs"
	if r.CPUs > 0 {
		cpus = fmt.Sprintf("the host's %d CPUs", r.CPUs)
	}
	p("\nHow it was run: each batch PXE-boots N VMs with one initrd against the storm's lab (one for all batches, started once the main table's was torn down, with a tap per node): QEMU's iPXE gets `pxelinux.0` from dnsmasq's TFTP, pxelinux its config, the same vmlinuz for both rows and the row's initrd (`APPEND`: the row's kernel command line, below, with `initrd=%s` where it has none), then the initrd mounts the NFS root (ours NFSv4, initramfs-tools NFSv3) from the same nfs-ganesha. ", pxe.InitrdFile)
	p("All N VMs are powered on back to back, within %.2f s (the widest of the batches), each on its own tap with a fixed lease (dnsmasq `--dhcp-host`, as a cluster's nodes have). ", spread.Seconds())
	p("QEMU TCG, 1 vCPU and 512 MB per VM, and the N VMs share %s: times grow with N partly from CPU sharing, for both rows alike. ", cpus)
	p("Batches alternate between the rows (ours N=1, %s N=1, ours N=4, …); each node is waited for until its root's init reports and powers off, and every VM is killed before the next batch. ", theirs)
	p("TFTP per node: the sizes of the files dnsmasq's log (`--log-facility=-`) says it sent to the node's address (`dnsmasq-tftp[PID]: sent FILE to IP`). NFS per node: the test root's `SIDUS-ROOT: nfsbytes` line, the bytes sent and received over its NFS mounts (RPC level, /proc/self/mountstats) when its init started (n/a: the root does not print it).\n")
	if r.StormElapsed > 0 {
		p("\nStorm wall time: %v (%d boots in %d batches, its lab included).\n", r.StormElapsed.Round(time.Second), boots, len(r.Storm))
	}
}

func (r *Report) variantName(i int, def string) string {
	if i >= 0 && i < len(r.Variants) {
		return r.Variants[i].Name
	}
	return def
}

// stormNs returns the batches' node counts, in the order they first ran.
func stormNs(bs []*StormBatch) []int {
	var ns []int
	for _, b := range bs {
		if !slices.Contains(ns, b.N) {
			ns = append(ns, b.N)
		}
	}
	return ns
}

// findBatch returns the batch of N nodes of ours (or of the baseline), or
// nil.
func findBatch(bs []*StormBatch, ours bool, n int) *StormBatch {
	for _, b := range bs {
		if b.Ours == ours && b.N == n {
			return b
		}
	}
	return nil
}

func lastCell(b *StormBatch) string {
	if b == nil {
		return "not run"
	}
	last, ok := b.lastOK()
	switch {
	case ok == 0:
		return fmt.Sprintf("none of %d nodes", b.N)
	case ok < b.N:
		return fmt.Sprintf("%.1f (%d/%d nodes)", last, ok, b.N)
	}
	return fmt.Sprintf("%.1f", last)
}

// batchRatio is ours/theirs of the last root's init, when both batches
// are complete.
func batchRatio(o, t *StormBatch) string {
	if o == nil || t == nil {
		return "n/a"
	}
	return ratio(o.Last(), t.Last())
}

func tftpCell(b *StormBatch) string {
	if b == nil {
		return ""
	}
	return bytesOrNA(b.tftpMedian())
}

func nfsCell(b *StormBatch) string {
	if b == nil {
		return ""
	}
	return bytesOrNA(b.nfsMedian())
}

// stormTarget states the target and what was measured against it.
func stormTarget(o, t *StormBatch, theirs string) string {
	s := fmt.Sprintf("Target (the issue): at N=%d, the time until the last node's root init is at most %.1f× that of %s. ", StormTargetN, StormTargetRatio, theirs)
	if o == nil || t == nil {
		return s + fmt.Sprintf("Not measured: the storm has no N=%d batch of both rows.", StormTargetN)
	}
	a, b := o.Last(), t.Last()
	if a < 0 || b < 0 {
		return s + fmt.Sprintf("Not measured: a node of the N=%d batches did not reach its root's init (see below).", StormTargetN)
	}
	verdict := "met"
	if a/b > StormTargetRatio {
		verdict = "not met"
	}
	return s + fmt.Sprintf("Measured: %.1f s against %.1f s, %.2f×: %s.", a, b, a/b, verdict)
}

// plotLink is the plot's path as the Markdown file at out links it:
// relative to out's folder if it can be, else as given.
func plotLink(out, plot string) string {
	if out == "" {
		return plot
	}
	ao, err1 := filepath.Abs(out)
	ap, err2 := filepath.Abs(plot)
	if err1 != nil || err2 != nil {
		return plot
	}
	rel, err := filepath.Rel(filepath.Dir(ao), ap)
	if err != nil {
		return plot
	}
	return filepath.ToSlash(rel)
}

// defaultPlot is Options.Plot's default: BENCHMARKS-storm.png next to out
// ("" if out is "").
func defaultPlot(out string) string {
	if out == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(out), "BENCHMARKS-storm.png")
}
