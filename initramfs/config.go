package initramfs

import (
	"net"
	"time"
)

// Config is the typed form of the kernel command line (and the environment
// the kernel hands to /init). Parse builds it; Boot consumes it.
type Config struct {
	// Raw is the command line as read.
	Raw string

	// NFS root (nfsroot=[server:][path][,opts], root=/dev/nfs).
	NFSServer  string   // empty: take DHCP next-server, then the server identifier
	NFSPath    string   // empty: DHCP option 17, else /tftpboot/%s; may contain %s (client IP)
	NFSOptions []string // user options, passed through ("tcp" already mapped to "proto=tcp")
	NFSVersion string   // "", "3", "4", "4.0", "4.1", "4.2" from vers=/nfsvers= ("" = try 4, fall back to 3)
	RootIsNFS  bool     // a root=/dev/nfs was seen (or nfsroot= given)

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
	// in order. They are recorded, not acted on.
	RootOther []string

	// Misc.
	RootDelay time.Duration // rootdelay= / nfsrootdelay=: bound on waiting for the root; 0 = keep trying
	Init      string        // init=, default /sbin/init
	InitArgs  []string      // words after "--" on the cmdline, passed to init
	Panic     int           // panic=N: reboot after N seconds on fatal error; 0 = wait / rescue shell; <0 = reboot at once
	PanicSet  bool
	Break     string // break=<stage> (break alone = "premount"): open the rescue shell before that stage
	ReadOnly  bool   // ro (default) / rw: advisory; the NFS lower is always mounted read-only
	Consoles  []string

	// ISCSI holds every ISCSI_*/iscsi_*/rd.iscsi.*/netroot=iscsi: value found,
	// keyed by the canonical upper-case open-iscsi name (ISCSI_TARGET_IP, ...;
	// see the ISCSI* constants; netroot= may also set ISCSI_LUN). A key
	// present with "" is meaningful (ISCSI_TARGET_IP=: use the DHCP
	// next-server). The environment is read first; the command line wins.
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
// or ip=dhcp|on|any|off|none.
type IPConfig struct {
	Mode     IPMode
	Client   net.IP
	Server   net.IP
	Gateway  net.IP
	Netmask  net.IPMask
	Hostname string
	Device   string // empty: BOOTIF, then eth0, then first link with carrier
	DNS      []net.IP
	NTP      net.IP
}
