// Package runner is the one door through which the sidus server library
// starts external programs (debootstrap, mkfs.ext4, tgtadm, systemctl,
// exportfs, commands inside the tree). Tests swap in a Fake that records
// the calls; --dry-run uses Exec with a DryRunCB, as u-root's
// kmodule.ProbeOpts does: the command is reported, not run.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cmd is one program to run.
type Cmd struct {
	// Args is argv; Args[0] is looked up in PATH (plus /usr/sbin and /sbin).
	Args []string
	// Env is added to the environment (KEY=VALUE).
	Env []string
	// Dir is the working directory ("" = current; inside Chroot if set).
	Dir string
	// Chroot, if set, runs the program chrooted there (Linux).
	Chroot string
	// Stdin, Stdout, Stderr: nil means /dev/null for Stdin; Stdout and
	// Stderr are then captured (see Run's error).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ReadOnly marks a command that changes nothing (tgtadm --op show,
	// systemctl is-active): it runs even in dry-run mode.
	ReadOnly bool
	// Redact are strings (secrets) replaced by <redacted> wherever the
	// command is shown: dry-run lines, errors, logs.
	Redact []string
}

// String is the command as a shell-like line, secrets redacted.
func (c Cmd) String() string {
	var b strings.Builder
	if c.Chroot != "" {
		b.WriteString("chroot " + quote(c.Chroot) + " ")
	}
	for _, e := range c.Env {
		b.WriteString(quote(e) + " ")
	}
	for i, a := range c.Args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quote(a))
	}
	return redact(b.String(), c.Redact)
}

func quote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.ContainsAny(s, " \t\n'\"\\$`;&|<>*?()[]{}!#~") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

func redact(s string, secrets []string) string {
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "<redacted>")
		}
	}
	return s
}

// Runner runs commands.
type Runner interface {
	Run(ctx context.Context, c Cmd) error
}

// Output runs c and returns its standard output.
func Output(ctx context.Context, r Runner, c Cmd) ([]byte, error) {
	var out bytes.Buffer
	c.Stdout = &out
	err := r.Run(ctx, c)
	return out.Bytes(), err
}

// Exec runs commands with os/exec.
type Exec struct {
	// DryRunCB, if set, is called with each command that is not ReadOnly
	// instead of running it (the command then "succeeds").
	DryRunCB func(Cmd)
	// Log, if set, gets one line per command run ("+ CMD").
	Log io.Writer
	// WaitDelay bounds how long Run waits for output pipes held open by
	// background children after the program exits (default 2s).
	WaitDelay time.Duration
}

// DryRun reports whether e only reports commands.
func (e *Exec) DryRun() bool { return e.DryRunCB != nil }

// Error is a failed command: its line (secrets redacted), the error and
// the end of its captured output.
type Error struct {
	Cmd    string
	Err    error
	Output string
}

func (e *Error) Error() string {
	s := e.Cmd + ": " + e.Err.Error()
	if o := strings.TrimSpace(e.Output); o != "" {
		s += "\n" + o
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Run implements Runner. It must be called on the goroutine whose OS
// thread the program should inherit (its mount namespace, say): os/exec
// forks from the calling thread.
func (e *Exec) Run(ctx context.Context, c Cmd) error {
	if len(c.Args) == 0 {
		return errors.New("runner: empty command")
	}
	if e.DryRunCB != nil && !c.ReadOnly {
		e.DryRunCB(c)
		return nil
	}
	if e.Log != nil && !c.ReadOnly {
		fmt.Fprintf(e.Log, "+ %s\n", c)
	}
	path := c.Args[0]
	if !strings.Contains(path, "/") {
		var err error
		if c.Chroot != "" {
			path, err = lookInRoot(c.Chroot, path)
		} else {
			path, err = LookPath(path)
		}
		if err != nil {
			return &Error{Cmd: c.String(), Err: err}
		}
	}
	cmd := exec.CommandContext(ctx, path, c.Args[1:]...)
	// The path is the program's inside the chroot, not the host's.
	cmd.Path, cmd.Err = path, nil
	cmd.Args[0] = c.Args[0]
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Dir = c.Dir
	cmd.Stdin = c.Stdin
	// Stop the program gently first, then for good.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = e.WaitDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 2 * time.Second
	}
	var tail tailBuffer
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = &tail
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &tail
	}
	setChroot(cmd, c.Chroot)
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrWaitDelay) {
			return nil // exited fine; a background child held the output open
		}
		return &Error{Cmd: c.String(), Err: err, Output: redact(tail.String(), c.Redact)}
	}
	return nil
}

// LookPath finds a program in PATH, then in /usr/sbin and /sbin (which a
// non-root PATH may lack).
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := d + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH, /usr/sbin or /sbin: is its Debian package installed?", name)
}

// lookInRoot finds a program in the tree's usual PATH, as the chrooted
// shell would, and returns its path inside the tree.
func lookInRoot(root, name string) (string, error) {
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := d + "/" + name
		if st, err := os.Stat(filepath.Join(root, p)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in the tree %s (PATH /usr/local/sbin:...:/bin): is its package installed there?", name, root)
}

// tailBuffer keeps the last 4 KiB written.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Fake records commands instead of running them. Respond, if set, gives
// each command's standard output and error (e.g. a canned tgtadm show).
type Fake struct {
	mu      sync.Mutex
	Calls   []Cmd
	Respond func(c Cmd) (stdout string, err error)
}

// Run implements Runner.
func (f *Fake) Run(_ context.Context, c Cmd) error {
	f.mu.Lock()
	f.Calls = append(f.Calls, c)
	respond := f.Respond
	f.mu.Unlock()
	if respond == nil {
		return nil
	}
	out, err := respond(c)
	if c.Stdout != nil && out != "" {
		io.WriteString(c.Stdout, out)
	}
	return err
}

// Lines returns the recorded commands as strings, one per call.
func (f *Fake) Lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.Calls {
		out = append(out, c.String())
	}
	return out
}
