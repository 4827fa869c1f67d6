// Command sidus-lab runs the SIDUS-Go lab outside the tests:
//
//	sidus-lab demo [-shell] [-root debian|busybox]   boot a node and show its console (make demo)
//	sidus-lab initrd [-o DIR]                        build initrd.img-Sidus for the cached kernel (make initrd)
//	sidus-lab bench [-n N] [-o BENCHMARKS.md] [-storm 1,4,8,16]
//	                                                 compare with initramfs-tools and dracut, then a
//	                                                 PXE boot storm of N nodes at once (make bench)
//
// Everything it starts (namespace, daemons, VM) is torn down by PID when it
// ends or is interrupted.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "sidus-lab: %v\n", err)
		os.Exit(1)
	}
}
