// Package qemu is the root of SIDUS-Go's end-to-end test harness: what
// every part of it shares. It holds T and Process (the test or command a
// lab or VM logs to and is torn down with), Require (skip or fail when the
// host lacks a program, from the one list of apt packages,
// apt-packages.txt, that `make deps` installs too) and CacheDir.
//
// The harness itself is in sub-packages, one idea each:
//
//   - qemu/kernel: a Debian kernel package, fetched with apt-get download
//     and unpacked into CacheDir (no install on the host);
//   - qemu/gobuild: the Go /init and initrd.img-Sidus, built from this module;
//   - qemu/roots: the shared roots to export over NFS: a tiny busybox root
//     and a debootstrapped Debian root with systemd;
//   - qemu/lab: a network namespace with a bridge, taps and the servers
//     (rpcbind, nfs-ganesha, dnsmasq, tgtd), in a mount namespace with a
//     private /run, so that labs run beside each other and the host's own
//     daemons;
//   - qemu/pxe: a pxelinux TFTP tree like the seed's;
//   - qemu/disk: ext4 images for iSCSI LUNs, and their checks;
//   - qemu/vm: a QEMU VM (TCG) from a pure, table-tested argument vector,
//     its serial console logged and matched with Expect;
//   - qemu/bench: `make bench`.
//
// Every process, namespace and VM is torn down by PID when the test (or
// the Process of a command) ends. The VM boots themselves are in e2e/.
package qemu
