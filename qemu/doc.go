// Package qemu is the end-to-end test harness of SIDUS-Go.
//
// It brings up, on one machine and without touching the outside network,
// everything a diskless SIDUS node needs:
//
//   - Kernel: a Debian kernel package, downloaded with apt-get and unpacked
//     into a cache (no install on the host);
//   - BuildInit / BuildInitrd: the Go /init and initrd.img-Sidus, built from
//     this module;
//   - TestRoot: a tiny busybox root filesystem to export over NFS, whose
//     /sbin/init reports what it sees as "SIDUS-ROOT: ..." console lines;
//   - StartLab: a network namespace with a bridge, tap devices, rpcbind,
//     nfs-ganesha (NFSv3+v4, read-only) and dnsmasq (DHCP + TFTP);
//   - PXEDir: a pxelinux TFTP tree like the seed's;
//   - Start: a QEMU VM (TCG) whose serial console is logged and matched
//     with Expect.
//
// The QEMU argument vector is built by the pure function Options.Argv,
// which is table-tested. Every process, namespace and VM is torn down by
// PID when the test (or the Process of a command) ends.
package qemu
