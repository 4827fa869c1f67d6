package initramfs

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Logger writes "sidus: " lines to the console and to /dev/kmsg, and times
// the boot stages. It is safe for concurrent use.
type Logger struct {
	mu      sync.Mutex
	console io.Writer
	kmsg    io.Writer // may be nil
	now     func() time.Time
	start   time.Time
	stages  []StageTiming
}

// StageTiming is one finished boot stage.
type StageTiming struct {
	Name     string
	Duration time.Duration
}

// NewLogger returns a logger writing to console and, if non-nil, kmsg,
// that times the stages with now (System.Now); the start of the boot is
// its first reading.
func NewLogger(console, kmsg io.Writer, now func() time.Time) *Logger {
	return &Logger{console: console, kmsg: kmsg, now: now, start: now()}
}

// Printf logs one line.
func (l *Logger) Printf(format string, args ...any) {
	if l == nil {
		return
	}
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintf(l.console, "sidus: %s\n", line)
		if l.kmsg != nil {
			// One write per record. <7> (KERN_DEBUG) keeps it in dmesg without
			// printing every line on the console a second time.
			fmt.Fprintf(l.kmsg, "<7>sidus: %s\n", line)
		}
	}
}

// Stage runs fn as the named stage, logging its start, its duration and
// its outcome.
func (l *Logger) Stage(name string, fn func() error) error {
	l.Printf("stage %s: start", name)
	t0 := l.now()
	err := fn()
	d := l.now().Sub(t0)
	l.mu.Lock()
	l.stages = append(l.stages, StageTiming{Name: name, Duration: d})
	l.mu.Unlock()
	if err != nil {
		l.Printf("stage %s: FAILED after %.3fs", name, d.Seconds())
		return fmt.Errorf("stage %s: %w", name, err)
	}
	l.Printf("stage %s: done in %.3fs", name, d.Seconds())
	return nil
}

// Stages returns the finished stages in order.
func (l *Logger) Stages() []StageTiming {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]StageTiming(nil), l.stages...)
}

// Elapsed is the time since the logger was created (the init's start).
func (l *Logger) Elapsed() time.Duration { return l.now().Sub(l.start) }

// FatalPlan is what PID 1 does after a fatal error, from panic= and
// dracut's rd.shell (fatalPlan).
type FatalPlan struct {
	PanicSecs  int  // panic=: > 0 reboot after that many seconds, < 0 at once
	ShellFirst bool // rd.shell with panic=: a rescue shell before the reboot
	Reboot     bool // reboot (panic= is not 0)
	Shell      bool // without a reboot: rescue shells, one after the other (else wait)
}

// fatalPlan combines panic= and rd.shell (nil: not given): without
// rd.shell, panic= reboots and its absence offers the rescue shell, as
// before; rd.shell offers the shell first even with panic=, which reboots
// when the shell exits; rd.shell=0 never offers one (panic= reboots, else
// the node waits).
func fatalPlan(panicSecs int, rdShell *bool) FatalPlan {
	p := FatalPlan{PanicSecs: panicSecs, Reboot: panicSecs != 0, Shell: panicSecs == 0}
	if rdShell != nil {
		p.ShellFirst = *rdShell && p.Reboot
		p.Shell = *rdShell && !p.Reboot
	}
	return p
}
