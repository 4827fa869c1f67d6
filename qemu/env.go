package qemu

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
)

// T is the part of testing.TB that the lab and the VM use. *testing.T,
// *testing.B and *Process satisfy it.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Cleanup(func())
}

var _ T = (testing.TB)(nil)

// Process is a T for commands (make demo, make bench): Logf writes to a
// writer and Cleanup pushes onto a stack that Close runs, last in first out.
type Process struct {
	mu       sync.Mutex
	out      io.Writer
	cleanups []func()
	closed   bool
}

// NewProcess returns a Process logging to out (os.Stderr if nil).
func NewProcess(out io.Writer) *Process {
	if out == nil {
		out = os.Stderr
	}
	return &Process{out: out}
}

// Helper does nothing; it exists to satisfy T.
func (p *Process) Helper() {}

// Logf writes one line to the Process's writer.
func (p *Process) Logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf(format, args...)
	if len(s) == 0 || s[len(s)-1] != '\n' {
		s += "\n"
	}
	io.WriteString(p.out, s)
}

// Cleanup registers f to run at Close.
func (p *Process) Cleanup(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups = append(p.cleanups, f)
}

// Close runs the registered cleanups, last first. It is safe to call twice.
func (p *Process) Close() error {
	for {
		p.mu.Lock()
		n := len(p.cleanups)
		if n == 0 {
			p.closed = true
			p.mu.Unlock()
			return nil
		}
		f := p.cleanups[n-1]
		p.cleanups = p.cleanups[:n-1]
		p.mu.Unlock()
		f()
	}
}

// CloseOnSignal runs Close and exits with status 130 on SIGINT or SIGTERM,
// so that an interrupted demo leaves no namespace, daemon or VM behind.
func (p *Process) CloseOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-ch
		p.Logf("got %v: tearing down", s)
		p.Close()
		os.Exit(130)
	}()
}
