package main

import (
	"fmt"
	"path/filepath"

	"github.com/sidus-go/sidus/qemu"
)

// demoRoot returns the shared root the demo exports.
func demoRoot(kind, dir string) (string, error) {
	switch kind {
	case "busybox":
		root := filepath.Join(dir, "root")
		return root, qemu.TestRoot(root)
	}
	return "", fmt.Errorf("-root %q: expected busybox or debian", kind)
}
