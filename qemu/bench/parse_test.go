package bench

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The consoles in testdata/bench are real ones, recorded by
// `sidus-lab bench -consoles DIR` (run 1 of each row). The figures below
// were read off them by hand.
func TestParseRecorded(t *testing.T) {
	for _, tc := range []struct {
		file              string
		runInit, rootInit float64
		vmhwm             int
		stages            map[string]float64 // nil: none expected
	}{
		{"ours-sidus-go-1.log", 2.141120, 8.36, 6052, map[string]float64{
			"modules": 1.383, "network": 4.103, "nfs": 0.113, "premount": 0.002, "union": 0.030,
			"init": 8.36 - 2.141120 - (1.383 + 4.103 + 0.113 + 0.002 + 0.030)}},
		{"ours-no-rdrand-1.log", 1.950045, 5.55, 6064, map[string]float64{
			"modules": 1.810, "network": 1.051, "nfs": 0.149, "premount": 0.003, "union": 0.039,
			"init": 5.55 - 1.950045 - (1.810 + 1.051 + 0.149 + 0.003 + 0.039)}},
		// The VmHWM line is glued after "Begin: Running /scripts/init-bottom ... ".
		{"initramfs-tools-1.log", 2.838959, 9.48, 1908, nil},
		{"dracut-1.log", 3.042686, 30.45, 4436, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "bench", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(string(b))
			if err != nil {
				t.Fatal(err)
			}
			if !near(got.RunInit, tc.runInit) || !near(got.RootInit, tc.rootInit) || got.VmHWMkB != tc.vmhwm {
				t.Errorf("Parse = /init %v, root %v, VmHWM %d; want %v, %v, %d",
					got.RunInit, got.RootInit, got.VmHWMkB, tc.runInit, tc.rootInit, tc.vmhwm)
			}
			if !near(got.InitrdPhase(), tc.rootInit-tc.runInit) {
				t.Errorf("InitrdPhase = %v", got.InitrdPhase())
			}
			if tc.stages == nil {
				if len(got.Stages) != 0 {
					t.Errorf("stages %v in a baseline's console", got.Stages)
				}
				return
			}
			var names []string
			sum := 0.0
			for _, s := range got.Stages {
				names = append(names, s.Name)
				sum += s.Seconds
				if want, ok := tc.stages[s.Name]; ok && !near(s.Seconds, want) {
					t.Errorf("stage %s = %v, want %v", s.Name, s.Seconds, want)
				}
			}
			if strings.Join(names, " ") != strings.Join(StageNames, " ") {
				t.Errorf("stages %v, want %v", names, StageNames)
			}
			// init is the rest: the stages add up to the initrd phase.
			if !near(sum, got.InitrdPhase()) {
				t.Errorf("stages sum to %v, initrd phase is %v", sum, got.InitrdPhase())
			}
		})
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestParseSynthetic(t *testing.T) {
	// Interleaved kernel output, the kmsg copy of each sidus line and a
	// kmsg time stamp for the init stage.
	console := strings.Join([]string{
		"[    0.000000] Linux version 6.1.0",
		"[    2.500000] Run /init as init process",
		"sidus: stage modules: start",
		"sidus: stage modules: done in 1.250s",
		"[    3.800000] sidus: stage modules: done in 1.250s",
		"sidus: stage network: done in 0.500s",
		"[    4.400000] sidus: stage init: start",
		"sidus: VmHWM=5000 kB",
		"[    4.500000] sidus: VmHWM=5000 kB",
		"junkSIDUS-ROOT: init-started uptime=5.00 pid=1",
		"SIDUS-ROOT: init-started uptime=9.99 pid=1",
	}, "\r\n")
	b, err := Parse(console)
	if err != nil {
		t.Fatal(err)
	}
	if b.RunInit != 2.5 || b.RootInit != 5 || b.VmHWMkB != 5000 {
		t.Errorf("got %+v", b)
	}
	want := []Stage{{"modules", 1.25}, {"network", 0.5}, {"init", 0.6}}
	if len(b.Stages) != len(want) {
		t.Fatalf("stages %v, want %v", b.Stages, want)
	}
	for i := range want {
		if b.Stages[i].Name != want[i].Name || !near(b.Stages[i].Seconds, want[i].Seconds) {
			t.Errorf("stage %d = %v, want %v", i, b.Stages[i], want[i])
		}
	}
	if b.Stage("nfs") != -1 {
		t.Errorf("Stage(nfs) of a console without it = %v", b.Stage("nfs"))
	}

	// A boot that never reached the root.
	b, err = Parse("[    2.000000] Run /init as init process\nKernel panic - not syncing\n")
	if err == nil {
		t.Errorf("Parse of a failed boot: no error (%+v)", b)
	}
	if b.RunInit != 2 || b.RootInit != -1 || b.VmHWMkB != -1 || b.InitrdPhase() != -1 {
		t.Errorf("failed boot: %+v", b)
	}
}

func TestNFSBytes(t *testing.T) {
	for _, tc := range []struct {
		console string
		want    int64
	}{
		{"", -1},
		{"SIDUS-ROOT: init-started uptime=5.00 pid=1\nSIDUS-ROOT: uname 6.1.0\n", -1},
		{"SIDUS-ROOT: init-started uptime=5.00 pid=1\r\nSIDUS-ROOT: nfsbytes 351234\r\nSIDUS-ROOT: done uptime=6\r\n", 351234},
		// Glued after kernel output, the first line wins, a kernel line glued after.
		{"[  5.1] randomSIDUS-ROOT: nfsbytes 12[    5.2] eth0: up\nSIDUS-ROOT: nfsbytes 99\n", 12},
		{"SIDUS-ROOT: nfsbytes 0\n", 0},
		{"SIDUS-ROOT: nfsbytes -5\n", -1},
		{"SIDUS-ROOT: nfsbytes 99999999999999999999999\n", -1},
	} {
		if got := NFSBytes(tc.console); got != tc.want {
			t.Errorf("NFSBytes(%q) = %d, want %d", tc.console, got, tc.want)
		}
	}
}
