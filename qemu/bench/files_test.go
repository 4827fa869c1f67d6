package bench

import (
	"os/exec"
	"strings"
	"testing"
)

// TestHooks checks the baselines' scripts with sh -n, and that both
// VmHWM hooks print the line Parse reads.
func TestHooks(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for name, s := range map[string]string{"rootaufs": RootaufsHook, "zz-vmhwm": VmHWMHook, "dracut": dracutVmHWMHook} {
		cmd := exec.Command(sh, "-n")
		cmd.Stdin = strings.NewReader(s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", name, err, out)
		}
		if !strings.HasPrefix(s, "#!/bin/sh\n") {
			t.Errorf("%s does not start with #!/bin/sh", name)
		}
	}
	for name, s := range map[string]string{"zz-vmhwm": VmHWMHook, "dracut": dracutVmHWMHook} {
		if !strings.Contains(s, `echo "sidus-bench: init pid 1 VmHWM=$v kB"`) {
			t.Errorf("%s does not print the VmHWM line:\n%s", name, s)
		}
	}
	if !strings.HasSuffix(VmHWMHook, "done </proc/1/status\nexit 0\n") {
		t.Errorf("zz-vmhwm does not end with the VmHWM loop and exit 0:\n%s", VmHWMHook)
	}
}
