package initramfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sidus-go/sidus/agent/handover"
	"github.com/sidus-go/sidus/initramfs/layout"
	"github.com/sidus-go/sidus/iscsi"
	"golang.org/x/sys/unix"
)

// ErrNoShell means the image was packed without --shell.
var ErrNoShell = errors.New("no rescue shell in this image (pack one with sidus-mkinitramfs --shell /bin/busybox)")

// apiMounts are carried into the new root.
var apiMounts = []string{"/dev", "/proc", "/sys", "/run"}

func (s *LinuxSystem) SwitchRoot(newRoot, init string, args []string, agent *AgentStart) error {
	if _, err := resolveIn(newRoot, init); err != nil {
		return fmt.Errorf("init=%s: %w; check that the NFS export holds a complete root filesystem, or set init= to an existing program", init, err)
	}
	for _, m := range apiMounts {
		dst := filepath.Join(newRoot, m)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", dst, err)
		}
		if err := unix.Mount(m, dst, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s to %s: %w", m, dst, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat("/", &st); err != nil {
		return fmt.Errorf("stat /: %w", err)
	}
	freed := deleteTree("/", st.Dev)
	fmt.Fprintf(os.Stdout, "sidus: freed %.1f MB of initramfs\n", float64(freed)/1e6)
	if err := unix.Chdir(newRoot); err != nil {
		return fmt.Errorf("chdir %s: %w", newRoot, err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", newRoot, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if agent != nil {
		if err := startAgent(agent); err != nil {
			fmt.Fprintf(os.Stdout, "sidus: warning: %v; the node boots without it\n", err)
		}
	}
	argv := append([]string{init}, args...)
	return fmt.Errorf("exec %s: %w", init, unix.Exec(init, argv, handoverEnv(os.Environ())))
}

// handoverEnv drops the iSCSI secrets (iscsi.IsSecret: ISCSI_PASSWORD,
// iscsi_in_password, ...) from the environment given to init.
func handoverEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); !iscsi.IsSecret(k) {
			out = append(out, e)
		}
	}
	return out
}

// resolveIn follows p's symlinks as if root were /, so an absolute link
// like /sbin/init -> /lib/systemd/systemd is checked inside the new root.
func resolveIn(root, p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("not an absolute path")
	}
	cur := path.Clean(p)
	for i := 0; i < 40; i++ {
		fi, err := os.Lstat(filepath.Join(root, cur))
		if err != nil {
			return "", fmt.Errorf("not found in the new root: %w", err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			if fi.IsDir() || fi.Mode()&0o111 == 0 {
				return "", fmt.Errorf("%s is not an executable file", cur)
			}
			return cur, nil
		}
		t, err := os.Readlink(filepath.Join(root, cur))
		if err != nil {
			return "", err
		}
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(cur), t)
		}
		cur = path.Clean(t)
	}
	return "", fmt.Errorf("too many symlinks")
}

// deleteTree removes everything under p that lives on device dev (the
// initramfs), without crossing into other mounts, and returns the bytes
// freed.
func deleteTree(p string, dev uint64) int64 {
	var st unix.Stat_t
	if unix.Lstat(p, &st) != nil || st.Dev != dev {
		return 0
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if unix.Unlink(p) == nil {
			return st.Size
		}
		return 0
	}
	var n int64
	entries, _ := os.ReadDir(p)
	for _, e := range entries {
		n += deleteTree(filepath.Join(p, e.Name()), dev)
	}
	if p != "/" {
		_ = unix.Rmdir(p)
	}
	return n
}

func (s *LinuxSystem) Shell(reason string) error {
	sh := "/" + layout.Shell
	if _, err := os.Stat(sh); err != nil {
		return ErrNoShell
	}
	fmt.Fprintf(os.Stdout, "sidus: rescue shell (%s); exit the shell to continue\n", reason)
	cmd := exec.Command(sh)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "PS1=(sidus rescue) # ", "PATH=/bin:/sbin:/usr/bin:/usr/sbin")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return cmd.Run()
}

// startAgent starts the node agent in the new root with its state on a
// pipe (fd 3), in a session of its own; the root's init inherits it as a
// child and reaps it.
func startAgent(a *AgentStart) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("node agent: pipe: %w", err)
	}
	defer w.Close()
	p, err := os.StartProcess(a.Path, []string{handover.ArgV0}, &os.ProcAttr{
		Dir:   "/",
		Env:   []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ="}, // TZ=: UTC, no zone file read from the root
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr, r},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	r.Close()
	if err != nil {
		return fmt.Errorf("node agent %s: %w", a.Path, err)
	}
	// The state is far below a pipe's buffer: this does not block.
	if _, err := w.Write(a.State); err != nil {
		return fmt.Errorf("node agent: hand over: %w", err)
	}
	fmt.Fprintf(os.Stdout, "sidus: node agent started (pid %d)\n", p.Pid)
	return p.Release()
}
