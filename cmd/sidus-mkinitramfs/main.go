// Command sidus-mkinitramfs packs initrd.img-Sidus: the static sidus-init
// as /init, the kernel modules a diskless NFS-root node needs (with their
// dependencies, in load order) and their firmware, and optionally a rescue
// shell and an iSCSI parameter file.
//
//	sidus-mkinitramfs [-b BASEDIR] [-m MOD,...] [-c zstd|gzip|none] [--shell PATH]
//	    [--iscsi-conf FILE] [--init PATH] -o OUTPUT KVERSION
//
// The archive is reproducible; set SOURCE_DATE_EPOCH to choose its mtimes.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "sidus-mkinitramfs: %v\n", err)
		os.Exit(1)
	}
}
