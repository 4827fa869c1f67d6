package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/internal/osutil"
)

// VM is a running QEMU. Its serial console is read line by line: each line
// is logged (t.Logf, with the time since start) and kept for Expect.
type VM struct {
	Argv  []string // the command run, "ip netns exec NS" included
	Start time.Time

	monitor string // Options.Monitor

	t     qemu.T
	fatal func(string, ...any) // t.Fatalf in tests, nil for commands
	cmd   *exec.Cmd
	out   io.Writer // commands: console copy

	mu      sync.Mutex
	lines   []string
	times   []time.Time   // when each line came (host clock)
	next    int           // Expect cursor
	changed chan struct{} // closed and replaced on each new line / exit
	done    chan struct{} // QEMU exited and its output is read
	err     error         // QEMU's exit status
}

// Netns is where QEMU runs: a lab (lab.Lab) whose network namespace holds
// the taps, or nil for this host's namespaces.
type Netns interface {
	// Wrap returns the command that runs argv inside the namespace.
	Wrap(argv []string) []string
}

// Start boots o for a test. With a lab (ns), QEMU runs inside the lab's
// namespace (its taps are there). t.Cleanup kills QEMU by PID and logs a
// command line to run it again by hand.
func Start(t testing.TB, ns Netns, o Options) *VM {
	t.Helper()
	vm, err := start(t, t.Fatalf, ns, o, nil, nil)
	if err != nil {
		t.Fatalf("qemu: %v", err)
	}
	return vm
}

// StartProcess boots o for a command (make demo): console lines are copied
// to out as they come (and kept for Expect), in, if not nil, is the
// console's input. p.Close kills QEMU.
func StartProcess(p *qemu.Process, ns Netns, o Options, out io.Writer, in io.Reader) (*VM, error) {
	return start(p, nil, ns, o, out, in)
}

func start(t qemu.T, fatal func(string, ...any), ns Netns, o Options, out io.Writer, in io.Reader) (*VM, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	argv := o.Argv()
	if ns != nil {
		argv = ns.Wrap(argv)
	}
	vm := &VM{Argv: argv, t: t, fatal: fatal, out: out, monitor: o.Monitor,
		changed: make(chan struct{}), done: make(chan struct{})}
	vm.cmd = exec.Command(argv[0], argv[1:]...)
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	vm.cmd.Stdin = in
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	vm.cmd.Stdout, vm.cmd.Stderr = pw, pw
	vm.Start = time.Now()
	if err := vm.cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	pw.Close()
	t.Logf("qemu (pid %d): %s", vm.cmd.Process.Pid, shellQuote(argv))
	t.Cleanup(func() {
		vm.Kill()
		t.Logf("qemu exited (%v) after %v. To run it again (in a lab namespace if it used taps):\n  %s",
			vm.err, time.Since(vm.Start).Round(time.Millisecond), shellQuote(vm.Argv))
	})
	go vm.read(pr)
	return vm, nil
}

func (vm *VM) read(r io.ReadCloser) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			vm.add(strings.TrimRight(line, "\r\n"))
		}
		if err != nil {
			break
		}
	}
	r.Close()
	werr := vm.cmd.Wait()
	vm.mu.Lock()
	vm.err = werr
	close(vm.done)
	close(vm.changed)
	vm.changed = make(chan struct{})
	vm.mu.Unlock()
}

func (vm *VM) add(line string) {
	// Drop terminal escapes (SeaBIOS/pxelinux clear the screen).
	line = ansi.ReplaceAllString(line, "")
	d := time.Since(vm.Start).Seconds()
	if vm.out != nil {
		fmt.Fprintf(vm.out, "[%7.3fs] %s\n", d, line)
	} else {
		vm.t.Logf("[%7.3fs] %s", d, line)
	}
	vm.mu.Lock()
	vm.lines = append(vm.lines, line)
	vm.times = append(vm.times, time.Now())
	close(vm.changed)
	vm.changed = make(chan struct{})
	vm.mu.Unlock()
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][AB0-2]|\x1bc`)

// ErrExited is returned by Expect when QEMU exits before a match.
var ErrExited = errors.New("qemu exited")

// Expect waits up to timeout for a console line, after the previous
// match, that matches the regular expression re, and returns the
// submatches. In a test, a timeout or QEMU's exit fails the test, showing
// the last 40 console lines.
func (vm *VM) Expect(re string, timeout time.Duration) ([]string, error) {
	m, err := vm.expect(regexp.MustCompile(re), timeout)
	if err != nil && vm.fatal != nil {
		vm.fatal("%v\nlast console lines:\n%s", err, vm.Tail(40))
	}
	return m, err
}

// TryExpect is Expect that leaves the test alone on a timeout: the caller
// decides what a missing line means.
func (vm *VM) TryExpect(re string, timeout time.Duration) ([]string, error) {
	return vm.expect(regexp.MustCompile(re), timeout)
}

// ExpectAll expects each regular expression in turn, all within timeout.
func (vm *VM) ExpectAll(timeout time.Duration, res ...string) ([][]string, error) {
	deadline := time.Now().Add(timeout)
	var all [][]string
	for _, re := range res {
		m, err := vm.Expect(re, time.Until(deadline))
		if err != nil {
			return all, err
		}
		all = append(all, m)
	}
	return all, nil
}

func (vm *VM) expect(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		vm.mu.Lock()
		for ; vm.next < len(vm.lines); vm.next++ {
			if m := re.FindStringSubmatch(vm.lines[vm.next]); m != nil {
				vm.next++
				vm.mu.Unlock()
				return m, nil
			}
		}
		ch := vm.changed
		exited := vm.isDone()
		vm.mu.Unlock()
		if exited {
			return nil, fmt.Errorf("console: no line matching %q: %w (%v) after %v", re, ErrExited, vm.err, vm.Elapsed())
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, fmt.Errorf("console: no line matching %q within %v (%v since start)", re, timeout, vm.Elapsed())
		}
	}
}

func (vm *VM) isDone() bool {
	select {
	case <-vm.done:
		return true
	default:
		return false
	}
}

// Elapsed is the time since QEMU started.
func (vm *VM) Elapsed() time.Duration { return time.Since(vm.Start).Round(time.Millisecond) }

// Lines returns a copy of the console lines so far.
func (vm *VM) Lines() []string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return append([]string(nil), vm.lines...)
}

// Find returns the first console line so far that came at or after since
// and matches re, with its submatches and when it came (host clock).
func (vm *VM) Find(re *regexp.Regexp, since time.Time) (time.Time, []string, bool) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	for i, l := range vm.lines {
		if vm.times[i].Before(since) {
			continue
		}
		if m := re.FindStringSubmatch(l); m != nil {
			return vm.times[i], m, true
		}
	}
	return time.Time{}, nil, false
}

// Console returns the whole console output so far.
func (vm *VM) Console() string { return strings.Join(vm.Lines(), "\n") }

// Tail returns the last n console lines.
func (vm *VM) Tail(n int) string {
	l := vm.Lines()
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// Wait waits up to timeout for QEMU to exit (the guest powered off, or
// rebooted with NoReboot) and returns its exit status. QEMU is killed on
// timeout.
func (vm *VM) Wait(timeout time.Duration) error {
	select {
	case <-vm.done:
		return vm.err
	case <-time.After(timeout):
		vm.Kill()
		return fmt.Errorf("qemu did not exit within %v (killed)", timeout)
	}
}

// Task runs f in the background, tied to the VM's life (like vmtest's
// WithTask): its context is cancelled when QEMU exits. A non-nil error
// other than the cancellation is logged and, in a test, fails it.
func (vm *VM) Task(name string, f func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		if err := f(ctx); err != nil && ctx.Err() == nil {
			if e, ok := vm.t.(interface{ Errorf(string, ...any) }); ok {
				e.Errorf("task %s: %v", name, err)
			} else {
				vm.t.Logf("task %s: %v", name, err)
			}
		}
	}()
	go func() {
		select {
		case <-vm.done:
		case <-done:
		}
		cancel()
	}()
	vm.t.Cleanup(func() { cancel(); <-done })
}

// Exited is closed when QEMU has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.done }

// PID is QEMU's process id.
func (vm *VM) PID() int { return vm.cmd.Process.Pid }

// Kill stops QEMU (SIGTERM, SIGKILL after 3 s) and waits for it.
func (vm *VM) Kill() { osutil.Stop(vm.cmd.Process, vm.done, 3*time.Second) }

// shellQuote renders argv as a command to paste into a shell.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=/.,:@+%") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// Monitor sends one command to QEMU's human monitor (Options.Monitor) and
// returns its reply, without the echo and the prompt.
func (vm *VM) Monitor(cmd string) (string, error) {
	if vm.monitor == "" {
		return "", errors.New("qemu monitor: the VM was started without Options.Monitor")
	}
	c, err := net.DialTimeout("unix", vm.monitor, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("qemu monitor %s: %w", vm.monitor, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	const prompt = "(qemu) "
	readPrompt := func() (string, error) {
		var b strings.Builder
		buf := make([]byte, 4096)
		for !strings.HasSuffix(b.String(), prompt) {
			n, err := c.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				return b.String(), fmt.Errorf("qemu monitor: %w (read %q)", err, b.String())
			}
		}
		return b.String(), nil
	}
	if _, err := readPrompt(); err != nil { // the banner
		return "", err
	}
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", fmt.Errorf("qemu monitor: %w", err)
	}
	out, err := readPrompt()
	if err != nil {
		return "", err
	}
	vm.t.Logf("qemu monitor: %s -> %q", cmd, monitorReply(out, cmd))
	return monitorReply(out, cmd), nil
}

// monitorReply strips the terminal escapes, the echoed command and the
// prompt from what the monitor sent after a command.
func monitorReply(out, cmd string) string {
	out = ansi.ReplaceAllString(out, "")
	out = strings.TrimSuffix(out, "(qemu) ")
	out = strings.ReplaceAll(out, "\r", "")
	if i := strings.Index(out, cmd); i >= 0 {
		out = out[i+len(cmd):]
	}
	return strings.TrimSpace(out)
}

// SetLink sets the link of NIC i (Options.NetDevs[i]) up or down as the
// guest sees it: its driver reports the carrier change, as when a cable is
// pulled. A tap set down on the host leaves the guest's carrier up.
func (vm *VM) SetLink(i int, up bool) error {
	reply, err := vm.Monitor(SetLinkCommand(i, up))
	if err != nil {
		return err
	}
	if reply != "" {
		return fmt.Errorf("qemu monitor: %s: %s", SetLinkCommand(i, up), reply)
	}
	return nil
}
