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
	// ModulesIndex describes the packed modules so the init loads only what
	// this boot needs (package initramfs/kmod reads it; the packer writes it
	// with kmod.Index.WriteTo). Text, one record per line, blank and '#'
	// lines ignored:
	//
	//	module NAME GROUP PATH [DEP ...]
	//	alias NAME PATTERN
	//
	// module records are in LoadOrder's order; PATH is as in LoadOrder; each
	// DEP is a direct dependency listed on an earlier line. GROUP is boot
	// (loaded every boot: NFS, overlay, bus drivers such as virtio_pci, -m
	// extras), hw (NIC drivers and what they need: loaded when one of the
	// module's alias patterns matches a device modalias from
	// /sys/bus/*/devices/*/modalias, fnmatch-style) or iscsi (initiator,
	// disks, filesystems: loaded by the iSCSI stage). alias records follow
	// their module and give one modalias pattern each (rest of the line),
	// e.g. "alias virtio_net virtio:d00000001v*". Without this file the init
	// loads all of LoadOrder.
	ModulesIndex = "etc/sidus/modules.index"
	// FirmwareDir holds the firmware files the packed modules name.
	FirmwareDir = "lib/firmware"
	// Shell is the optional rescue shell (packer --shell), e.g. busybox.
	Shell = "bin/sh"
	// Agent is the optional node agent (packer --agent), which the init
	// copies to the booted root's /run and starts at switch_root.
	Agent = "bin/sidus-agent"
	// ISCSIConf is the optional root-only iSCSI parameter file (packer
	// --iscsi-conf), KEY=value lines in open-iscsi initramfs style.
	ISCSIConf = "etc/iscsi.initramfs"
	// CephKeyring is the optional root-only cephx keyring (packer
	// --ceph-keyring), mode 0600, in Ceph's keyring format:
	//
	//	[client.NAME]
	//		key = BASE64
	//
	// The init takes the user and key of root=rbd: and root=cephfs: from
	// it (the section sidus.ceph.user= names, else the first client one):
	// never from the command line, a log or the boot report.
	CephKeyring = "etc/sidus/ceph.keyring"
)
