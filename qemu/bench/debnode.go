package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/kernel"
	"github.com/sidus-go/sidus/qemu/lab"
	"github.com/sidus-go/sidus/qemu/roots"
	"github.com/sidus-go/sidus/qemu/vm"
	"github.com/sidus-go/sidus/server/generation"
)

// The Debian node on each root: what one systemd node (roots.Debian, the
// report service's "SIDUS-DEB: rootread" lines) reads of its shared root
// to boot and then each second while it idles, on the plain NFS tree, on
// its squashfs on NFS and on that squashfs in RBD: the per-node figures of
// the README's sizing ("A thousand nodes").

// Debian node paths and names in the root storm's lab.
const (
	// DebianExportDir is the Debian tree's folder on the export.
	DebianExportDir = "debian"
	// DebianImage is its squashfs on the export, relative to it.
	DebianImage = "generations/debian.squashfs"
	// DebianRBDImage is the same in the lab's pool (snapshot @RootStormSnap).
	DebianRBDImage = "debian"
	// DebianWatch is how long the node idles after its report, read every
	// DebianEvery seconds (sidus.test.watch=, sidus.test.every=).
	DebianWatch = 60
	DebianEvery = 20
	// debianTimeout bounds a Debian node from QEMU's start to its last
	// watch line.
	debianTimeout = 6 * time.Minute
)

// DebianRead is one Debian node's reads of its root.
type DebianRead struct {
	Kind RootKind
	// MultiUser is the guest uptime at which multi-user.target was reached.
	MultiUser float64
	// Boot is what the node had read of its root at its report (just
	// after multi-user.target), bytes; -1: unknown.
	Boot int64
	// Steady is what it read per second while it idled afterwards
	// (between its first and last watch lines), bytes/s; -1: unknown.
	Steady float64
	Err    string // why the node did not report ("": it did)
}

var (
	rootReadRe  = regexp.MustCompile(`SIDUS-DEB: rootread nfs=(\d+) rbd=(\d+)`)
	watchReadRe = regexp.MustCompile(`SIDUS-DEB: watch uptime=([0-9.]+) rootread nfs=(\d+) rbd=(\d+)`)
	multiUserRe = regexp.MustCompile(`SIDUS-DEB: multi-user ([0-9.]+)`)
)

// ParseDebianRead reads kind's figures from a Debian node's console: the
// RBD bytes for rbd, the NFS bytes (the image's reads go over NFS too)
// for the others.
func ParseDebianRead(kind RootKind, console string) DebianRead {
	r := DebianRead{Kind: kind, MultiUser: -1, Boot: -1, Steady: -1}
	pick := func(nfs, rbd string) int64 {
		s := nfs
		if kind == RootRBD {
			s = rbd
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	if m := multiUserRe.FindStringSubmatch(console); m != nil {
		r.MultiUser, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := rootReadRe.FindStringSubmatch(console); m != nil {
		r.Boot = pick(m[1], m[2])
	}
	ws := watchReadRe.FindAllStringSubmatch(console, -1)
	if len(ws) >= 2 {
		u0, _ := strconv.ParseFloat(ws[0][1], 64)
		u1, _ := strconv.ParseFloat(ws[len(ws)-1][1], 64)
		b0, b1 := pick(ws[0][2], ws[0][3]), pick(ws[len(ws)-1][2], ws[len(ws)-1][3])
		if u1 > u0 && b0 >= 0 && b1 >= b0 {
			r.Steady = float64(b1-b0) / (u1 - u0)
		}
	}
	return r
}

// debianNodes boots one Debian node per root kind in the root storm's lab
// (l, with its Ceph cluster c), one after the other, and returns their
// reads. The Debian tree goes on the export (DebianExportDir), as a
// squashfs beside it (DebianImage) and in RBD.
func debianNodes(ctx context.Context, p *qemu.Process, l *lab.Lab, c *lab.Ceph, k *kernel.Info, initrd, export string, o Options, logf func(string, ...any)) ([]DebianRead, error) {
	deb, err := roots.Debian()
	if err != nil {
		return nil, fmt.Errorf("debian root: %w", err)
	}
	run := func(argv ...string) error {
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	t0 := time.Now()
	if err := run("cp", "-a", deb, filepath.Join(export, DebianExportDir)); err != nil {
		return nil, err
	}
	img := filepath.Join(export, DebianImage)
	if err := run(generation.MksquashfsCmd(deb, img, nil).Args...); err != nil {
		return nil, err
	}
	snap := c.Pool + "/" + DebianRBDImage + "@" + RootStormSnap
	for _, s := range [][]string{{"import", img, c.Pool + "/" + DebianRBDImage}, {"snap", "create", snap}, {"snap", "protect", snap}} {
		if _, err := c.RBD(s...); err != nil {
			return nil, err
		}
	}
	size := int64(-1)
	if fi, err := os.Stat(img); err == nil {
		size = fi.Size()
	}
	logf("debian nodes: tree %s on the export, its squashfs (%s) and snapshot %s ready in %v", deb, humanBytes(float64(size)), snap, time.Since(t0).Round(time.Second))
	var out []DebianRead
	for _, kind := range RootKinds {
		t := RootTargets{NFS: l.NFSRoot(), Image: DebianImage, RBD: snap, Mon: c.Mon}
		if kind == RootNFS {
			t.NFS += "/" + DebianExportDir
		}
		line, err := RootStormLine(kind, t)
		if err != nil {
			return out, err
		}
		line += fmt.Sprintf(" sidus.test.watch=%d sidus.test.every=%d sidus.test=poweroff", DebianWatch, DebianEvery)
		r := debianNode(ctx, p, l, k, initrd, kind, line, o)
		logf("debian node, %s root: multi-user at %.1f s, read %s to boot, %s/s idle%s", kind, r.MultiUser, humanBytes(float64(r.Boot)), humanBytes(r.Steady), errSuffix(r.Err))
		out = append(out, r)
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
	return out, nil
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (" + e + ")"
}

// debianNode boots one Debian node (tap 0, direct kernel boot) with line
// and waits for its last watch line.
func debianNode(ctx context.Context, p *qemu.Process, l *lab.Lab, k *kernel.Info, initrd string, kind RootKind, line string, o Options) DebianRead {
	qo := vm.Options{Kernel: k.Vmlinuz, Initrd: initrd, Append: line, CPU: o.CPU, Memory: "1G",
		NoReboot: true, NetDevs: []vm.NetDev{l.NetDev(0)}}
	m, err := vm.StartProcess(p, l, qo, devNull{}, nil)
	if err != nil {
		return DebianRead{Kind: kind, MultiUser: -1, Boot: -1, Steady: -1, Err: err.Error()}
	}
	defer m.Kill()
	stop := context.AfterFunc(ctx, m.Kill)
	defer stop()
	_, err = m.ExpectAll(debianTimeout, `SIDUS-DEB: rootread `, `SIDUS-DEB: watch uptime=\S+ rootread `, `SIDUS-DEB: done`)
	r := ParseDebianRead(kind, m.Console())
	if err != nil {
		r.Err = firstLine(err.Error())
	}
	return r
}

type devNull struct{}

func (devNull) Write(b []byte) (int, error) { return len(b), nil }

// debianMarkdown renders the Debian nodes' table.
func debianMarkdown(p func(string, ...any), reads []DebianRead) {
	if len(reads) == 0 {
		return
	}
	p("\n### A Debian node on each root (the README's sizing)\n\n")
	p("One Debian %s node (systemd, the e2e tests' debootstrapped root) per root, booted alone: what it read of its root until just after multi-user.target, and then per second while it idled for %d s (NFS: RPC bytes both ways; RBD: bytes read).\n\n", roots.DebianSuite, DebianWatch)
	p("| root | multi-user.target at (s) | read to boot | read per second, idle |\n|---|---:|---:|---:|\n")
	for _, r := range reads {
		mu, boot, steady := "n/a", "n/a", "n/a"
		if r.MultiUser >= 0 {
			mu = fmt.Sprintf("%.1f", r.MultiUser)
		}
		if r.Boot >= 0 {
			boot = humanBytes(float64(r.Boot))
		}
		if r.Steady >= 0 {
			steady = humanBytes(r.Steady)
		}
		p("| %s | %s | %s | %s |\n", r.Kind.Label(), mu, boot, steady)
	}
	for _, r := range reads {
		if r.Err != "" {
			p("\n- %s: %s", r.Kind, r.Err)
		}
	}
	p("\n")
}
