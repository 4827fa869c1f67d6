package bench

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/qemu/lab"
)

func TestStormSizes(t *testing.T) {
	for _, tc := range []struct {
		in      []int
		want    []int
		wantErr bool
	}{
		{nil, []int{1, 4, 8, 16}, false},
		{[]int{}, nil, false},
		{[]int{0}, nil, false},
		{[]int{2, 3}, []int{2, 3}, false},
		{[]int{MaxStormNodes}, []int{MaxStormNodes}, false},
		{[]int{0, 4}, nil, true},
		{[]int{-1}, nil, true},
		{[]int{MaxStormNodes + 1}, nil, true},
	} {
		got, err := StormSizes(tc.in)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("StormSizes(%v) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	// The default is copied, not shared.
	got, _ := StormSizes(nil)
	got[0] = 99
	if DefaultStorm[0] != 1 {
		t.Errorf("StormSizes(nil) returned DefaultStorm itself")
	}
}

func TestStormHost(t *testing.T) {
	for _, tc := range []struct {
		i    int
		want lab.DHCPHost
	}{
		{0, lab.DHCPHost{MAC: "52:54:00:77:10:01", IP: "192.168.77.101", Hostname: "storm01"}},
		{15, lab.DHCPHost{MAC: "52:54:00:77:10:10", IP: "192.168.77.116", Hostname: "storm16"}},
		{MaxStormNodes - 1, lab.DHCPHost{MAC: "52:54:00:77:10:20", IP: "192.168.77.132", Hostname: "storm32"}},
	} {
		if got := StormHost(tc.i); got != tc.want {
			t.Errorf("StormHost(%d) = %+v, want %+v", tc.i, got, tc.want)
		}
	}
	// No lease of a storm node is the harness's MAC(i) or another's.
	seen := map[string]bool{}
	for i := range MaxStormNodes {
		h := StormHost(i)
		if seen[h.MAC] || seen[h.IP] || h.MAC == lab.MAC(i) {
			t.Errorf("StormHost(%d) = %+v repeats an address", i, h)
		}
		seen[h.MAC], seen[h.IP] = true, true
	}
}

func TestStormTimeout(t *testing.T) {
	if got := stormTimeout(1); got != 145*time.Second {
		t.Errorf("stormTimeout(1) = %v", got)
	}
	if got := stormTimeout(16); got != 520*time.Second {
		t.Errorf("stormTimeout(16) = %v", got)
	}
}

func TestTFTPBytes(t *testing.T) {
	sizes := map[string]int64{
		"/tmp/t/pxelinux.0":            46000,
		"/tmp/t/ldlinux.c32":           120000,
		"/tmp/t/pxelinux.cfg/default":  200,
		"/tmp/t/vmlinuz-Sidus":         8000000,
		"/tmp/t/initrd.img-Sidus":      5000000,
		"/tmp/my dir/to x/initrd.img":  7,
		"/tmp/t//pxelinux.cfg/default": 200,
	}
	size := func(p string) (int64, error) {
		if n, ok := sizes[p]; ok {
			return n, nil
		}
		return 0, errors.New("no such file")
	}
	for _, tc := range []struct {
		name string
		log  []string
		want map[string]int64
	}{
		{"empty", nil, map[string]int64{}},
		{"one node", []string{
			"dnsmasq-dhcp[17055]: 1379092359 DHCPACK(br0) 192.168.77.101 52:54:00:77:10:01 storm01",
			// DHCP's own "sent" lines are not TFTP.
			"dnsmasq-dhcp[17055]: 1379092359 sent size:  4 option: 54 server-identifier  192.168.77.1",
			"dnsmasq-tftp[17055]: sent /tmp/t/pxelinux.0 to 192.168.77.101",
			"dnsmasq-tftp[17055]: sent /tmp/t/ldlinux.c32 to 192.168.77.101",
			"dnsmasq-tftp[17055]: file /tmp/t/pxelinux.cfg/01-52-54-00-77-10-01 not found for 192.168.77.101",
			"dnsmasq-tftp[17055]: file /tmp/t/pxelinux.cfg/C0A84D65 not found for 192.168.77.101",
			"dnsmasq-tftp[17055]: sent /tmp/t/pxelinux.cfg/default to 192.168.77.101",
			"dnsmasq-tftp[17055]: sent /tmp/t/vmlinuz-Sidus to 192.168.77.101",
			"dnsmasq-tftp[17055]: sent /tmp/t/initrd.img-Sidus to 192.168.77.101",
		}, map[string]int64{"192.168.77.101": 46000 + 120000 + 200 + 8000000 + 5000000}},
		{"two nodes, a retry and failures", []string{
			"dnsmasq-tftp[9]: sent /tmp/t/pxelinux.0 to 192.168.77.101",
			"dnsmasq-tftp[9]: sent /tmp/t/pxelinux.0 to 192.168.77.102",
			// An aborted transfer, then the retry.
			"dnsmasq-tftp[9]: error 0 TFTP Aborted received from 192.168.77.102",
			"dnsmasq-tftp[9]: failed sending /tmp/t/vmlinuz-Sidus to 192.168.77.102",
			"dnsmasq-tftp[9]: timeout sending /tmp/t/initrd.img-Sidus to 192.168.77.102",
			"dnsmasq-tftp[9]: sent /tmp/t/vmlinuz-Sidus to 192.168.77.102\r",
			"dnsmasq-tftp[9]: sent /tmp/t/vmlinuz-Sidus to 192.168.77.102",
			// A file that cannot be sized is left out; a doubled slash is a path.
			"dnsmasq-tftp[9]: sent /tmp/t/gone to 192.168.77.101",
			"dnsmasq-tftp[9]: sent /tmp/t//pxelinux.cfg/default to 192.168.77.101",
			"dnsmasq-tftp[9]: cannot access /tmp/t/secret: Permission denied",
			"dnsmasq-tftp[9]: unsupported request from 192.168.77.101",
		}, map[string]int64{"192.168.77.101": 46000 + 200, "192.168.77.102": 46000 + 2*8000000}},
		{"log file time stamps, spaces in the path", []string{
			"Dec  1 10:00:00 dnsmasq-tftp[9]: sent /tmp/my dir/to x/initrd.img to 192.168.77.103",
		}, map[string]int64{"192.168.77.103": 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tftpBytes(strings.Join(tc.log, "\n"), size)
			if !maps.Equal(got, tc.want) {
				t.Errorf("tftpBytes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPXEAppend(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"console=ttyS0 root=/dev/nfs initrd=initrd.img-Sidus ip=dhcp", "console=ttyS0 root=/dev/nfs initrd=initrd.img-Sidus ip=dhcp"},
		{"console=ttyS0 root=/dev/nfs nfsroot=192.168.77.1:/r,tcp ip=dhcp aufs=tmpfs", "initrd=initrd.img-Sidus console=ttyS0 root=/dev/nfs nfsroot=192.168.77.1:/r,tcp ip=dhcp aufs=tmpfs"},
		{"", "initrd=initrd.img-Sidus"},
		// "rd.initrd=" is not pxelinux's initrd=.
		{"rd.initrd=x", "initrd=initrd.img-Sidus rd.initrd=x"},
	} {
		if got := pxeAppend(tc.in); got != tc.want {
			t.Errorf("pxeAppend(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPlotPaths(t *testing.T) {
	for _, tc := range []struct{ out, plot, want string }{
		{"BENCHMARKS.md", "BENCHMARKS-storm.png", "BENCHMARKS-storm.png"},
		{"/a/b/BENCHMARKS.md", "/a/b/BENCHMARKS-storm.png", "BENCHMARKS-storm.png"},
		{"/a/b/BENCHMARKS.md", "/a/c/s.png", "../c/s.png"},
		{"", "s.png", "s.png"},
	} {
		if got := plotLink(tc.out, tc.plot); got != tc.want {
			t.Errorf("plotLink(%q, %q) = %q, want %q", tc.out, tc.plot, got, tc.want)
		}
	}
	for _, tc := range []struct{ out, want string }{
		{"BENCHMARKS.md", "BENCHMARKS-storm.png"},
		{"/x/y/B.md", "/x/y/BENCHMARKS-storm.png"},
		{"", ""},
	} {
		if got := defaultPlot(tc.out); got != tc.want {
			t.Errorf("defaultPlot(%q) = %q, want %q", tc.out, got, tc.want)
		}
	}
}

// batch returns a storm batch whose nodes reached their root's init at
// the given times (-1: did not).
func batch(name string, ours bool, tftp, nfs int64, at ...float64) *StormBatch {
	b := &StormBatch{Variant: name, Ours: ours, N: len(at), Spread: 300 * time.Millisecond}
	for i, a := range at {
		n := StormNode{Host: StormHost(i), RootInit: a, TFTPBytes: tftp, NFSBytes: nfs}
		if a < 0 {
			n.Err = "console: no line matching \"SIDUS-ROOT: init-started\" within 2m25s\nmore"
		}
		b.Nodes = append(b.Nodes, n)
	}
	return b
}

func TestStormBatch(t *testing.T) {
	b := batch("ours", true, 1, 2, 10, 30, 20)
	if b.Last() != 30 || len(b.Failed()) != 0 || b.Label() != "ours" {
		t.Errorf("complete batch: Last %v, Failed %v, Label %q", b.Last(), b.Failed(), b.Label())
	}
	b = batch("initramfs-tools", false, 1, 2, 10, -1)
	if b.Last() != -1 || len(b.Failed()) != 1 || b.Label() != "initramfs-tools" {
		t.Errorf("batch with a failed node: Last %v, Failed %v", b.Last(), b.Failed())
	}
	pts := StormPoints([]*StormBatch{batch("ours", true, 0, 0, 5), b, batch("ours", true, 0, 0, 7, 9)})
	want := []StormPoint{{"ours", 1, 5}, {"ours", 2, 9}}
	if !reflect.DeepEqual(pts, want) {
		t.Errorf("StormPoints = %v, want %v", pts, want)
	}
}

func TestStormMarkdown(t *testing.T) {
	r := &Report{Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), N: 3, CPUs: 2,
		Variants: []*Variant{{Name: "ours (SIDUS-Go)", Ours: true}, {Name: "initramfs-tools"}, {Name: "dracut", Skipped: "no"}},
		Ours:     0, ITools: 1, Dracut: 2, StormPlot: "BENCHMARKS-storm.png", StormElapsed: 7 * time.Minute,
		Storm: []*StormBatch{
			batch("ours (SIDUS-Go)", true, 13_200_000, 350_000, 20),
			batch("initramfs-tools", false, 20_700_000, -1, 30),
			batch("ours (SIDUS-Go)", true, 13_200_000, 350_000, 50, 60, 55, 58),
			batch("initramfs-tools", false, 20_700_000, -1, 80, -1, 90, 85),
		}}
	r.Storm[3].Spread = 1200 * time.Millisecond
	md := r.Markdown()
	for _, want := range []string{
		"## Boot storm",
		"![Boot storm](BENCHMARKS-storm.png)",
		"| N | ours (SIDUS-Go): last root's init (s) | initramfs-tools: last root's init (s) | ratio ours / initramfs-tools |",
		"| 1 | 20.0 | 30.0 | 0.67 | 13.2 MB | 350 kB | 20.7 MB | n/a |",
		"| 4 | 60.0 | 90.0 (3/4 nodes) | n/a | 13.2 MB | 350 kB | 20.7 MB | n/a |",
		"Not measured: the storm has no N=16 batch of both rows.",
		"- initramfs-tools N=4, storm02 (192.168.77.102): console: no line matching \"SIDUS-ROOT: init-started\" within 2m25s\n",
		"within 1.20 s",
		"share the host's 2 CPUs",
		"Storm wall time: 7m0s (10 boots in 4 batches",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown has no %q:\n%s", want, md)
		}
	}

	// Without a storm and a reason, no section; with a reason, it says so.
	r.Storm, r.StormPlot = nil, ""
	if md := r.Markdown(); strings.Contains(md, "Boot storm") {
		t.Errorf("a report without a storm has a storm section:\n%s", md)
	}
	r.StormSkipped = "not requested"
	if md := r.Markdown(); !strings.Contains(md, "## Boot storm\n\nNot run: not requested.\n") {
		t.Errorf("a skipped storm is not said so:\n%s", md)
	}
}

func TestStormTarget(t *testing.T) {
	o16 := func(at float64) *StormBatch {
		b := batch("ours", true, 0, 0, make([]float64, 16)...)
		b.Nodes[15].RootInit = at
		return b
	}
	t16 := func(at float64) *StormBatch {
		b := batch("initramfs-tools", false, 0, 0, make([]float64, 16)...)
		b.Nodes[3].RootInit = at
		return b
	}
	for _, tc := range []struct {
		o, t *StormBatch
		want string
	}{
		{o16(100), t16(250), "Measured: 100.0 s against 250.0 s, 0.40×: met."},
		{o16(125), t16(250), "Measured: 125.0 s against 250.0 s, 0.50×: met."},
		{o16(150), t16(240), "Measured: 150.0 s against 240.0 s, 0.62×: not met."},
		{o16(-1), t16(240), "Not measured: a node of the N=16 batches did not reach"},
		{nil, t16(240), "Not measured: the storm has no N=16 batch"},
	} {
		got := stormTarget(tc.o, tc.t, "initramfs-tools")
		if !strings.HasPrefix(got, "Target (the issue): at N=16, the time until the last node's root init is at most 0.5× that of initramfs-tools. ") || !strings.Contains(got, tc.want) {
			t.Errorf("stormTarget = %q, want …%q", got, tc.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{{0, "0 B"}, {999, "999 B"}, {1000, "1 kB"}, {350_400, "350 kB"}, {13_249_000, "13.2 MB"}} {
		if got := humanBytes(tc.in); got != tc.want {
			t.Errorf("humanBytes(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
