package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// Tools maps each host program the harness runs to the Debian package that
// ships it. The lead's Makefile installs these packages.
var Tools = map[string]string{
	"qemu-system-x86_64": "qemu-system-x86",
	"ganesha.nfsd":       "nfs-ganesha",
	"rpcbind":            "rpcbind",
	"rpcinfo":            "rpcbind",
	"dnsmasq":            "dnsmasq-base",
	"debootstrap":        "debootstrap",
	"tgtd":               "tgt",
	"tgtadm":             "tgt",
	"cpio":               "cpio",
	"depmod":             "kmod",
	"ip":                 "iproute2",
	"apt-get":            "apt",
	"dpkg":               "dpkg",
}

// Files maps files the harness reads to the Debian package that ships them.
var Files = map[string]string{
	"/usr/lib/PXELINUX/pxelinux.0":                    "pxelinux",
	"/usr/lib/syslinux/modules/bios/ldlinux.c32":      "syslinux-common",
	"/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so": "nfs-ganesha-vfs",
	"/usr/lib/ipxe/qemu/efi-virtio.rom":               "ipxe-qemu",
	BusyboxPath:                                       "busybox-static",
}

// BusyboxPath is the static busybox that TestRoot and the smoke initramfs use.
const BusyboxPath = "/bin/busybox"

// Missing lists what is missing on this host, as "what (apt package)".
func Missing() []string {
	var miss []string
	for prog, pkg := range Tools {
		if _, err := exec.LookPath(prog); err != nil {
			// /usr/sbin may be missing from a non-root PATH.
			if _, err := os.Stat("/usr/sbin/" + prog); err != nil {
				miss = append(miss, fmt.Sprintf("%s (apt package %s)", prog, pkg))
			}
		}
	}
	for f, pkg := range Files {
		if _, err := os.Stat(f); err != nil {
			miss = append(miss, fmt.Sprintf("%s (apt package %s)", f, pkg))
		}
	}
	if os.Geteuid() != 0 {
		miss = append(miss, "root privileges (network namespaces, taps)")
	}
	sort.Strings(miss)
	return miss
}

// E2E reports whether SIDUS_E2E=1, i.e. end-to-end tests must run.
func E2E() bool { return os.Getenv("SIDUS_E2E") == "1" }

// Require checks that every program and file the harness needs is on this
// host. When something is missing it fails the test if SIDUS_E2E=1 and
// skips it otherwise, naming the apt packages to install.
func Require(t testing.TB) {
	t.Helper()
	miss := Missing()
	if len(miss) == 0 {
		return
	}
	msg := "end-to-end test needs: " + strings.Join(miss, ", ")
	if E2E() {
		t.Fatalf("%s (SIDUS_E2E=1)", msg)
	}
	t.Skipf("%s; set SIDUS_E2E=1 to make this a failure", msg)
}
