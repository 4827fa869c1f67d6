package initramfs

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"golang.org/x/sys/unix"
)

// Main is PID 1 of the initramfs. It never returns: it either execs the
// root's init or, on a fatal error, diagnoses and then follows panic= (reboot)
// or offers the rescue shell.
func Main() {
	earlyMounts()
	var kmsg io.Writer
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		kmsg = f
	}
	sys := &LinuxSystem{}
	log := NewLogger(os.Stdout, kmsg, sys.Now)
	b, _ := os.ReadFile("/proc/cmdline")
	raw := string(b)
	// panic= by Parse's rule, known even when Parse rejects the line; 0
	// (or none): the rescue shell.
	panicSecs, _ := cmdline.PanicTimeout(raw)
	var rdShell *bool // rd.shell=, once the line is parsed
	defer func() {
		if r := recover(); r != nil {
			fatal(log, sys, fatalPlan(panicSecs, rdShell), fmt.Errorf("internal error (please report): %v", r))
		}
	}()
	log.Printf("SIDUS-Go init starting (pid %d)", os.Getpid())
	cfg, err := cmdline.Parse(raw, os.Args[1:], os.Environ())
	if err != nil {
		fatal(log, sys, fatalPlan(panicSecs, nil), fmt.Errorf("kernel command line: %w", err))
	}
	rdShell = cfg.RescueShell
	_, err = Boot(context.Background(), cfg, sys, sys, log, Options{ISCSI: DefaultISCSI(), Disk: DefaultDisk(), Image: DefaultImage(), Background: func(f func()) { go f() }})
	fatal(log, sys, fatalPlan(panicSecs, rdShell), err)
}

// earlyMounts gives the init /proc, /sys, /dev and /run.
func earlyMounts() {
	for _, m := range []struct {
		src, dst, fs string
		flags        uintptr
		data         string
	}{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	} {
		_ = os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fs, m.flags, m.data); err != nil && err != unix.EBUSY {
			fmt.Fprintf(os.Stdout, "sidus: warning: mount %s: %v\n", m.dst, err)
		}
	}
	// Give our stdio the console if the kernel did not (no /dev/console
	// in the image).
	if _, err := os.Stdout.Stat(); err != nil {
		if c, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
			os.Stdin, os.Stdout, os.Stderr = c, c, c
		}
	}
}

// fatal prints the diagnosis, then follows plan: the rescue shell first
// (rd.shell), then a reboot as panic= says (PanicSecs > 0: after that many
// seconds, < 0: at once), or the rescue shell again and again, or a wait.
// It never returns: PID 1 must not exit.
func fatal(log *Logger, h Handover, plan FatalPlan, err error) {
	log.Printf("FATAL: %v", err)
	log.Printf("the node cannot boot; the lines above say which stage failed and what to check")
	panicSecs := plan.PanicSecs
	if plan.ShellFirst {
		log.Printf("rd.shell: rescue shell before panic=%d; exit it to go on", panicSecs)
		if serr := h.Shell("fatal error (rd.shell)"); serr != nil {
			log.Printf("%v", serr)
		}
	}
	if plan.Reboot {
		if panicSecs > 0 {
			log.Printf("panic=%d: rebooting in %d seconds", panicSecs, panicSecs)
			time.Sleep(time.Duration(panicSecs) * time.Second)
		}
		log.Printf("rebooting")
		unix.Sync()
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	}
	if !plan.Shell {
		log.Printf("rd.shell=0: no rescue shell; waiting forever (set panic=N on the kernel command line to reboot after N seconds)")
		for {
			time.Sleep(time.Hour)
		}
	}
	for {
		t0 := time.Now()
		if serr := h.Shell("fatal error"); serr != nil {
			log.Printf("%v; waiting forever (set panic=N on the kernel command line to reboot after N seconds)", serr)
			for {
				time.Sleep(time.Hour)
			}
		}
		log.Printf("rescue shell exited; the boot cannot continue after a fatal error; starting another shell (reboot -f to restart)")
		if time.Since(t0) < 2*time.Second {
			time.Sleep(5 * time.Second) // a console with no input: do not spin
		}
	}
}
