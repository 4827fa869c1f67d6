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
	// NFS root (nfsroot=[server:][path][,opts]; root=/dev/nfs is implied).
	NFSServer  string   // empty: take DHCP next-server, then the server identifier
	NFSPath    string   // empty: DHCP option 17, else /tftpboot/%s; may contain %s (client IP)
	NFSOptions []string // user options, passed through ("tcp" already mapped to "proto=tcp")
	NFSVersion string   // "", "3", "4", "4.0", "4.1", "4.2" from vers=/nfsvers= ("" = try 4.2, 4.1, then 3)

	// Network (ip=, BOOTIF=).
	IP IPConfig
	// BootIF is the MAC from BOOTIF=01-aa-bb-cc-dd-ee-ff (nil if absent).
	BootIF net.HardwareAddr

	// Writable layer (aufs=tmpfs[:SIZE] | iscsi).
	Upper     UpperKind
	TmpfsSize string // e.g. "50%" or "2G"; empty = kernel default
	// RWLabel is the filesystem label from a root=LABEL=... (the rw device, iSCSI mode).
	RWLabel string
	// RootOther holds the other root= values (neither /dev/nfs nor LABEL=),
	// in order. Boot does not act on them; it warns that they are ignored.
	RootOther []string

	// Misc.
	RootDelay time.Duration // rootdelay= / nfsrootdelay=: bound on waiting for the root; 0 = keep trying
	Init      string        // init=, default /sbin/init
	// InitArgs are the arguments the kernel gave /init (Parse's args): the
	// words after "--" and the bare words before it that the kernel did not
	// know (e.g. single). Boot passes them to init= unchanged.
	InitArgs []string
	Break    string // break=<stage> (break alone = "premount"): open the rescue shell before that stage

	// ISCSI holds every ISCSI_*/iscsi_*/rd.iscsi.*/netroot=iscsi: value found,
	// keyed by the canonical upper-case open-iscsi name (iscsi.KeyTargetIP,
	// ...; netroot= may also set iscsi.KeyLUN). A key present with "" is
	// meaningful (ISCSI_TARGET_IP=: use the DHCP next-server). The
	// environment is read first; the command line wins.
	ISCSI map[string]string

	// Sidus holds sidus.* options (sidus.format=empty, sidus.iscsi.fallback=...),
	// keyed without the "sidus." prefix.
	Sidus map[string]string
}

// UpperKind selects the writable layer.
type UpperKind string

const (
	UpperTmpfs UpperKind = "tmpfs"
	UpperISCSI UpperKind = "iscsi"
)

// IPMode is how the interface is configured.
type IPMode string

const (
	IPDHCP   IPMode = "dhcp" // ip=dhcp|on|any, or no ip= at all
	IPStatic IPMode = "static"
	IPOff    IPMode = "off" // ip=off|none: the init configures no address
)

// IPConfig is ip=<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>:<dns1>:<ntp0>
// or ip=dhcp|on|any|off|none. ntp0 is checked but not kept: the init sets
// no clock from the network.
type IPConfig struct {
	Mode     IPMode
	Client   net.IP
	Server   net.IP
	Gateway  net.IP
	Netmask  net.IPMask
	Hostname string
	Device   string // empty: BOOTIF, then eth0, then first link with carrier
	DNS      []net.IP
}
