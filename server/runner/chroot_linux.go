package runner

import (
	"os/exec"
	"syscall"
)

func setChroot(cmd *exec.Cmd, root string) {
	if root == "" {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Chroot = root
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
}
