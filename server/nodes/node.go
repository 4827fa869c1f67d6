// Package nodes manages the SIDUS nodes of a server: `sidus node add`,
// `node rm` and `node list`. A node is a name, a MAC, a fixed IP on the
// node network and a pxelinux label (tmpfs, or iscsi with its own LUN).
// For each node it writes:
//
//   - pxelinux.cfg/01-<mac> in the TFTP root, booting its label;
//   - its fixed host entry, in the DHCP files of package dhcp;
//   - for iscsi: a sparse LUN file LUNDIR/IP.img formatted ext4 with the
//     configured label, a tgt target PREFIX:IP restricted to the node's
//     IP, in tgt's conf.d and applied live with tgtadm;
//   - with CHAP: the secret in the tgt target and in a small extra initrd
//     (TFTP root, sidus-NAME.img) holding /etc/iscsi.initramfs, loaded by
//     that node's pxelinux file only.
//
// The nodes are recorded in STATE_DIR/nodes.toml. Input is checked before
// anything is written, and a failed step undoes the ones before it.
package nodes

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/sidus-go/sidus/blockdev/format"
	"github.com/sidus-go/sidus/server/config"
)

// Node is one node of nodes.toml.
type Node struct {
	Name  string `toml:"name"`
	MAC   string `toml:"mac"` // canonical aa:bb:cc:dd:ee:ff
	IP    string `toml:"ip"`
	Label string `toml:"label"` // tmpfs or iscsi
	// LUNSize is the LUN's size in bytes; 0: no LUN.
	LUNSize int64 `toml:"lun_size,omitempty"`
	// CHAP: the target wants a CHAP login (user = Name).
	CHAP bool `toml:"chap,omitempty"`
}

// InputError is a bad value given to node add.
type InputError struct {
	Field string // the flag or argument: "NAME", "--mac", ...
	Value string
	Want  string
}

func (e *InputError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Want)
}

// ErrExists is wrapped by the errors of duplicate names, MACs and IPs.
var ErrExists = errors.New("already used by another node")

// MinLUNSize is the smallest LUN node add creates.
const MinLUNSize = 64 << 20

// ParseMAC returns mac in canonical lower-case colon form; it must be a
// 6-byte unicast Ethernet address.
func ParseMAC(mac string) (string, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return "", &InputError{"--mac", mac, "want an Ethernet address of six hex bytes, e.g. 52:54:00:12:34:56"}
	}
	if hw[0]&1 != 0 {
		return "", &InputError{"--mac", mac, "is a multicast address; want the node NIC's own (unicast) address"}
	}
	if bytes.Equal(hw, make([]byte, 6)) {
		return "", &InputError{"--mac", mac, "is all zeros; want the node NIC's address"}
	}
	return hw.String(), nil
}

// ParseIP checks that ip is a usable host address of the node network.
func ParseIP(c *config.Config, ip string) (netip.Addr, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return netip.Addr{}, &InputError{"--ip", ip, "want an IPv4 address, e.g. 192.168.1.21"}
	}
	if !c.Prefix.Contains(a) {
		return netip.Addr{}, &InputError{"--ip", ip, "is outside the node network " + c.Prefix.String() + " (network.cidr)"}
	}
	if a == c.Prefix.Addr() {
		return netip.Addr{}, &InputError{"--ip", ip, "is the network address of " + c.Prefix.String()}
	}
	if a == broadcast(c.Prefix) {
		return netip.Addr{}, &InputError{"--ip", ip, "is the broadcast address of " + c.Prefix.String()}
	}
	if a == c.ServerAddr {
		return netip.Addr{}, &InputError{"--ip", ip, "is this server's address (network.server_ip)"}
	}
	return a, nil
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom4(b)
}

// CheckName checks a node name: a DNS label (what DHCP's host-name option
// and tgt account names accept).
func CheckName(name string) error {
	ok := len(name) >= 1 && len(name) <= 63 && name[0] != '-' && name[len(name)-1] != '-'
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return &InputError{"NAME", name, "want a host name: 1 to 63 lower-case letters, digits or '-', not starting or ending with '-'"}
	}
	return nil
}

// Request is what node add is asked for.
type Request struct {
	Name, MAC, IP string
	// Label: tmpfs or iscsi; "" picks iscsi when LUNSize is set, else tmpfs.
	Label string
	// LUNSize: "" no LUN (iscsi label: iscsi.default_size), else a size.
	LUNSize string
	CHAP    bool
}

// Validate checks r against the config and the existing nodes and
// returns the node to add. A node identical to an existing one is
// returned with same = true (adding it again changes nothing).
func Validate(c *config.Config, existing []Node, r Request) (n Node, same bool, err error) {
	if err := CheckName(r.Name); err != nil {
		return n, false, err
	}
	mac, err := ParseMAC(r.MAC)
	if err != nil {
		return n, false, err
	}
	ip, err := ParseIP(c, r.IP)
	if err != nil {
		return n, false, err
	}
	n = Node{Name: r.Name, MAC: mac, IP: ip.String(), Label: r.Label, CHAP: r.CHAP}
	if n.Label == "" {
		n.Label = "tmpfs"
		if r.LUNSize != "" {
			n.Label = "iscsi"
		}
	}
	switch n.Label {
	case "tmpfs", "iscsi":
	default:
		return n, false, &InputError{"--label", r.Label, "want tmpfs or iscsi"}
	}
	size := r.LUNSize
	if size == "" && n.Label == "iscsi" {
		size = c.ISCSI.DefaultSize
	}
	if size != "" {
		s, err := config.ParseSize(size)
		if err != nil {
			return n, false, &InputError{"--iscsi", size, "want a LUN size such as 20G or 512M"}
		}
		if s < MinLUNSize {
			return n, false, &InputError{"--iscsi", size, fmt.Sprintf("is too small for an ext4 writable layer: want at least %s", config.FormatSize(MinLUNSize))}
		}
		if s < format.MinSize {
			return n, false, &InputError{"--iscsi", size, "is too small"}
		}
		n.LUNSize = s
	}
	if n.CHAP && n.LUNSize == 0 {
		return n, false, &InputError{"--chap", "true", "needs an iSCSI LUN: add --iscsi SIZE"}
	}
	for _, e := range existing {
		if e == n {
			return n, true, nil
		}
	}
	for _, e := range existing {
		switch {
		case e.Name == n.Name:
			return n, false, fmt.Errorf("node name %s: %w (MAC %s, IP %s); remove it first with `sidus node rm %s`", n.Name, ErrExists, e.MAC, e.IP, e.Name)
		case e.MAC == n.MAC:
			return n, false, fmt.Errorf("--mac %s: %w, %s", n.MAC, ErrExists, e.Name)
		case e.IP == n.IP:
			return n, false, fmt.Errorf("--ip %s: %w, %s", n.IP, ErrExists, e.Name)
		}
	}
	return n, false, nil
}

// DB is nodes.toml.
type DB struct {
	Nodes []Node `toml:"node"`
}

// LoadDB reads path; a missing file is an empty DB.
func LoadDB(path string) (*DB, error) {
	var db DB
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &db, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := toml.Decode(string(b), &db); err != nil {
		return nil, fmt.Errorf("%s: %w; fix it by hand (it lists the nodes sidus added)", path, err)
	}
	return &db, nil
}

// Encode is the DB's file content, nodes sorted by name.
func (db *DB) Encode() []byte {
	nodes := slices.Clone(db.Nodes)
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	var b bytes.Buffer
	b.WriteString("# Written by sidus node add/rm: the nodes of this server.\n")
	if len(nodes) > 0 {
		toml.NewEncoder(&b).Encode(DB{Nodes: nodes})
	}
	return b.Bytes()
}

// Find returns the node named name.
func (db *DB) Find(name string) (Node, bool) {
	for _, n := range db.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}
