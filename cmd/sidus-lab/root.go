package main

import (
	"fmt"
	"path/filepath"

	"github.com/sidus-go/sidus/qemu/roots"
)

// demoRoot returns the shared root the demo exports and the words its
// command line needs: the Debian root (systemd, built once with
// debootstrap and cached) logs root in on the console; without -shell it
// reports and powers off.
func demoRoot(kind, dir string, shell bool) (root, words string, err error) {
	switch kind {
	case "debian":
		root, err = roots.Debian()
		if !shell {
			words = " sidus.test=poweroff"
		}
		return root, words, err
	case "busybox":
		root = filepath.Join(dir, "root")
		if shell {
			words = " sidus.test=shell"
		}
		return root, words, roots.Busybox(root)
	}
	return "", "", fmt.Errorf("-root %q: expected debian or busybox", kind)
}
