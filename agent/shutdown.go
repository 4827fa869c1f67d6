package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// OldRoot is where systemd-shutdown leaves the booted root when it pivots
// into /run/initramfs and execs the exitrd (handover.Exitrd).
const OldRoot = "/oldroot"

// Shutdown is the last act of a node with a network root, run as PID 1 by
// systemd-shutdown from /run/initramfs once every other process is gone:
//   - end the agent that ran in the booted root (it holds the old root);
//   - sync, remount the writable layer's filesystem read-only, so its
//     journal is clean even if an unmount fails;
//   - unmount the old root, the last mounted first: the union, /rw, /ro;
//   - log out of the iSCSI sessions, now that nothing uses them;
//   - power off, reboot or halt as systemd asked.
//
// Each side effect is a field, so a test can run the whole sequence.
type Shutdown struct {
	Verb      string // poweroff, reboot, halt, kexec (systemd-shutdown's argv[1])
	Mountinfo func() (string, error)
	AgentPID  func() (int, error)
	Kill      func(pid int) error // SIGKILL and wait for it to be gone
	Sync      func()
	Remount   func(point string) error              // read-only
	Unmount   func(point string, detach bool) error // detach: MNT_DETACH
	Logout    func() error                          // every iSCSI session, bounded in time
	Reboot    func(verb string) error
	Logf      func(format string, a ...any)
	Now       func() time.Time
}

// Run runs the sequence. It returns only if the final reboot call fails.
func (s *Shutdown) Run() error {
	t0 := s.Now()
	s.Logf("shutdown: %s: unmounting the old root, then the iSCSI logout", s.Verb)
	if pid, err := s.AgentPID(); err == nil && pid > 1 {
		if err := s.Kill(pid); err != nil {
			s.Logf("shutdown: end the agent (pid %d): %v", pid, err)
		}
	}
	s.Sync()
	info, err := s.Mountinfo()
	if err != nil {
		s.Logf("shutdown: %v; rebooting without unmounting", err)
	}
	// The API mounts stay: systemd-shutdown bound them into the exitrd,
	// which runs from /oldroot/run/initramfs; reboot(2) drops them.
	var under []Mount
	for _, m := range Under(ParseMountinfo(info), OldRoot) {
		if !isAPIMount(m.Point) {
			under = append(under, m)
		}
	}
	for _, m := range under {
		if diskFS[m.FSType] {
			if err := s.Remount(m.Point); err != nil {
				s.Logf("shutdown: remount %s (%s) read-only: %v", m.Point, m.Source, err)
			}
		}
	}
	var busy []string
	for _, m := range under {
		if err := s.Unmount(m.Point, false); err != nil {
			if derr := s.Unmount(m.Point, true); derr != nil {
				busy = append(busy, m.Point)
			}
		}
	}
	if len(busy) > 0 {
		s.Logf("shutdown: could not unmount %s", strings.Join(busy, ", "))
	}
	s.Sync()
	if err := s.Logout(); err != nil {
		s.Logf("shutdown: iSCSI logout: %v", err)
	}
	s.Logf("shutdown: done in %.2fs, %s", s.Now().Sub(t0).Seconds(), s.Verb)
	return s.Reboot(s.Verb)
}

func isAPIMount(p string) bool {
	for _, d := range []string{"/dev", "/proc", "/sys", "/run"} {
		if r := OldRoot + d; p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

// ParsePID reads a PID file's text.
func ParsePID(b []byte) (int, error) {
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("not a PID: %q", strings.TrimSpace(string(b)))
	}
	return pid, nil
}
