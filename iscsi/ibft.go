package iscsi

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
)

// IBFTDir is where the kernel's iscsi_ibft module shows the iSCSI Boot
// Firmware Table (Documentation/ABI/testing/sysfs-ibft).
const IBFTDir = "/sys/firmware/ibft"

// IBFT is what the firmware's iSCSI Boot Firmware Table says: the
// initiator's name, the targets to log in to and the NICs to configure.
type IBFT struct {
	Initiator string
	Targets   []IBFTTarget
	NICs      []IBFTNIC
}

// IBFTTarget is one targetN entry.
type IBFTTarget struct {
	Index      int
	IP         string // IPv4 or IPv6 address
	Port       int    // 0: the default
	LUN        int    // -1: every LUN (the firmware's LUN could not be read)
	Name       string
	NICIndex   int // nic-assoc: the ethernetN this target is reached through
	Username   string
	Password   string
	InUsername string
	InPassword string
}

// IBFTNIC is one ethernetN entry.
type IBFTNIC struct {
	Index     int
	MAC       net.HardwareAddr
	IP        net.IP
	PrefixLen int // from prefix-len, else subnet-mask; -1 if neither
	Gateway   net.IP
	DNS       []net.IP
	Hostname  string
	DHCP      bool // the firmware got its address from DHCP: do DHCP again
	VLAN      int  // 0: none
}

// The flags' bits (iBFT 1.03, section 3.1): the block is valid; the
// firmware booted from it.
const (
	ibftFlagValid    = 1
	ibftOriginDHCP   = 3 // ethernetN/origin: IP_PREFIX_ORIGIN_DHCP
	ibftMaxEntries   = 16
	ibftSecretAbsent = ""
)

// ReadIBFT reads the table from fsys, the sysfs directory /sys/firmware/ibft
// (fstest.MapFS in tests). A missing initiator directory is an error
// wrapping fs.ErrNotExist (the firmware has no iBFT, or iscsi_ibft is not
// loaded); targets and NICs whose flags say they are not valid are
// skipped. A malformed value is an error that names the file.
func ReadIBFT(fsys fs.FS) (*IBFT, error) {
	read := func(dir, name string) (string, error) {
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("iBFT %s/%s: %w", dir, name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if _, err := fs.Stat(fsys, "initiator"); err != nil {
		return nil, fmt.Errorf("iBFT: no initiator entry: %w", err)
	}
	t := &IBFT{}
	var err error
	if t.Initiator, err = read("initiator", "initiator-name"); err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("iBFT: %w", err)
	}
	bad := func(dir, file, v, want string) error {
		return fmt.Errorf("iBFT %s/%s = %q: expected %s", dir, file, v, want)
	}
	valid := func(dir string) (bool, error) {
		f, err := read(dir, "flags")
		if err != nil || f == "" {
			return true, err
		}
		n, err := strconv.ParseInt(f, 0, 32)
		if err != nil {
			return false, bad(dir, "flags", f, "a number")
		}
		return n&ibftFlagValid != 0, nil
	}
	num := func(dir, file string, def int) (int, error) {
		v, err := read(dir, file)
		if err != nil || v == "" {
			return def, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, bad(dir, file, v, "a whole number")
		}
		return n, nil
	}
	ip := func(dir, file string) (net.IP, error) {
		v, err := read(dir, file)
		if err != nil || v == "" {
			return nil, err
		}
		a := net.ParseIP(v)
		if a == nil {
			return nil, bad(dir, file, v, "an IP address")
		}
		if a.IsUnspecified() {
			return nil, nil
		}
		return a, nil
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "target"):
			idx, err := strconv.Atoi(strings.TrimPrefix(name, "target"))
			if err != nil || idx >= ibftMaxEntries {
				continue
			}
			if ok, err := valid(name); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
			tg := IBFTTarget{Index: idx, LUN: -1}
			if tg.Name, err = read(name, "target-name"); err != nil {
				return nil, err
			}
			if tg.Name == "" {
				continue
			}
			a, err := ip(name, "ip-addr")
			if err != nil {
				return nil, err
			}
			if a == nil {
				return nil, bad(name, "ip-addr", "", "the target's IP address")
			}
			tg.IP = a.String()
			if tg.Port, err = num(name, "port", 0); err != nil {
				return nil, err
			}
			if tg.Port > 65535 {
				return nil, bad(name, "port", strconv.Itoa(tg.Port), "a TCP port 1-65535")
			}
			if tg.NICIndex, err = num(name, "nic-assoc", 0); err != nil {
				return nil, err
			}
			lun, err := read(name, "lun")
			if err != nil {
				return nil, err
			}
			tg.LUN = ibftLUN(lun)
			chapType, err := num(name, "chap-type", -1)
			if err != nil {
				return nil, err
			}
			if chapType != 0 { // 0: no CHAP; unset: as the names say
				for _, kv := range []struct {
					file string
					dst  *string
				}{{"chap-name", &tg.Username}, {"chap-secret", &tg.Password}, {"rev-chap-name", &tg.InUsername}, {"rev-chap-secret", &tg.InPassword}} {
					if *kv.dst, err = read(name, kv.file); err != nil {
						return nil, err
					}
				}
				if chapType == 1 { // one-way CHAP only
					tg.InUsername, tg.InPassword = "", ""
				}
			}
			t.Targets = append(t.Targets, tg)
		case strings.HasPrefix(name, "ethernet"):
			idx, err := strconv.Atoi(strings.TrimPrefix(name, "ethernet"))
			if err != nil || idx >= ibftMaxEntries {
				continue
			}
			if ok, err := valid(name); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
			nic := IBFTNIC{Index: idx, PrefixLen: -1}
			m, err := read(name, "mac")
			if err != nil {
				return nil, err
			}
			if nic.MAC, err = net.ParseMAC(m); err != nil || len(nic.MAC) != 6 {
				return nil, bad(name, "mac", m, "an Ethernet MAC address")
			}
			if nic.IP, err = ip(name, "ip-addr"); err != nil {
				return nil, err
			}
			if nic.PrefixLen, err = num(name, "prefix-len", -1); err != nil {
				return nil, err
			}
			if nic.PrefixLen < 0 {
				mask, err := ip(name, "subnet-mask")
				if err != nil {
					return nil, err
				}
				if mask4 := mask.To4(); mask4 != nil {
					if ones, bits := net.IPMask(mask4).Size(); bits == 32 {
						nic.PrefixLen = ones
					}
				}
			}
			if nic.PrefixLen > 128 || (nic.IP.To4() != nil && nic.PrefixLen > 32) {
				return nil, bad(name, "prefix-len", strconv.Itoa(nic.PrefixLen), "a prefix length")
			}
			if nic.Gateway, err = ip(name, "gateway"); err != nil {
				return nil, err
			}
			for _, f := range []string{"primary-dns", "secondary-dns"} {
				d, err := ip(name, f)
				if err != nil {
					return nil, err
				}
				if d != nil {
					nic.DNS = append(nic.DNS, d)
				}
			}
			if nic.Hostname, err = read(name, "hostname"); err != nil {
				return nil, err
			}
			dhcpServer, err := ip(name, "dhcp")
			if err != nil {
				return nil, err
			}
			origin, err := num(name, "origin", -1)
			if err != nil {
				return nil, err
			}
			nic.DHCP = dhcpServer != nil || origin == ibftOriginDHCP || nic.IP == nil
			if nic.VLAN, err = num(name, "vlan", 0); err != nil {
				return nil, err
			}
			if nic.VLAN > 4094 {
				return nil, bad(name, "vlan", strconv.Itoa(nic.VLAN), "a VLAN ID 0-4094")
			}
			t.NICs = append(t.NICs, nic)
		}
	}
	sort.Slice(t.Targets, func(i, j int) bool { return t.Targets[i].Index < t.Targets[j].Index })
	sort.Slice(t.NICs, func(i, j int) bool { return t.NICs[i].Index < t.NICs[j].Index })
	return t, nil
}

// ibftLUN decodes the kernel's rendering of the 8-byte SAM LUN: each byte
// printed with %x, unpadded. With 8 digits (every byte below 16) the
// single-level LUN is bytes 0-1; anything else is ambiguous: -1 (all LUNs).
func ibftLUN(s string) int {
	if len(s) != 8 {
		return -1
	}
	var b [8]int
	for i := range b {
		v, err := strconv.ParseUint(s[i:i+1], 16, 8)
		if err != nil {
			return -1
		}
		b[i] = int(v)
	}
	return (b[0]&0x3f)<<8 | b[1]
}

// Keys returns t as the canonical parameters of one target (KeyTargetIP,
// KeyTargetName, ...), the form cmdline.Config.ISCSITargets has.
func (t IBFTTarget) Keys() map[string]string {
	kv := map[string]string{KeyTargetIP: t.IP, KeyTargetName: t.Name}
	if t.Port != 0 {
		kv[KeyTargetPort] = strconv.Itoa(t.Port)
	}
	if t.LUN >= 0 {
		kv[KeyLUN] = strconv.Itoa(t.LUN)
	}
	set := func(k, v string) {
		if v != ibftSecretAbsent {
			kv[k] = v
		}
	}
	set(KeyUsername, t.Username)
	set(KeyPassword, t.Password)
	set(KeyInUsername, t.InUsername)
	set(KeyInPassword, t.InPassword)
	return kv
}

// String describes the target without its secrets.
func (t IBFTTarget) String() string {
	s := fmt.Sprintf("target%d %s at %s", t.Index, t.Name, t.IP)
	if t.Port != 0 {
		s += ":" + strconv.Itoa(t.Port)
	}
	if t.LUN >= 0 {
		s += fmt.Sprintf(" LUN %d", t.LUN)
	}
	if t.Username != "" {
		s += " (CHAP)"
	}
	return s
}
