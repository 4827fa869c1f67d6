package lab

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/sidus-go/sidus/qemu/internal/osutil"
)

// The lab's mount namespace, with a private /run, is kept by a holder:
// this very program, run again as `ip netns exec NS PROGRAM` with
// holderEnv set. ip netns exec puts it in the lab's network namespace and
// in a new mount namespace whose mounts are slaves of the host's (host
// mounts show inside; nothing mounted inside shows on the host). There
// the holder mounts a tmpfs on /run, says "ready" and sleeps until the lab
// kills it by PID (or the lab's process ends: its stdin closes). Every
// daemon, and every command of Lab.Exec, enters both namespaces with
// nsenter --target HOLDER --mount --net.

// holderEnv, set to "1", makes a program that imports this package the
// holder of a lab's mount namespace (see init).
const holderEnv = "SIDUS_LAB_HOLDER"

func init() {
	if os.Getenv(holderEnv) == "1" {
		os.Exit(runHolder(os.Stdin, os.Stdout))
	}
}

// runHolder is the holder's body: it never returns while the lab runs.
func runHolder(in io.Reader, out io.Writer) int {
	// /run holds rpcbind's socket and, as /var/run, tgtd's.
	if err := syscall.Mount("tmpfs", "/run", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
		fmt.Fprintf(os.Stderr, "sidus lab holder: mount tmpfs on /run: %v\n", err)
		return 1
	}
	if err := os.Mkdir("/run/lock", 0o1777); err != nil {
		fmt.Fprintf(os.Stderr, "sidus lab holder: %v\n", err)
		return 1
	}
	fmt.Fprintln(out, "ready")
	io.Copy(io.Discard, in)
	return 0
}

// holder is the running holder process.
type holder struct {
	cmd   *exec.Cmd
	stdin io.Closer
	done  chan struct{}
	err   error
	log   string
}

func (h *holder) pid() int { return h.cmd.Process.Pid }

// startHolder starts the holder of network namespace ns and waits for its
// private /run; its stderr goes to log.
func startHolder(ns, log string) (*holder, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("lab: cannot re-run this program as the namespace holder: %w", err)
	}
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command("ip", "netns", "exec", ns, self)
	cmd.Env = append(os.Environ(), holderEnv+"=1")
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the holder of %s: %w", ns, err)
	}
	h := &holder{cmd: cmd, stdin: stdin, done: make(chan struct{}), log: log}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
		h.err = cmd.Wait()
		close(h.done)
	}()
	select {
	case line := <-ready:
		if line == "ready" {
			return h, nil
		}
	case <-time.After(10 * time.Second):
	}
	h.stop()
	return nil, fmt.Errorf("the holder of %s's mount namespace did not start (%v):\n%s", ns, h.err, osutil.Tail(log, 10))
}

// stop kills the holder by PID and waits for it: its mount namespace and
// private /run go with it, once the daemons are gone.
func (h *holder) stop() {
	osutil.Stop(h.cmd.Process, h.done, 3*time.Second)
	h.stdin.Close()
}
