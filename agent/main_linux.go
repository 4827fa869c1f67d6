package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sidus-go/sidus/agent/handover"
	"golang.org/x/sys/unix"
)

// Main is sidus-agent's main. It returns the exit code, except as the
// exitrd's PID 1, where it never returns.
//
//	@sidus-agent        (argv[0], started by /init) run, state on fd 3
//	shutdown VERB       (argv[0], exec'ed by systemd-shutdown) see Shutdown
//	sidus-agent status  print the status file
//	sidus-agent check   exit 0 if the agent runs (the unit's ExecStart)
//	sidus-agent stopping  tell the agent that shutdown has begun (ExecStop)
func Main(args []string, stdout io.Writer) int {
	logf := newLogger(stdout)
	if filepath.Base(args[0]) == "shutdown" {
		verb := "reboot"
		if len(args) > 1 {
			verb = args[1]
		}
		err := LinuxShutdown(verb, logoutAll(logf), logf).Run()
		logf("shutdown: %v; halting here", err)
		for {
			time.Sleep(time.Hour) // PID 1 must not exit
		}
	}
	cmd := ""
	if len(args) > 1 {
		cmd = args[1]
	}
	switch cmd {
	case "status":
		b, err := os.ReadFile(handover.Status)
		if err == nil {
			err = PrintStatus(stdout, b, time.Now())
		}
		if err != nil {
			fmt.Fprintf(stdout, "sidus-agent status: %v\n", err)
			return 1
		}
		return 0
	case "check", "stopping":
		pid, err := runningPID()
		if err != nil {
			fmt.Fprintf(stdout, "sidus-agent %s: %v\n", cmd, err)
			return 1
		}
		if cmd == "stopping" {
			_ = unix.Kill(pid, syscall.SIGUSR1)
		}
		return 0
	case "", "run":
		if err := run(logf); err != nil {
			logf("%v", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "usage: sidus-agent [status|check|stopping]\n")
	return 2
}

func runningPID() (int, error) {
	b, err := os.ReadFile(handover.PIDFile)
	if err != nil {
		return 0, fmt.Errorf("no agent PID file: %w", err)
	}
	pid, err := ParsePID(b)
	if err != nil {
		return 0, err
	}
	if err := unix.Kill(pid, 0); err != nil {
		return 0, fmt.Errorf("agent pid %d: %w", pid, err)
	}
	return pid, nil
}

// run is the daemon.
func run(logf func(string, ...any)) error {
	st, err := readHandover()
	if err != nil {
		return err
	}
	pin(logf)
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := WriteFileAtomic(handover.PIDFile, pid, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", handover.PIDFile, err)
	}
	_ = WriteFileAtomic(handover.SendsigsOmit, pid, 0o644)
	duties, err := duties(st, logf)
	if err != nil {
		return err
	}
	st = nil // the duties hold what they need; drop the rest (secrets)
	a := &Agent{
		Duties:      duties,
		WriteStatus: func(b []byte) error { return WriteFileAtomic(handover.Status, b, 0o644) },
		RSS:         rssKB,
		Logf:        logf,
		Now:         time.Now,
	}
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGHUP)
	go func() {
		for s := range sigs {
			switch s {
			case syscall.SIGUSR1:
				logf("shutdown has begun; syncing, the session stays up until the end")
				unix.Sync()
				a.SetState("stopping")
			case syscall.SIGHUP:
			default:
				logf("%v: syncing and stopping; the iSCSI session and the address stay as they are", s)
				unix.Sync()
				cancel()
			}
		}
	}()
	names := make([]string, 0, len(duties))
	for _, d := range duties {
		names = append(names, d.Name())
	}
	logf("running (pid %d): %s", os.Getpid(), strings.Join(names, ", "))
	a.Run(ctx)
	return nil
}

// pin keeps the agent from waiting on the storage it must recover, as
// iscsid does: its memory is locked (no page-in from the root, no reclaim
// stall behind the LUN's dirty pages) and the OOM killer passes it over.
// The init starts it with TZ= so that time formatting reads no zone file
// from the root.
func pin(logf func(string, ...any)) {
	if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
		logf("warning: mlockall: %v; the agent may stall behind the LUN it recovers", err)
	}
	if err := os.WriteFile("/proc/self/oom_score_adj", []byte("-1000"), 0o644); err != nil {
		logf("warning: oom_score_adj: %v", err)
	}
}

// readHandover reads the init's state from fd 3, bounded in time.
func readHandover() (*handover.State, error) {
	f := os.NewFile(handover.FD, "handover")
	if f == nil {
		return nil, errors.New("no handover on fd 3: sidus-agent is started by /init at switch_root, not by hand")
	}
	defer f.Close()
	type res struct {
		s   *handover.State
		err error
	}
	ch := make(chan res, 1)
	go func() { s, err := handover.Read(f); ch <- res{s, err} }()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(10 * time.Second):
		return nil, errors.New("no handover from /init within 10 s")
	}
}

// rssKB reads VmRSS from /proc/self/status.
func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// newLogger logs to stdout (the console) and /dev/kmsg, "sidus: agent: ".
func newLogger(stdout io.Writer) func(string, ...any) {
	kmsg, _ := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	return func(format string, a ...any) {
		line := "sidus: agent: " + fmt.Sprintf(format, a...) + "\n"
		io.WriteString(stdout, line)
		if kmsg != nil {
			kmsg.WriteString("<6>" + line)
		}
	}
}
