package cmdline

// The two pxelinux APPEND lines of the 2013 SIDUS documentation
// (../shared/seed/sidus-2013.txt, LABEL tmpfs and LABEL iscsi), verbatim:
// the iscsi one ends with a space. testdata/cmdline/sidus-2013-*.txt hold
// the same lines (a test checks it); the initramfs tests and the QEMU
// harness boot them.
const (
	SeedTmpfs = "console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=,rsize=8192,wsize=8192,tcp ip=dhcp aufs=tmpfs"
	SeedISCSI = "console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=,rsize=8192,wsize=8192,tcp ip=dhcp aufs=iscsi ISCSI_TARGET_IP= ISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default root=LABEL=ISCSI "
)
