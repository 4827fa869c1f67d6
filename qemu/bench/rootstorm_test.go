package bench

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
)

func TestRootStormSizes(t *testing.T) {
	for _, tc := range []struct {
		in      []int
		want    []int
		wantErr string
	}{
		{nil, []int{16}, ""},
		{[]int{}, nil, ""},
		{[]int{0}, nil, ""},
		{[]int{4, 16}, []int{4, 16}, ""},
		{[]int{MaxStormNodes}, []int{MaxStormNodes}, ""},
		{[]int{0, 16}, nil, "Options.RootStorm: 0 is not a node count; want 1..32"},
		{[]int{-1}, nil, "Options.RootStorm: -1 is not a node count"},
		{[]int{MaxStormNodes + 1}, nil, "Options.RootStorm: 33 is not a node count"},
	} {
		got, err := RootStormSizes(tc.in)
		if tc.wantErr == "" && (err != nil || !reflect.DeepEqual(got, tc.want)) ||
			tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || got != nil) {
			t.Errorf("RootStormSizes(%v) = %v, %v; want %v, error with %q", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	// Neither the default nor the caller's list is shared.
	got, _ := RootStormSizes(nil)
	got[0] = 99
	if DefaultRootStorm[0] != 16 {
		t.Errorf("RootStormSizes(nil) returned DefaultRootStorm itself")
	}
	in := []int{8}
	got, _ = RootStormSizes(in)
	got[0] = 99
	if in[0] != 8 {
		t.Errorf("RootStormSizes(in) returned in itself")
	}
}

func TestParseNodeCounts(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr string
	}{
		{"16", []int{16}, ""},
		{" 4, 16 ", []int{4, 16}, ""},
		{"32", []int{32}, ""},
		{"none", []int{}, ""},
		{"0", []int{}, ""},
		{"", []int{}, ""},
		{"x", nil, `-rootstorm: "x" is not a node count; want comma-separated positive integers like 1,4,8,16 (or none)`},
		{"4,,16", nil, `-rootstorm: "" is not a node count`},
		{"16,0", nil, `-rootstorm: "0" is not a node count`},
		{"-2", nil, `-rootstorm: "-2" is not a node count`},
		{"4 16", nil, `-rootstorm: "4 16" is not a node count`},
		{"33", nil, "-rootstorm: 33 nodes in one batch is more than 32"},
	} {
		got, err := ParseNodeCounts("-rootstorm", tc.in)
		if tc.wantErr == "" {
			// An empty list, not nil: nil would ask for the default.
			if err != nil || !reflect.DeepEqual(got, tc.want) || got == nil {
				t.Errorf("ParseNodeCounts(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseNodeCounts(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
		}
	}
	// What the flag gives, Run takes: "none" skips, the default is 16.
	for in, want := range map[string][]int{"none": nil, "16": {16}} {
		ns, err := ParseNodeCounts("-rootstorm", in)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := RootStormSizes(ns); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("RootStormSizes(ParseNodeCounts(%q)) = %v, %v; want %v", in, got, err, want)
		}
	}
}

var testTargets = RootTargets{NFS: "192.168.77.1:/srv/nfsroot/sidus", Image: RootStormImage, RBD: "sidus/rootstorm@gen", Mon: "192.168.77.1:6789"}

func TestRootStormLine(t *testing.T) {
	for _, tc := range []struct {
		kind    RootKind
		tg      RootTargets
		want    string
		wantErr string
	}{
		{RootNFS, testTargets, "console=ttyS0 root=/dev/nfs nfsroot=192.168.77.1:/srv/nfsroot/sidus,rsize=8192,wsize=8192,tcp ip=dhcp aufs=tmpfs panic=5", ""},
		{RootImage, testTargets, "console=ttyS0 root=/dev/nfs nfsroot=192.168.77.1:/srv/nfsroot/sidus,rsize=8192,wsize=8192,tcp sidus.image=generations/rootstorm.squashfs ip=dhcp aufs=tmpfs panic=5", ""},
		{RootRBD, testTargets, "console=ttyS0 root=rbd:sidus/rootstorm@gen sidus.ceph.mon=192.168.77.1:6789 ip=dhcp aufs=tmpfs panic=5 sidus.test.report=/sys/block/rbd0/stat", ""},
		{RootNFS, RootTargets{}, "", "the nfs row needs the NFS export"},
		{RootImage, RootTargets{NFS: testTargets.NFS}, "", "the image row needs the image's path"},
		{RootRBD, RootTargets{RBD: testTargets.RBD}, "", "the rbd row needs a Ceph monitor"},
		{RootRBD, RootTargets{Mon: testTargets.Mon}, "", "the rbd row needs the snapshot"},
		{"cephfs", testTargets, "", `unknown root kind "cephfs"`},
	} {
		got, err := RootStormLine(tc.kind, tc.tg)
		if got != tc.want || tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("RootStormLine(%s, %+v) = %q, %v; want %q, error with %q", tc.kind, tc.tg, got, err, tc.want, tc.wantErr)
		}
	}
}

// Our init reads each row's line as the root it names, with nothing
// ignored.
func TestRootStormLineParses(t *testing.T) {
	for _, kind := range RootKinds {
		line, err := RootStormLine(kind, testTargets)
		if err != nil {
			t.Fatal(err)
		}
		line = pxeAppend(line)
		if !strings.HasPrefix(line, "initrd=initrd.img-Sidus ") {
			t.Errorf("%s: APPEND %q has no initrd=", kind, line)
		}
		c, err := cmdline.Parse(line, nil, nil)
		if err != nil {
			t.Fatalf("%s: cmdline.Parse(%q): %v", kind, line, err)
		}
		if len(c.Warnings) > 0 {
			t.Errorf("%s: warnings %q", kind, c.Warnings)
		}
		if c.Upper != cmdline.UpperTmpfs {
			t.Errorf("%s: upper %q, want tmpfs", kind, c.Upper)
		}
		switch kind {
		case RootNFS, RootImage:
			want := cmdline.LowerNFS
			if kind == RootImage {
				want = cmdline.LowerImage
				if c.Image != RootStormImage {
					t.Errorf("image: sidus.image %q", c.Image)
				}
			}
			if c.Lower != want || c.NFSServer != "192.168.77.1" || c.NFSPath != "/srv/nfsroot/sidus" || !slices.Contains(c.NFSOptions, "rsize=8192") {
				t.Errorf("%s: lower %q, NFS %s:%s %v", kind, c.Lower, c.NFSServer, c.NFSPath, c.NFSOptions)
			}
		case RootRBD:
			if c.Lower != cmdline.LowerRBD || c.RBD.String() != "sidus/rootstorm@gen" || !slices.Equal(c.CephMons, []string{"192.168.77.1:6789"}) {
				t.Errorf("rbd: lower %q, RBD %q, mons %v", c.Lower, c.RBD, c.CephMons)
			}
			if c.NFSServer != "" || c.NFSPath != "" {
				t.Errorf("rbd: an NFS root %s:%s on the line", c.NFSServer, c.NFSPath)
			}
		}
	}
}

func TestBlockReadBytes(t *testing.T) {
	// Linux 6.1's /sys/block/rbd0/stat: 17 fields, right-aligned.
	const stat = "     412        0    25846      902        0        0        0        0        0      732      902        0        0        0        0        0        0"
	for _, tc := range []struct {
		name    string
		console []string
		want    int64
	}{
		{"stat line", []string{"SIDUS-ROOT: init-started uptime=40.1 pid=1", "SIDUS-ROOT: file /sys/block/rbd0/stat " + stat, "SIDUS-ROOT: done uptime=40.5"}, 25846 * 512},
		{"CR and glued output", []string{"xSIDUS-ROOT: file /sys/block/rbd0/stat " + stat + "\r"}, 25846 * 512},
		{"11 fields (old kernels)", []string{"SIDUS-ROOT: file /sys/block/rbd0/stat 1 2 3 4 5 6 7 8 9 10 11"}, 3 * 512},
		{"an escaped newline at the end", []string{"SIDUS-ROOT: file /sys/block/rbd0/stat 1 2 3 4 5 6 7 8 9 10 11\\n"}, 3 * 512},
		{"the first line counts", []string{"SIDUS-ROOT: file /sys/block/rbd0/stat 1 2 7 4 5 6 7 8 9 10 11", "SIDUS-ROOT: file /sys/block/rbd0/stat " + stat}, 7 * 512},
		{"missing", []string{"SIDUS-ROOT: file /sys/block/rbd0/stat <missing>"}, -1},
		{"another device", []string{"SIDUS-ROOT: file /sys/block/rbd1/stat " + stat}, -1},
		{"a prefix of the path", []string{"SIDUS-ROOT: file /sys/block/rbd0/stat2 " + stat}, -1},
		{"too few fields", []string{"SIDUS-ROOT: file /sys/block/rbd0/stat 1 2 3"}, -1},
		{"not numbers", []string{"SIDUS-ROOT: file /sys/block/rbd0/stat 1 2 x 4 5 6 7 8 9 10 11"}, -1},
		{"no line", []string{"SIDUS-ROOT: nfsbytes 0"}, -1},
		{"empty", nil, -1},
	} {
		if got := BlockReadBytes(strings.Join(tc.console, "\n"), RBDStatPath); got != tc.want {
			t.Errorf("%s: BlockReadBytes = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestRootReadBytes(t *testing.T) {
	console := "SIDUS-ROOT: init-started uptime=9.0 pid=1\nSIDUS-ROOT: nfsbytes 1834000\nSIDUS-ROOT: file /sys/block/rbd0/stat 1 0 2000 4 5 6 7 8 9 10 11\n"
	for kind, want := range map[RootKind]int64{RootNFS: 1834000, RootImage: 1834000, RootRBD: 2000 * 512} {
		if got := rootReadBytes(kind, console); got != want {
			t.Errorf("rootReadBytes(%s) = %d, want %d", kind, got, want)
		}
	}
	if got := rootReadBytes(RootNFS, "SIDUS-ROOT: init-started uptime=9.0"); got != -1 {
		t.Errorf("rootReadBytes without the line = %d, want -1", got)
	}
}

// rootBatch returns a root storm batch whose nodes reached their root's
// init at the given times (-1: did not) and read the given bytes.
func rootBatch(kind RootKind, read []int64, at ...float64) *RootBatch {
	line, _ := RootStormLine(kind, testTargets)
	return &RootBatch{Kind: kind, Append: pxeAppend(line), Batch: batch("ours, root "+string(kind), true, 0, 0, at...), Read: read}
}

func TestRootStormMarkdown(t *testing.T) {
	r := &Report{Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), N: 3, CPUs: 2,
		Variants: []*Variant{{Name: "ours (SIDUS-Go)", Ours: true}, {Name: "initramfs-tools"}},
		Ours:     0, ITools: 1, Dracut: -1, StormSkipped: "not requested"}
	rs := &RootStorm{Sizes: []int{4}, ImageSize: 1_430_000, InitrdSize: 7_300_000, Setup: 90 * time.Second, Elapsed: 9 * time.Minute,
		Batches: []*RootBatch{
			rootBatch(RootNFS, []int64{1_800_000, 1_800_000, 1_800_000, 1_800_000}, 100, 120, 110, 130),
			rootBatch(RootImage, []int64{2_400_000, 2_400_000, 2_400_000, 2_400_000}, 80, 90, 100, 95),
			rootBatch(RootRBD, []int64{1_000_000, -1, 1_000_000, 1_000_000}, 60, -1, 70, 65),
		}}
	rs.Batches[2].Batch.Spread = 1500 * time.Millisecond
	r.Roots = rs
	md := r.Markdown()
	for _, want := range []string{
		"\n## Root storm (4 nodes, ours): plain NFS tree vs squashfs on NFS vs RBD\n\n4 nodes of ours PXE-booted at once",
		"| root | nodes at root's init | median root's init (s) | last root's init (s) | read from the server per node | median / nfs | last / nfs | read / nfs |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
		"| nfs: the plain tree on NFS | 4/4 | 115.0 | 130.0 | 1.8 MB | 1.00 | 1.00 | 1.00 |\n",
		"| image: squashfs on NFS (loop) | 4/4 | 92.5 | 100.0 | 2.4 MB | 0.80 | 0.77 | 1.33 |\n",
		// A node did not get there: no time ratios; the bytes still compare.
		"| rbd: squashfs in an RBD snapshot | 3/4 | 65.0 | 70.0 | 1.0 MB | n/a | n/a | 0.56 |\n",
		"the sectors read × 512 of `/sys/block/rbd0/stat`",
		"- rbd N=4, storm02 (192.168.77.102): console: no line matching \"SIDUS-ROOT: init-started\" within 2m25s\n",
		"(`mksquashfs -comp zstd`, 1.4 MB) at `generations/rootstorm.squashfs`",
		"the protected snapshot `sidus/rootstorm@gen`",
		"One initrd for the three rows (7.3 MB): ours as in the main table plus the modules `rbd`, `ceph`, `dm_verity`",
		"within 1.50 s",
		"share the host's 2 CPUs",
		"- nfs: `initrd=initrd.img-Sidus console=ttyS0 root=/dev/nfs nfsroot=192.168.77.1:/srv/nfsroot/sidus,rsize=8192,wsize=8192,tcp ip=dhcp aufs=tmpfs panic=5`\n",
		"- image: `initrd=initrd.img-Sidus console=ttyS0 root=/dev/nfs nfsroot=192.168.77.1:/srv/nfsroot/sidus,rsize=8192,wsize=8192,tcp sidus.image=generations/rootstorm.squashfs ip=dhcp aufs=tmpfs panic=5`\n",
		"- rbd: `initrd=initrd.img-Sidus console=ttyS0 root=rbd:sidus/rootstorm@gen sidus.ceph.mon=192.168.77.1:6789 ip=dhcp aufs=tmpfs panic=5 sidus.test.report=/sys/block/rbd0/stat`\n",
		"Root storm wall time: 9m0s (12 boots in 3 batches; its setup — the image, the lab, the Ceph cluster and the initrd — 1m30s).",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown has no %q:\n%s", want, md)
		}
	}
	// After the boot storm's section, before the initrds' notes.
	if b, rs, h := strings.Index(md, "## Boot storm"), strings.Index(md, "## Root storm"), strings.Index(md, "## How each initrd"); !(b >= 0 && b < rs && rs < h) {
		t.Errorf("sections out of order: boot storm at %d, root storm at %d, initrds at %d", b, rs, h)
	}
	if strings.Contains(md, "stopped early") {
		t.Errorf("a complete root storm says it stopped early")
	}

	// Stopped before its last row: the row says so, and why.
	rs.Batches, rs.Skipped = rs.Batches[:1], "root storm: context canceled"
	md = r.Markdown()
	for _, want := range []string{
		"| image: squashfs on NFS (loop) | not run | | | | | | |\n",
		"| rbd: squashfs in an RBD snapshot | not run | | | | | | |\n",
		"The root storm stopped early: root storm: context canceled.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown of a stopped root storm has no %q:\n%s", want, md)
		}
	}

	// Not run: the section says why.
	r.Roots = &RootStorm{Sizes: []int{16}, Skipped: "root storm: Ceph cluster: ceph: no active mds after 1m0s"}
	if md := r.Markdown(); !strings.Contains(md, "\n## Root storm (16 nodes, ours): plain NFS tree vs squashfs on NFS vs RBD\n\nNot run: root storm: Ceph cluster: ceph: no active mds after 1m0s.\n") {
		t.Errorf("a root storm that did not run is not said so:\n%s", md)
	}
	r.Roots = &RootStorm{Skipped: "not requested (Options.RootStorm, -rootstorm none)"}
	if md := r.Markdown(); !strings.Contains(md, "\n## Root storm (ours): plain NFS tree vs squashfs on NFS vs RBD\n\nNot run: not requested") {
		t.Errorf("an unrequested root storm is not said so:\n%s", md)
	}
	// Without one, no section.
	r.Roots = nil
	if md := r.Markdown(); strings.Contains(md, "Root storm") {
		t.Errorf("a report without a root storm has its section:\n%s", md)
	}
}

func TestRootStormTitle(t *testing.T) {
	for _, tc := range []struct {
		ns   []int
		want string
	}{
		{[]int{16}, "Root storm (16 nodes, ours): plain NFS tree vs squashfs on NFS vs RBD"},
		{[]int{4, 16}, "Root storm (4, 16 nodes, ours): plain NFS tree vs squashfs on NFS vs RBD"},
		{nil, "Root storm (ours): plain NFS tree vs squashfs on NFS vs RBD"},
	} {
		if got := rootStormTitle(tc.ns); got != tc.want {
			t.Errorf("rootStormTitle(%v) = %q, want %q", tc.ns, got, tc.want)
		}
	}
}

// rootStormPart decides to skip before it starts anything.
func TestRootStormPartSkips(t *testing.T) {
	logf := func(string, ...any) {}
	for _, tc := range []struct {
		name  string
		sizes []int
		boots []Boot
		want  string
	}{
		{"not requested", nil, []Boot{{}}, "not requested (Options.RootStorm, -rootstorm none)"},
		{"ours did not boot", []int{16}, nil, "our initrd did not boot in the main table"},
	} {
		r := &Report{Variants: []*Variant{{Name: "ours (SIDUS-Go)", Ours: true, Boots: tc.boots}}, Ours: 0, ITools: -1, Dracut: -1}
		if err := rootStormPart(context.Background(), Options{}, nil, "", t.TempDir(), r, tc.sizes, logf); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if rs := r.Roots; rs == nil || rs.Skipped != tc.want || len(rs.Batches) != 0 {
			t.Errorf("%s: root storm %+v, want skipped: %s", tc.name, rs, tc.want)
		}
		r.Roots = nil
	}
}

func TestParseWalk(t *testing.T) {
	c := "x\nSIDUS-ROOT: walk /walk cold entries=10201 seconds=12.34\r\nSIDUS-ROOT: walk /walk warm entries=10201 seconds=1.50\n"
	if n, cold, warm := ParseWalk(c); n != 10201 || cold != 12.34 || warm != 1.5 {
		t.Errorf("ParseWalk = %d, %v, %v", n, cold, warm)
	}
	if n, cold, warm := ParseWalk("SIDUS-ROOT: done\n"); n != 0 || cold != -1 || warm != -1 {
		t.Errorf("ParseWalk of no walk = %d, %v, %v; want 0, -1, -1", n, cold, warm)
	}
}

func TestRootStormWalkMarkdown(t *testing.T) {
	r := &Report{Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), N: 3, CPUs: 2,
		Variants: []*Variant{{Name: "ours (SIDUS-Go)", Ours: true}, {Name: "initramfs-tools"}},
		Ours:     0, ITools: 1, Dracut: -1, StormSkipped: "not requested"}
	r.Roots = &RootStorm{Sizes: []int{1},
		Batches: []*RootBatch{rootBatch(RootNFS, []int64{1_800_000}, 100)},
		Walks:   []RootWalk{{RootNFS, 10201, 10, 2}, {RootImage, 10201, 2.5, 1}, {RootRBD, 0, -1, -1}}}
	md := r.Markdown()
	for _, want := range []string{
		"### Metadata walk (one node per root)",
		"| nfs: the plain tree on NFS | 10201 | 10.00 | 2.00 | 1.00 |",
		"| image: squashfs on NFS (loop) | 10201 | 2.50 | 1.00 | 0.25 |",
		"| 0 | n/a | n/a | n/a |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("no %q in:\n%s", want, md)
		}
	}
}

func TestParseDebianRead(t *testing.T) {
	c := "SIDUS-DEB: multi-user 41.250\nSIDUS-DEB: rootread nfs=30000000 rbd=52428800\n" +
		"SIDUS-DEB: watch uptime=70.00 rootread nfs=30100000 rbd=52428800\n" +
		"SIDUS-DEB: watch uptime=90.00 rootread nfs=30300000 rbd=52469760\n"
	if r := ParseDebianRead(RootNFS, c); r.MultiUser != 41.25 || r.Boot != 30000000 || r.Steady != 10000 {
		t.Errorf("nfs: %+v", r)
	}
	if r := ParseDebianRead(RootRBD, c); r.Boot != 52428800 || r.Steady != 2048 {
		t.Errorf("rbd: %+v", r)
	}
	if r := ParseDebianRead(RootImage, "SIDUS-DEB: started\n"); r.MultiUser != -1 || r.Boot != -1 || r.Steady != -1 {
		t.Errorf("no figures: %+v", r)
	}
	var b strings.Builder
	debianMarkdown(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }, []DebianRead{ParseDebianRead(RootRBD, c), {Kind: RootImage, MultiUser: -1, Boot: -1, Steady: -1, Err: "no line"}})
	for _, want := range []string{"| rbd: squashfs in an RBD snapshot | 41.2 | 52.4 MB | 2 kB |", "| image: squashfs on NFS (loop) | n/a | n/a | n/a |", "- image: no line"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in:\n%s", want, b.String())
		}
	}
}
