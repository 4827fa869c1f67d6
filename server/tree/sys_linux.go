package tree

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type linuxSystem struct{}

func hostSystem() System { return linuxSystem{} }

// apiMount is one of the filesystems a chrooted command needs.
type apiMount struct {
	src, dst, fstype, data string
	flags                  uintptr
}

// apiMounts are bound (or, for /run, freshly mounted) under the tree.
// /run is a new tmpfs rather than the host's: a postinst that writes to
// /run (resolvconf, systemd's sockets, pid files) must not reach the
// host's daemons.
var apiMounts = []apiMount{
	{src: "/proc", dst: "proc", flags: unix.MS_BIND},
	{src: "/sys", dst: "sys", flags: unix.MS_BIND},
	{src: "/dev", dst: "dev", flags: unix.MS_BIND},
	{src: "/dev/pts", dst: "dev/pts", flags: unix.MS_BIND},
	{src: "/dev/shm", dst: "dev/shm", flags: unix.MS_BIND},
	{src: "tmpfs", dst: "run", fstype: "tmpfs", data: "mode=0755,size=10%", flags: unix.MS_NOSUID | unix.MS_NODEV},
}

// InNamespace implements System. The goroutine locks its OS thread and
// never unlocks it, so the Go runtime discards the thread (and its
// namespace reference) when fn returns.
func (linuxSystem) InNamespace(root string, log io.Writer, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- inNamespace(root, fn)
	}()
	return <-errc
}

func inNamespace(root string, fn func() error) (err error) {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fmt.Errorf("new mount namespace: %w (sidus must run as root)", err)
	}
	// Nothing mounted here may propagate back to the host (systemd makes
	// / shared).
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	var done []string
	defer func() {
		for i := len(done) - 1; i >= 0; i-- {
			if uerr := unix.Unmount(done[i], unix.MNT_DETACH); uerr != nil {
				err = errors.Join(err, fmt.Errorf("unmount %s: %w", done[i], uerr))
			}
		}
	}()
	for _, m := range apiMounts {
		if m.fstype == "" {
			if _, err := os.Stat(m.src); err != nil {
				continue // e.g. no /dev/shm on this host
			}
		}
		dst := filepath.Join(root, m.dst)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("mount point %s: %w", dst, err)
		}
		if st, err := os.Lstat(dst); err != nil || !st.IsDir() {
			return fmt.Errorf("mount point %s is not a directory (a symlink?): fix the tree", dst)
		}
		if err := unix.Mount(m.src, dst, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.src, dst, err)
		}
		done = append(done, dst)
	}
	return fn()
}

// KillRoot implements System: processes are found by their root
// directory (/proc/PID/root, compared by device and inode, so a process
// in another mount namespace is found too) and killed by PID: TERM, then
// KILL after 3 s, until none is left.
func (linuxSystem) KillRoot(root string, log io.Writer) ([]int, error) {
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		return nil, fmt.Errorf("kill processes in %s: %w", root, err)
	}
	self := os.Getpid()
	seen := map[int]bool{}
	var killed []int
	deadline := time.Now().Add(3 * time.Second)
	for round := 0; round < 100; round++ {
		pids := procsWithRoot(root, st.Dev, st.Ino, self)
		if len(pids) == 0 {
			return killed, nil
		}
		sig := syscall.SIGTERM
		if time.Now().After(deadline) {
			sig = syscall.SIGKILL
		}
		for _, pid := range pids {
			if !seen[pid] {
				seen[pid] = true
				killed = append(killed, pid)
				if log != nil {
					fmt.Fprintf(log, "ending process %d (%s) left in the tree\n", pid, procName(pid))
				}
			}
			unix.Kill(pid, sig)
		}
		time.Sleep(100 * time.Millisecond)
	}
	left := procsWithRoot(root, st.Dev, st.Ino, self)
	if len(left) == 0 {
		return killed, nil
	}
	return killed, fmt.Errorf("processes %v still run in %s after SIGKILL (stuck in the kernel, e.g. on NFS?): check them with ps", left, root)
}

func procsWithRoot(root string, dev, ino uint64, self int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		p := "/proc/" + e.Name() + "/root"
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Dev == dev && st.Ino == ino {
			out = append(out, pid)
			continue
		}
		// A process chrooted deeper, below the tree.
		if l, err := os.Readlink(p); err == nil && strings.HasPrefix(l, root+"/") {
			out = append(out, pid)
		}
	}
	return out
}

func procName(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// MountsUnder implements System.
func (linuxSystem) MountsUnder(root string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return mountPoints(f, root)
}
