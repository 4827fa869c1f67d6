package cmdline

import (
	"net"
	"time"
)

// Config is the typed form of what the kernel hands /init: the command
// line, the arguments and the environment. Parse builds it; initramfs.Boot
// consumes it. The kernel's own parameters (console=, ro, rw, quiet, ...)
// are not in it: the kernel and the booted system act on them.
type Config struct {
	// NFS root: nfsroot=[server:][path][,opts] (root=/dev/nfs is implied),
	// initramfs-tools' nfsroot=auto, dracut's root=nfs:, root=nfs4:,
	// root=<server>:<path>, root=dhcp. The last of them wins. The server
	// may be a list, server,server,...: the node picks one (by the hash of
	// its MAC) and fails over to the others.
	//
	// NFSServers are the servers named, in order (nil: none, DHCP gives
	// it); NFSServer is the first of them, for the code that knows one.
	// A Config built by hand may set NFSServer alone: ResolveNFS takes
	// NFSServers if set, else NFSServer.
	NFSServers []string
	NFSServer  string   // empty: take DHCP next-server, then the server identifier
	NFSPath    string   // empty: DHCP option 17, else /tftpboot/%s; may contain %s (client IP)
	NFSOptions []string // user options, passed through ("tcp" already mapped to "proto=tcp")
	NFSVersion string   // "", "3", "4", "4.0", "4.1", "4.2" from vers=/nfsvers=/v3/v4 or root=nfs4: ("" = try 4.2, 4.1, then 3)

	// Set by ResolveNFS, not by Parse: what the DHCP root-path (option 17)
	// carries after its path ("server:/path,opts" or dracut's
	// "nfs:server:/path:opts"), when ResolveNFS takes the path from it.
	// NFSMountOptions puts these before NFSOptions and drops the ones a
	// command-line option sets, so the command line wins.
	NFSRootPathOptions []string
	NFSRootPathVersion string // its vers=/vN or nfs4: prefix; WantNFSVersion uses it when NFSVersion is ""

	// Shared root ("lower", lower.go): what the boot mounts read-only at
	// /ro. LowerNFS (the default) is the NFS export above; sidus.image=
	// (LowerImage) is an image file on that export; root=rbd:
	// (LowerRBD) and root=cephfs: (LowerCephFS) are on Ceph, whose
	// monitors sidus.ceph.mon= gives. The last root= that names a kind
	// wins; nfsroot= does not choose one.
	Lower LowerKind
	// RBD is root=rbd:POOL/IMAGE@SNAP; zero unless Lower is LowerRBD.
	RBD RBDImage
	// CephFSPath is root=cephfs:'s directory, cleaned ("/" by default);
	// "" unless Lower is LowerCephFS.
	CephFSPath string
	// CephFS is sidus.cephfs.fs=: the name of root=cephfs:'s file system
	// ("" = the cluster's default one).
	CephFS string
	// CephMons are sidus.ceph.mon='s monitors, in order, each "ip:port"
	// (DefaultCephMonPort when not given).
	CephMons []string
	// CephUser is sidus.ceph.user=: the NAME of the keyring's
	// [client.NAME] section ("" = its first client section). The key is
	// never on the command line: the boot reads it from the initramfs.
	CephUser string
	// Image is sidus.image=: the image file's path from the NFS export's
	// root, cleaned, without a leading '/' or a ".." component.
	Image string
	// VerityRootHash is sidus.verity= (hexadecimal): the image or RBD
	// device is opened with dm-verity against it. Parse allows it only
	// with LowerRBD and LowerImage.
	VerityRootHash string
	// LowerFSType is rootfstype=: the filesystem of the image or RBD
	// device, one of LowerFSTypes ("" = detect it).
	LowerFSType string

	// Network (ip=, nfsaddrs=, BOOTIF=, bootdev=, ifname=, bond=, team=, vlan=).
	//
	// IP is the boot NIC's configuration: the ip= for bootdev= if there is
	// one, else the first ip=, else DHCP (on bootdev= if given). With
	// rd.iscsi.ibft / ip=ibft / iscsi_auto and no ip=, its Mode is IPIBFT.
	IP IPConfig
	// IPs holds every ip= in order, one per device (a later ip= for the
	// same device, "" included, replaces the earlier one). IP is one of
	// them unless it was derived from bootdev= alone. An entry whose
	// Device is "" is the boot NIC's.
	IPs []IPConfig
	// BootDev is dracut's bootdev=: the interface that carries the boot
	// (DHCP options, routing, the NFS root). Empty: BOOTIF, then IP.Device.
	BootDev string
	// BootIF is the MAC from BOOTIF=01-aa-bb-cc-dd-ee-ff (also bootif=,
	// hwaddr=); nil if absent or if rd.bootif=0.
	BootIF net.HardwareAddr
	// IfNames are dracut's ifname=<name>:<MAC>: rename the NIC with that MAC
	// to name before anything else uses names. In order; one per name.
	IfNames []IfName
	// Bonds are dracut's bond= (and team=, approximated as a bond), in
	// order; one per name. The boot creates them before ip= is applied.
	Bonds []Bond
	// VLANs are dracut's vlan=<name>:<parent>, in order; one per name.
	VLANs []VLAN
	// IBFTNetwork: configure the NIC(s) the iBFT describes
	// (/sys/firmware/ibft/ethernet*): rd.iscsi.ibft[=1], ip=ibft, iscsi_auto.
	IBFTNetwork bool

	// Writable layer: aufs=tmpfs[:SIZE] | iscsi, or overlayroot=
	// (cloud-initramfs-tools): tmpfs[:opts], device:dev=...[,opts], /dev/X.
	// The last of aufs= and overlayroot= wins.
	Upper     UpperKind
	TmpfsSize string // e.g. "50%" or "2G"; empty = kernel default
	// UpperDev is the local block device of UpperDevice (overlayroot's
	// dev=): a /dev path ("vdb" is made "/dev/vdb"), LABEL=<label> or
	// UUID=<uuid>. Empty unless Upper is UpperDevice.
	UpperDev string
	// UpperDevTimeout bounds the wait for UpperDev to appear (timeout=).
	// 0 (not given) leaves the init's default bound (30 s): in an
	// initramfs without udev, "there already" has no meaning.
	UpperDevTimeout time.Duration
	// RWLabel is the filesystem label from a root=LABEL=... (the rw device, iSCSI mode).
	RWLabel string
	// RootOther holds the other root= values (not /dev/nfs, dhcp, LABEL=,
	// nfs:, nfs4:, iscsi:, <server>:/<path> or /<path>), in order. Boot does
	// not act on them; it warns that they are ignored.
	RootOther []string

	// Misc.
	RootDelay time.Duration // rootdelay= / nfsrootdelay= / rd.retry=: bound on waiting for the root; 0 = keep trying
	Init      string        // init=, default /sbin/init
	// InitArgs are the arguments the kernel gave /init (Parse's args): the
	// words after "--" and the bare words before it that the kernel did not
	// know (e.g. single). Boot passes them to init= unchanged.
	InitArgs []string
	// Break is the first of Breaks in boot order ("" = none).
	Break string
	// Breaks are the stages (BreakStages names, in boot order, each once)
	// before which a rescue shell opens: break=, rd.break=, with the
	// initramfs-tools and dracut names mapped onto ours (see breakAliases).
	Breaks []string
	// RescueShell is dracut's rd.shell (true) / rd.shell=0 (false): offer a
	// rescue shell when the boot fails. nil: the default (a shell if the
	// image has one and panic= is absent).
	RescueShell *bool

	// ISCSI holds every ISCSI_*/iscsi_*/rd.iscsi.* value found, and the
	// first netroot=iscsi:/root=iscsi: target, keyed by the canonical
	// upper-case open-iscsi name (iscsi.KeyTargetIP, ...; a target may also
	// set iscsi.KeyLUN). A key present with "" is meaningful
	// (ISCSI_TARGET_IP=: use the DHCP next-server). The environment is read
	// first; the command line wins.
	ISCSI map[string]string
	// ISCSITargets holds each netroot=iscsi:..., root=iscsi:... and
	// iscsiroot= target in order, each with only its own keys (target IP
	// and name, and port, LUN, CHAP names and secrets when given). The
	// boot logs in to each, taking what a target lacks (the initiator) from
	// ISCSI. The first one is also merged into ISCSI.
	ISCSITargets []map[string]string
	// ISCSIFirmware: take the iSCSI target(s) and initiator name from the
	// iBFT (/sys/firmware/ibft): rd.iscsi.firmware[=1], iscsi_firmware,
	// iscsi_auto. Command-line values win over the firmware's.
	ISCSIFirmware bool

	// Sidus holds sidus.* options (sidus.format=empty, sidus.iscsi.fallback=...),
	// keyed without the "sidus." prefix; not those of the shared root
	// (sidus.ceph.*, sidus.cephfs.fs, sidus.image, sidus.verity), which
	// are in their own fields above.
	Sidus map[string]string

	// Warnings are the forms Parse accepted with an approximate meaning
	// (ip=rarp: DHCP is used, overlayroot=crypt: tmpfs is used, ...), one
	// line each, starting with the parameter. Boot logs them.
	Warnings []string
}

// UpperKind selects the writable layer.
type UpperKind string

const (
	UpperTmpfs  UpperKind = "tmpfs"
	UpperISCSI  UpperKind = "iscsi"
	UpperDevice UpperKind = "device" // a local block device, UpperDev (overlayroot=device:dev=...)
)

// IPMode is how the interface is configured.
type IPMode string

const (
	IPDHCP   IPMode = "dhcp" // ip=dhcp|on|any, or no ip= at all
	IPStatic IPMode = "static"
	IPOff    IPMode = "off"  // ip=off|none: the init configures no address
	IPIBFT   IPMode = "ibft" // the address the iBFT gives (rd.iscsi.ibft, ip=ibft, iscsi_auto, no ip=)
)

// IPConfig is one ip= (or nfsaddrs=):
// <client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>:<dns1>:<ntp0>
// (the kernel), with dracut's :<mtu>:<macaddr> after <autoconf> instead of
// the DNS fields, dracut's <device>:<autoconf>[:<mtu>[:<macaddr>]], or a
// lone autoconf word (dhcp, on, any, off, none). ntp0 is checked but not
// kept: the init sets no clock from the network.
type IPConfig struct {
	Mode     IPMode
	Client   net.IP
	Server   net.IP
	Gateway  net.IP
	Netmask  net.IPMask
	Hostname string
	Device   string // empty: BOOTIF, then eth0, then first link with carrier
	DNS      []net.IP
	MTU      int              // 0: leave the link's MTU
	MAC      net.HardwareAddr // nil: keep the NIC's address; else set it (dracut <macaddr>)
}

// IfName is one dracut ifname=<name>:<MAC>.
type IfName struct {
	Name string
	MAC  net.HardwareAddr
}

// Bond is one dracut bond=<name>[:<slaves>[:<options>[:<mtu>]]].
type Bond struct {
	Name   string
	Slaves []string // the enslaved interfaces, in order (default eth0, eth1)
	// Options are the bonding driver's sysfs attributes
	// (/sys/class/net/<name>/bonding/<key>): mode=balance-rr|active-backup|
	// balance-xor|broadcast|802.3ad|balance-tlb|balance-alb (or 0-6),
	// miimon=<ms>, ...; arp_ip_target's addresses stay ';'-separated.
	// Empty: the driver's defaults (mode balance-rr).
	Options map[string]string
	MTU     int // 0: leave it
}

// VLAN is one dracut vlan=<name>:<parent>. ID is derived from the name as
// dracut does: vlan0005 and vlan5 give 5, eth0.0005 and eth0.5 give 5.
type VLAN struct {
	Name   string
	Parent string
	ID     int // 1-4094
}
