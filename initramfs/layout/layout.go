// Package layout names the paths inside initrd.img-Sidus. The packer
// (initramfs/image) writes them and the init (initramfs) reads them; this is
// the one place where both sides learn where things are.
package layout

const (
	// Init is the Go PID 1.
	Init = "init"
	// ModulesDir holds the packed kernel modules, as lib/modules/KVER/... .
	ModulesDir = "lib/modules"
	// LoadOrder lists the packed modules, one image-relative path per line
	// (e.g. lib/modules/6.1.0-56-cloud-amd64/kernel/net/core/failover.ko),
	// dependencies first. The init loads them in this order.
	LoadOrder = "etc/sidus/modules.load"
	// FirmwareDir holds the firmware files the packed modules name.
	FirmwareDir = "lib/firmware"
	// Shell is the optional rescue shell (packer --shell), e.g. busybox.
	Shell = "bin/sh"
	// ISCSIConf is the optional root-only iSCSI parameter file (packer
	// --iscsi-conf), KEY=value lines in open-iscsi initramfs style.
	ISCSIConf = "etc/iscsi.initramfs"
)
