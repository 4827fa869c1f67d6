package bench

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Boot is what one serial console says about a boot. Times are guest
// uptimes in seconds (the kernel's printk clock, the same one /proc/uptime
// reads); a figure the console lacks is negative (-1).
type Boot struct {
	// RunInit is when the kernel ran the initramfs' /init
	// ("[ T] Run /init as init process").
	RunInit float64
	// RootInit is when the shared root's /sbin/init started
	// ("SIDUS-ROOT: init-started uptime=T").
	RootInit float64
	// VmHWMkB is the peak resident set of PID 1 (the initramfs' init),
	// read from /proc/1/status just before the switch to the root:
	// "sidus: ... VmHWM=N kB" (ours) or "sidus-bench: ... VmHWM=N kB"
	// (the baselines' hooks).
	VmHWMkB int
	// Stages are sidus-init's "sidus: stage NAME: done in X.XXXs" lines,
	// in order, each once. The init stage never ends (it execs the root's
	// init): its duration is taken from the kmsg copy of "stage init:
	// start" (which carries the kernel's time stamp) to RootInit if the
	// console has it, else it is the rest of the initrd phase:
	// RootInit - RunInit - the other stages (the Go runtime's start, the
	// handover and the root's shell up to its first line).
	Stages []Stage
}

// Stage is one timed step of sidus-init.
type Stage struct {
	Name    string
	Seconds float64
}

// InitrdPhase is the time from the kernel's start of /init to the root's
// init: what the initramfs costs.
func (b Boot) InitrdPhase() float64 {
	if b.RunInit < 0 || b.RootInit < 0 {
		return -1
	}
	return b.RootInit - b.RunInit
}

// Stage returns the duration of the named stage, or -1.
func (b Boot) Stage(name string) float64 {
	for _, s := range b.Stages {
		if s.Name == name {
			return s.Seconds
		}
	}
	return -1
}

var (
	// The kernel's line, with printk.time's "[    2.345678] " prefix. A
	// user-space write may be glued before it on the serial line, so the
	// match is not anchored.
	runInitRe  = regexp.MustCompile(`\[\s*(\d+\.\d+)\] Run /init as init process`)
	rootInitRe = regexp.MustCompile(`SIDUS-ROOT: init-started uptime=(\d+(?:\.\d+)?)`)
	vmhwmRe    = regexp.MustCompile(`sidus(?:-bench)?: .*VmHWM=(\d+) kB`)
	stageRe    = regexp.MustCompile(`sidus: stage ([A-Za-z0-9_-]+): done in (\d+\.\d+)s`)
	// The kmsg copy of a sidus line: "[    3.456789] sidus: stage init: start".
	initStartRe = regexp.MustCompile(`\[\s*(\d+\.\d+)\] sidus: stage init: start`)
)

// Parse extracts the figures of one boot from its serial console.
// It fails if the console does not show the root's init starting.
func Parse(console string) (Boot, error) {
	b := Boot{RunInit: -1, RootInit: -1, VmHWMkB: -1}
	seen := map[string]bool{}
	initStart := -1.0
	for _, line := range strings.Split(console, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := runInitRe.FindStringSubmatch(line); m != nil && b.RunInit < 0 {
			b.RunInit, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := rootInitRe.FindStringSubmatch(line); m != nil && b.RootInit < 0 {
			b.RootInit, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := vmhwmRe.FindStringSubmatch(line); m != nil && b.VmHWMkB < 0 {
			b.VmHWMkB, _ = strconv.Atoi(m[1])
		}
		if m := initStartRe.FindStringSubmatch(line); m != nil && initStart < 0 {
			initStart, _ = strconv.ParseFloat(m[1], 64)
		}
		// Each sidus line comes twice: written to the console and, via
		// /dev/kmsg, echoed by the kernel. Keep the first.
		if m := stageRe.FindStringSubmatch(line); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			d, _ := strconv.ParseFloat(m[2], 64)
			b.Stages = append(b.Stages, Stage{Name: m[1], Seconds: d})
		}
	}
	if !seen["init"] && len(b.Stages) > 0 {
		if initStart >= 0 && b.RootInit >= initStart {
			b.Stages = append(b.Stages, Stage{Name: "init", Seconds: b.RootInit - initStart})
		} else if b.RunInit >= 0 && b.RootInit >= 0 {
			rest := b.RootInit - b.RunInit
			for _, s := range b.Stages {
				rest -= s.Seconds
			}
			if rest >= 0 {
				b.Stages = append(b.Stages, Stage{Name: "init", Seconds: rest})
			}
		}
	}
	if b.RootInit < 0 {
		return b, fmt.Errorf("console has no %q line: the root's init did not start", "SIDUS-ROOT: init-started")
	}
	return b, nil
}

// The test root's line right after init-started: the bytes sent and
// received over the node's NFS mounts so far (RPC level, summed over the
// per-op counters of /proc/self/mountstats).
var nfsBytesRe = regexp.MustCompile(`SIDUS-ROOT: nfsbytes (\d+)`)

// NFSBytes returns the figure of the console's first "SIDUS-ROOT:
// nfsbytes N" line (the test root's NFS traffic as its init started), or
// -1 if it has none.
func NFSBytes(console string) int64 {
	m := nfsBytesRe.FindStringSubmatch(console)
	if m == nil {
		return -1
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return -1
	}
	return n
}
