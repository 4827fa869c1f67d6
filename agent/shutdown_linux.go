package agent

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/sidus-go/sidus/agent/handover"
	"golang.org/x/sys/unix"
)

// LinuxShutdown is Shutdown on the real kernel.
func LinuxShutdown(verb string, logout func() error, logf func(string, ...any)) *Shutdown {
	return &Shutdown{
		Verb: verb,
		Mountinfo: func() (string, error) {
			b, err := os.ReadFile("/proc/self/mountinfo")
			return string(b), err
		},
		AgentPID: func() (int, error) {
			b, err := os.ReadFile(handover.PIDFile)
			if err != nil {
				return 0, err
			}
			return ParsePID(b)
		},
		Kill: killAndWait,
		Sync: unix.Sync,
		Remount: func(p string) error {
			return unix.Mount("", p, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
		},
		Unmount: func(p string, detach bool) error {
			flags := 0
			if detach {
				flags = unix.MNT_DETACH
			}
			return unix.Unmount(p, flags)
		},
		Logout: logout,
		Reboot: reboot,
		Logf:   logf,
		Now:    time.Now,
	}
}

// killAndWait sends SIGKILL and waits up to 3 s for the process to go.
func killAndWait(pid int) error {
	if err := unix.Kill(pid, syscall.SIGKILL); err != nil {
		if err == unix.ESRCH {
			return nil
		}
		return err
	}
	for i := 0; i < 60; i++ {
		if err := unix.Kill(pid, 0); err == unix.ESRCH {
			return nil
		}
		// It may be our child (the exitrd inherits nothing, but be safe).
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("pid %d still there after SIGKILL", pid)
}

func reboot(verb string) error {
	cmd := unix.LINUX_REBOOT_CMD_RESTART
	switch verb {
	case "poweroff":
		cmd = unix.LINUX_REBOOT_CMD_POWER_OFF
	case "halt":
		cmd = unix.LINUX_REBOOT_CMD_HALT
	case "kexec":
		cmd = unix.LINUX_REBOOT_CMD_KEXEC
	}
	err := unix.Reboot(cmd)
	if err != nil && verb == "kexec" {
		err = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	}
	return fmt.Errorf("reboot(%s): %w", verb, err)
}
