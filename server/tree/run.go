package tree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sidus-go/sidus/server/runner"
)

// PolicyRCD is the tree's invoke-rc.d policy: while sidus administers the
// tree it forbids every service start (exit 101), so a package's postinst
// never starts a daemon inside the tree (the seed's trick).
const (
	PolicyRCD     = "usr/sbin/policy-rc.d"
	policyContent = "#!/bin/sh\n# Written by sidus for the duration of `sidus tree run`; removed afterwards.\nexit 101\n"
	policySaved   = PolicyRCD + ".sidus-saved"
)

// ChrootPath is PATH for commands run in the tree.
const ChrootPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// System is what Run needs from the host, a seam for tests.
type System interface {
	// InNamespace calls fn on an OS thread of its own in a new private
	// mount namespace, where /proc, /sys, /dev, /dev/pts, /dev/shm and /run
	// are mounted under root; programs fn starts on that goroutine inherit
	// it. The mounts exist only in that namespace: they vanish with its
	// last process, whatever happens to the caller.
	InNamespace(root string, log io.Writer, fn func() error) error
	// KillRoot ends (TERM, then KILL) every process whose root directory is
	// root or under it, and returns their PIDs.
	KillRoot(root string, log io.Writer) ([]int, error)
	// MountsUnder lists the mount points below root in the caller's mount
	// namespace.
	MountsUnder(root string) ([]string, error)
}

// RunOptions configures Run.
type RunOptions struct {
	// Runner starts the commands (chrooted into the tree).
	Runner runner.Runner
	// Sys is the host; nil is the real one (Linux only).
	Sys System
	// Stdin, Stdout, Stderr are the commands'; nil: /dev/null / discarded.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Env is added to the commands' environment.
	Env []string
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// DryRun: say what would happen, change nothing.
	DryRun bool
	// Now stamps the generation (default time.Now).
	Now func() time.Time
}

// Result is what a Run did.
type Result struct {
	Generation int   // the tree's generation after the run
	Killed     []int // processes left behind in the tree and killed
}

// Run is the seed's "update dance", done safely: it runs cmds one after
// the other, chrooted into the tree, and stops at the first that fails.
//
//   - usr/sbin/policy-rc.d forbids service starts for the duration only
//     (an administrator's own policy-rc.d is put back afterwards);
//   - the commands run in a private mount namespace with /proc, /sys,
//     /dev, /dev/pts, /dev/shm and /run mounted, so no mount ever shows
//     in the host's namespace and none outlives the run;
//   - afterwards every process whose root is the tree (daemons a postinst
//     left behind) is killed by PID, as the seed's lsof | kill did;
//   - the tree's generation stamp is bumped, also when a command failed
//     or was interrupted (the tree may have changed anyway).
//
// Cancelling ctx (Ctrl-C) stops the running command (SIGTERM; os/exec
// kills it after a delay) and the cleanup still runs.
func Run(ctx context.Context, root string, cmds [][]string, o RunOptions) (res Result, err error) {
	logf := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", a...)
		}
	}
	root, err = CheckRoot(root)
	if err != nil {
		return res, err
	}
	if len(cmds) == 0 {
		return res, errors.New("tree run: no command given (sidus tree run -- CMD ARGS...)")
	}
	for _, c := range cmds {
		if len(c) == 0 || c[0] == "" {
			return res, errors.New("tree run: empty command")
		}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	env := append([]string{"PATH=" + ChrootPath, "DEBIAN_FRONTEND=noninteractive", "HOME=/root"}, o.Env...)
	if o.DryRun {
		gen, _, _ := ReadGeneration(root)
		logf("would install %s", filepath.Join(root, PolicyRCD))
		logf("would mount /proc /sys /dev /dev/pts /dev/shm /run in %s (private mount namespace)", root)
		for _, c := range cmds {
			logf("would run %s", runner.Cmd{Args: c, Chroot: root}.String())
		}
		logf("would kill the processes left with root %s, remove %s", root, PolicyRCD)
		logf("would bump the generation %d -> %d", gen, gen+1)
		res.Generation = gen
		return res, nil
	}
	sys := o.Sys
	if sys == nil {
		sys = hostSystem()
	}
	if m, err := sys.MountsUnder(root); err == nil && len(m) > 0 {
		logf("warning: mounts under %s in the host's namespace (left by a manual chroot session?): %s; unmount them (umount -l) when done", root, strings.Join(m, " "))
	}
	restore, err := installPolicy(root)
	if err != nil {
		return res, err
	}

	// Cleanup happens whatever the commands did.
	var runErr error
	defer func() {
		killed, kerr := sys.KillRoot(root, o.Log)
		res.Killed = killed
		if len(killed) > 0 {
			logf("killed %d process(es) left running in the tree: %v", len(killed), killed)
		}
		perr := restore()
		gen, gerr := BumpGeneration(root, now())
		res.Generation = gen
		if gerr == nil {
			logf("tree %s: generation %d", root, gen)
		}
		err = errors.Join(runErr, kerr, perr, gerr)
	}()

	runErr = sys.InNamespace(root, o.Log, func() error {
		for _, c := range cmds {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("interrupted before %s: %w", strings.Join(c, " "), err)
			}
			logf("running in %s: %s", root, strings.Join(c, " "))
			rc := runner.Cmd{Args: c, Chroot: root, Env: env, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr}
			if rc.Stdout == nil {
				rc.Stdout = io.Discard
			}
			if rc.Stderr == nil {
				rc.Stderr = io.Discard
			}
			if err := o.Runner.Run(ctx, rc); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted: %w", err)
				}
				return fmt.Errorf("in tree %s: %w", root, err)
			}
		}
		return nil
	})
	return res, nil // the deferred cleanup sets err
}

// MountsUnder lists the mount points below root in this process's mount
// namespace (mounts a manual chroot session left behind, say).
func MountsUnder(root string) ([]string, error) { return hostSystem().MountsUnder(root) }

// CheckRoot resolves root and checks that it is a tree sidus may chroot
// into (a directory with bin/ or usr/, not /).
func CheckRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("tree %s: %w; create it with `sidus tree create` or fix `tree` in the config", root, err)
	}
	if real == "/" {
		return "", fmt.Errorf("tree %s is the host's root: refusing to administer it as a SIDUS tree", root)
	}
	st, err := os.Stat(real)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("tree %s: not a directory", root)
	}
	_, e1 := os.Stat(filepath.Join(real, "bin"))
	_, e2 := os.Stat(filepath.Join(real, "usr"))
	if e1 != nil && e2 != nil {
		return "", fmt.Errorf("tree %s has neither bin/ nor usr/: not an OS tree; create it with `sidus tree create`", root)
	}
	return real, nil
}

// installPolicy puts sidus's policy-rc.d in place (moving the tree's own
// aside) and returns the function that undoes it.
func installPolicy(root string) (func() error, error) {
	p := filepath.Join(root, PolicyRCD)
	saved := filepath.Join(root, policySaved)
	if b, err := os.ReadFile(p); err == nil && string(b) != policyContent {
		if _, err := os.Lstat(saved); err == nil {
			return nil, fmt.Errorf("%s and %s both exist (an interrupted run?): keep the one you want as policy-rc.d and remove the other", p, saved)
		}
		if err := os.Rename(p, saved); err != nil {
			return nil, fmt.Errorf("set aside %s: %w", p, err)
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("policy-rc.d: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("policy-rc.d: %w", err)
	}
	tmp := p + ".sidus-tmp"
	if err := os.WriteFile(tmp, []byte(policyContent), 0o755); err != nil {
		return nil, fmt.Errorf("policy-rc.d: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("policy-rc.d: %w", err)
	}
	return func() error {
		if b, err := os.ReadFile(p); err == nil && string(b) != policyContent {
			// A package installed its own policy-rc.d meanwhile: keep it.
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
		if _, err := os.Lstat(saved); err == nil {
			if err := os.Rename(saved, p); err != nil {
				return fmt.Errorf("restore %s from %s: %w", p, saved, err)
			}
		}
		return nil
	}, nil
}

// mountPoints lists the mount points below root (not root itself) in a
// /proc/self/mountinfo text.
func mountPoints(mountinfo io.Reader, root string) ([]string, error) {
	b, err := io.ReadAll(mountinfo)
	if err != nil {
		return nil, err
	}
	var out []string
	prefix := strings.TrimSuffix(root, "/") + "/"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOct(s[i+1]) && isOct(s[i+2]) && isOct(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOct(c byte) bool { return c >= '0' && c <= '7' }
