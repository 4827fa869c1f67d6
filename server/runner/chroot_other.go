//go:build !linux

package runner

import "os/exec"

// setChroot is Linux-only; elsewhere a chrooted command fails to start.
func setChroot(cmd *exec.Cmd, root string) {
	if root != "" {
		cmd.Path = "/nonexistent/chroot-needs-linux"
	}
}
