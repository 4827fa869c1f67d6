package initramfs

import (
	"fmt"
	"os"
	"testing"
)

// hostPaths are what a boot writes on a node. A unit test must write none
// of them on the host: every side effect of Boot goes through System (or
// Options.ISCSI), and the tests' fakes keep them in memory.
var hostPaths = []string{StateDir, "/run/net-eth0.conf", "/run/systemd/network/10-sidus-eth0.network",
	"/run/NetworkManager/conf.d/sidus-eth0.conf", "/ro", "/rw", "/aufs"}

func TestMain(m *testing.M) {
	before := map[string]bool{}
	for _, p := range hostPaths {
		before[p] = exists(p)
	}
	code := m.Run()
	for _, p := range hostPaths {
		if !before[p] && exists(p) {
			fmt.Fprintf(os.Stderr, "FAIL: a test created %s on the host; boot side effects must go through the fake System\n", p)
			code = 1
		}
	}
	os.Exit(code)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }
