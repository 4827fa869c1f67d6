// Package config reads /etc/sidus/sidus.toml, the one file that tells the
// sidus command where the shared tree, the TFTP root and the node network
// are, and which DHCP, NFS and iSCSI servers to write for. Parse is pure;
// a bad value gives a *KeyError that names the key and what was expected.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// DefaultPath is where the sidus command looks for its configuration.
const DefaultPath = "/etc/sidus/sidus.toml"

// DHCP server kinds.
const (
	ISCDHCP = "isc-dhcp-server"
	Dnsmasq = "dnsmasq"
)

// NFS server kinds.
const (
	KernelNFS = "nfs-kernel-server"
	Ganesha   = "nfs-ganesha"
)

// Generation backends: where `sidus gen publish` stores the images.
const (
	BackendNFS = "nfs" // squashfs files under the NFS export
	BackendRBD = "rbd" // Ceph RBD images, one protected snapshot each
)

// Config is sidus.toml. Paths are absolute.
type Config struct {
	// Tree is the shared Debian tree, exported read-only over NFS.
	Tree string `toml:"tree"`
	// StateDir holds sidus's own records (nodes.toml, CHAP secrets).
	StateDir string `toml:"state_dir"`

	Network Network `toml:"network"`
	TFTP    TFTP    `toml:"tftp"`
	Boot    Boot    `toml:"boot"`
	DHCP    DHCP    `toml:"dhcp"`
	NFS     NFS     `toml:"nfs"`
	ISCSI   ISCSI   `toml:"iscsi"`

	Generations Generations `toml:"generations"`

	// Prefix and ServerAddr are Network.CIDR and Network.ServerIP, parsed.
	Prefix     netip.Prefix `toml:"-"`
	ServerAddr netip.Addr   `toml:"-"`
}

// Network is the node network.
type Network struct {
	CIDR     string `toml:"cidr"`      // e.g. 192.168.1.0/24
	ServerIP string `toml:"server_ip"` // this server on that network: next-server, NFS, iSCSI portal
	// DNS servers written to the tree's static resolv.conf (default: ServerIP).
	DNS []string `toml:"dns"`
}

// TFTP is the TFTP server's folder.
type TFTP struct {
	Root string `toml:"root"` // e.g. /srv/tftp (tftpd-hpa's default)
}

// Boot is what `sidus boot publish` packs and writes.
type Boot struct {
	// Init: the static sidus-init, default next to the sidus program; it is
	// also the node agent. Agent: a separate sidus-agent to pack instead,
	// default none (the init). Shell: an optional static rescue shell.
	Init  string `toml:"init"`
	Agent string `toml:"agent"`
	Shell string `toml:"shell"`
	// Modules are packed in addition to the default set.
	Modules []string `toml:"modules"`
	// Compression: zstd (default), gzip or none.
	Compression string `toml:"compression"`
	// Console replaces the seed's console=tty1 (e.g. "ttyS0,115200").
	Console string `toml:"console"`
	// DefaultLabel is pxelinux.cfg/default's DEFAULT: tmpfs or iscsi.
	DefaultLabel string `toml:"default_label"`
	// Append is added to both APPEND lines.
	Append string `toml:"append"`
}

// DHCP is the DHCP server sidus writes host entries for.
type DHCP struct {
	// Server is isc-dhcp-server or dnsmasq.
	Server string `toml:"server"`
	// Include (isc-dhcp-server) is the file sidus owns, included from
	// Conf: the node group (next-server, filename, root-path) and hosts.
	Include string `toml:"include"`
	// Conf is the server's main file (checked for the include).
	Conf string `toml:"conf"`
	// Hosts (dnsmasq) is the dhcp-hostsfile sidus owns; DnsmasqConf the
	// conf-dir snippet that points dnsmasq at it and sets the boot options.
	Hosts       string `toml:"hosts"`
	DnsmasqConf string `toml:"dnsmasq_conf"`
	// Leases is the server's lease file (node list's "last lease").
	Leases string `toml:"leases"`
	// Subnet: write a subnet declaration for the node network (isc) /
	// a static dhcp-range (dnsmasq). Default true.
	Subnet *bool `toml:"subnet"`
	// Reload is run after the host entries change; [] means never.
	Reload []string `toml:"reload"`
}

// NFS is the NFS server that exports the tree.
type NFS struct {
	// Server is nfs-kernel-server or nfs-ganesha.
	Server string `toml:"server"`
	// Exports (nfs-kernel-server) is the exports file sidus owns.
	Exports string `toml:"exports"`
	// GaneshaConf is ganesha's main file; GaneshaExport the file sidus
	// owns (%include'd from it) with the EXPORT block.
	GaneshaConf   string `toml:"ganesha_conf"`
	GaneshaExport string `toml:"ganesha_export"`
	ExportID      int    `toml:"export_id"`
	// Reload is run after the export changes; [] means never.
	Reload []string `toml:"reload"`
}

// ISCSI is the tgt target that serves the nodes' LUNs.
type ISCSI struct {
	// ConfDir is tgt's conf.d: one sidus-IP.conf per node.
	ConfDir string `toml:"tgt_conf_dir"`
	// LUNDir holds the sparse LUN files, IP.img.
	LUNDir string `toml:"lun_dir"`
	// TargetPrefix: targets are named PREFIX:IP.
	TargetPrefix string `toml:"target_prefix"`
	// Label is the filesystem label on each LUN (root=LABEL=...).
	Label string `toml:"label"`
	// DefaultSize is a LUN's size when --iscsi is given no size.
	DefaultSize string `toml:"default_size"`
}

// Generations is what `sidus gen` publishes: the tree as numbered,
// immutable squashfs images that nodes boot, kept in a backend.
type Generations struct {
	// Backend is nfs (default) or rbd.
	Backend string `toml:"backend"`
	// NFSDir (nfs) holds gen-NNNN.squashfs, relative to the NFS export
	// (the tree); it is left out of the images.
	NFSDir string `toml:"nfs_dir"`
	// RBDPool (rbd) holds the images gen-NNNN, each with snapshot @gen.
	RBDPool string `toml:"rbd_pool"`
	// CephMonitors (rbd) are the monitors nodes map from, IPv4:PORT
	// (port default 6789), on the nodes' command line.
	CephMonitors []string `toml:"ceph_monitors"`
	// CephConf, CephKeyring and CephID are this server's Ceph client,
	// which imports and removes the images, creates and removes each
	// generation's cephx user and asks the monitors for their sessions
	// (default the admin's: it needs mon 'allow *').
	CephConf    string `toml:"ceph_conf"`
	CephKeyring string `toml:"ceph_keyring"`
	CephID      string `toml:"ceph_id"`
	// NodeKeyring (rbd) is the nodes' own cephx keyring (a read-only
	// client: mon 'profile rbd' osd 'profile rbd-read-only pool=POOL'),
	// which `sidus boot publish` packs into initrd.img-Sidus, root-only;
	// it never goes on the command line. An rbd generation published by
	// `sidus gen publish` boots with a user of its own instead
	// (client.sidus-gen-NNNN, its keyring in the extra initrd
	// gen-NNNN.img); this key serves the older ones and cephfs roots.
	NodeKeyring string `toml:"node_keyring"`
	// RBDObjectSize (rbd) is the RADOS object size of the generations'
	// images (rbd import --object-size), a power of two from 4K to 32M:
	// 1M by default, not rbd's 4M, so that a small image (a Debian
	// squashfs is ~40 MB: 10 objects of 4 MB) spreads over more primary
	// OSDs when every node reads the same blocks at once.
	RBDObjectSize string `toml:"rbd_object_size"`
	// Keep is how many generations `sidus gen prune` keeps (default 3).
	Keep int `toml:"keep"`
	// Verity appends a dm-verity hash tree to each image, its root hash
	// on the nodes' command line.
	Verity bool `toml:"verity"`
}

// CheckRBD reports whether the rbd backend is configured (rbd_pool and
// ceph_monitors set), as a *KeyError naming the missing key.
func (g *Generations) CheckRBD() error {
	if g.RBDPool == "" {
		return &KeyError{Key: "generations.rbd_pool", Want: "the Ceph pool that holds the generations' RBD images (backend rbd)"}
	}
	if len(g.CephMonitors) == 0 {
		return &KeyError{Key: "generations.ceph_monitors", Want: `the Ceph monitors nodes map from, e.g. ["192.168.1.10:6789"] (backend rbd)`}
	}
	return nil
}

// KeyError is a bad value in the configuration.
type KeyError struct {
	Key   string // e.g. "dhcp.server"
	Value string // what was found ("" when missing)
	Want  string // what was expected
}

func (e *KeyError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: missing; want %s", e.Key, e.Want)
	}
	return fmt.Sprintf("%s = %q: want %s", e.Key, e.Value, e.Want)
}

// Load reads and checks path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config %s: %w; write one (see `sidus config example`) or pass --config", path, err)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and checks a configuration, filling the defaults.
func Parse(r io.Reader) (*Config, error) {
	var c Config
	md, err := toml.NewDecoder(r).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, err
	}
	if u := md.Undecoded(); len(u) > 0 {
		return nil, &KeyError{Key: u[0].String(), Value: "(unknown key)", Want: "one of the keys of `sidus config example`"}
	}
	if err := c.fill(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) fill() error {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Tree, "/srv/nfsroot/sidus")
	def(&c.StateDir, "/var/lib/sidus")
	def(&c.TFTP.Root, "/srv/tftp")
	def(&c.DHCP.Server, ISCDHCP)
	def(&c.NFS.Server, KernelNFS)
	def(&c.Boot.Compression, "zstd")
	def(&c.Boot.DefaultLabel, "tmpfs")
	def(&c.ISCSI.ConfDir, "/etc/tgt/conf.d")
	def(&c.ISCSI.LUNDir, "/srv/iscsi")
	def(&c.ISCSI.TargetPrefix, "iqn.2013-04.zone.sidus.target")
	def(&c.ISCSI.Label, "ISCSI")
	def(&c.ISCSI.DefaultSize, "20G")
	if c.NFS.ExportID == 0 {
		c.NFS.ExportID = 1
	}
	if c.DHCP.Subnet == nil {
		t := true
		c.DHCP.Subnet = &t
	}

	switch c.DHCP.Server {
	case ISCDHCP:
		def(&c.DHCP.Include, "/etc/dhcp/sidus.conf")
		def(&c.DHCP.Conf, "/etc/dhcp/dhcpd.conf")
		def(&c.DHCP.Leases, "/var/lib/dhcp/dhcpd.leases")
		if c.DHCP.Reload == nil {
			c.DHCP.Reload = []string{"systemctl", "try-restart", "isc-dhcp-server"}
		}
	case Dnsmasq:
		def(&c.DHCP.Hosts, "/etc/sidus/dnsmasq-hosts")
		def(&c.DHCP.DnsmasqConf, "/etc/dnsmasq.d/sidus.conf")
		def(&c.DHCP.Leases, "/var/lib/misc/dnsmasq.leases")
		if c.DHCP.Reload == nil {
			c.DHCP.Reload = []string{"systemctl", "try-reload-or-restart", "dnsmasq"}
		}
	default:
		return &KeyError{Key: "dhcp.server", Value: c.DHCP.Server, Want: ISCDHCP + " or " + Dnsmasq}
	}
	switch c.NFS.Server {
	case KernelNFS:
		def(&c.NFS.Exports, "/etc/exports.d/sidus.exports")
		if c.NFS.Reload == nil {
			c.NFS.Reload = []string{"exportfs", "-ra"}
		}
	case Ganesha:
		def(&c.NFS.GaneshaConf, "/etc/ganesha/ganesha.conf")
		def(&c.NFS.GaneshaExport, "/etc/ganesha/sidus-export.conf")
		if c.NFS.Reload == nil {
			c.NFS.Reload = []string{"systemctl", "try-restart", "nfs-ganesha"}
		}
	default:
		return &KeyError{Key: "nfs.server", Value: c.NFS.Server, Want: KernelNFS + " or " + Ganesha}
	}
	if c.Network.CIDR == "" {
		return &KeyError{Key: "network.cidr", Want: "the node network as an IPv4 prefix, e.g. 192.168.1.0/24"}
	}
	p, err := netip.ParsePrefix(c.Network.CIDR)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 || p.Bits() < 8 {
		return &KeyError{Key: "network.cidr", Value: c.Network.CIDR, Want: "an IPv4 prefix from /8 to /30, e.g. 192.168.1.0/24"}
	}
	c.Prefix = p.Masked()
	if c.Network.ServerIP == "" {
		return &KeyError{Key: "network.server_ip", Want: "this server's IPv4 address on " + c.Network.CIDR}
	}
	a, err := netip.ParseAddr(c.Network.ServerIP)
	if err != nil || !a.Is4() || !c.Prefix.Contains(a) {
		return &KeyError{Key: "network.server_ip", Value: c.Network.ServerIP, Want: "this server's IPv4 address inside network.cidr " + c.Network.CIDR}
	}
	c.ServerAddr = a
	for i, d := range c.Network.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return &KeyError{Key: fmt.Sprintf("network.dns[%d]", i), Value: d, Want: "an IP address"}
		}
	}
	if len(c.Network.DNS) == 0 {
		c.Network.DNS = []string{c.Network.ServerIP}
	}
	switch c.Boot.DefaultLabel {
	case "tmpfs", "iscsi":
	default:
		return &KeyError{Key: "boot.default_label", Value: c.Boot.DefaultLabel, Want: "tmpfs or iscsi"}
	}
	switch c.Boot.Compression {
	case "zstd", "gzip", "none":
	default:
		return &KeyError{Key: "boot.compression", Value: c.Boot.Compression, Want: "zstd, gzip or none"}
	}
	if strings.ContainsAny(c.Boot.Console, " \t\n") {
		return &KeyError{Key: "boot.console", Value: c.Boot.Console, Want: "one console= value such as ttyS0,115200"}
	}
	if !validLabel(c.ISCSI.Label) {
		return &KeyError{Key: "iscsi.label", Value: c.ISCSI.Label, Want: "an ext4 label: 1 to 16 letters, digits, '-' or '_'"}
	}
	if !strings.HasPrefix(c.ISCSI.TargetPrefix, "iqn.") || strings.ContainsAny(c.ISCSI.TargetPrefix, " \t") {
		return &KeyError{Key: "iscsi.target_prefix", Value: c.ISCSI.TargetPrefix, Want: "an IQN such as iqn.2013-04.zone.sidus.target"}
	}
	if _, err := ParseSize(c.ISCSI.DefaultSize); err != nil {
		return &KeyError{Key: "iscsi.default_size", Value: c.ISCSI.DefaultSize, Want: "a size such as 20G, 512M or 1T"}
	}
	if c.NFS.ExportID < 1 || c.NFS.ExportID > 65535 {
		return &KeyError{Key: "nfs.export_id", Value: fmt.Sprint(c.NFS.ExportID), Want: "1 to 65535"}
	}
	for _, p := range []struct {
		key string
		val *string
	}{
		{"tree", &c.Tree}, {"state_dir", &c.StateDir}, {"tftp.root", &c.TFTP.Root},
		{"boot.init", &c.Boot.Init}, {"boot.agent", &c.Boot.Agent}, {"boot.shell", &c.Boot.Shell},
		{"dhcp.include", &c.DHCP.Include}, {"dhcp.conf", &c.DHCP.Conf}, {"dhcp.hosts", &c.DHCP.Hosts},
		{"dhcp.dnsmasq_conf", &c.DHCP.DnsmasqConf}, {"dhcp.leases", &c.DHCP.Leases},
		{"nfs.exports", &c.NFS.Exports}, {"nfs.ganesha_conf", &c.NFS.GaneshaConf}, {"nfs.ganesha_export", &c.NFS.GaneshaExport},
		{"iscsi.tgt_conf_dir", &c.ISCSI.ConfDir}, {"iscsi.lun_dir", &c.ISCSI.LUNDir},
	} {
		if *p.val == "" {
			continue
		}
		if !filepath.IsAbs(*p.val) || strings.ContainsAny(*p.val, "\n\"") {
			return &KeyError{Key: p.key, Value: *p.val, Want: "an absolute path"}
		}
		*p.val = filepath.Clean(*p.val)
	}
	if c.Tree == "/" {
		return &KeyError{Key: "tree", Value: c.Tree, Want: "the shared tree's own directory, not /"}
	}
	return c.Generations.fill()
}

func (g *Generations) fill() error {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&g.Backend, BackendNFS)
	def(&g.NFSDir, "var/lib/sidus/generations")
	def(&g.CephID, "admin")
	def(&g.RBDObjectSize, "1M")
	def(&g.CephConf, "/etc/ceph/ceph.conf")
	def(&g.CephKeyring, "/etc/ceph/ceph.client."+g.CephID+".keyring")
	if g.Keep == 0 {
		g.Keep = 3
	}
	if g.Backend != BackendNFS && g.Backend != BackendRBD {
		return &KeyError{Key: "generations.backend", Value: g.Backend, Want: BackendNFS + " or " + BackendRBD}
	}
	d := strings.TrimSuffix(g.NFSDir, "/")
	if filepath.IsAbs(d) || d != filepath.Clean(d) || d == "." || d == ".." || strings.HasPrefix(d, "../") || strings.ContainsAny(d, " \t\n\",\\") {
		return &KeyError{Key: "generations.nfs_dir", Value: g.NFSDir, Want: "a directory relative to the NFS export (the tree), without blanks or '..', e.g. var/lib/sidus/generations"}
	}
	g.NFSDir = d
	if !validObjectSize(g.RBDObjectSize) {
		return &KeyError{Key: "generations.rbd_object_size", Value: g.RBDObjectSize, Want: "a power of two from 4K to 32M, e.g. 1M"}
	}
	if g.Keep < 1 {
		return &KeyError{Key: "generations.keep", Value: fmt.Sprint(g.Keep), Want: "at least 1"}
	}
	if g.RBDPool != "" && !validCephName(g.RBDPool) {
		return &KeyError{Key: "generations.rbd_pool", Value: g.RBDPool, Want: "a Ceph pool name: letters, digits, '.', '-' or '_'"}
	}
	if !validCephName(g.CephID) {
		return &KeyError{Key: "generations.ceph_id", Value: g.CephID, Want: "a Ceph client id without client., e.g. admin"}
	}
	for i, m := range g.CephMonitors {
		key := fmt.Sprintf("generations.ceph_monitors[%d]", i)
		want := "an IPv4 address with an optional port, e.g. 192.168.1.10:6789"
		if !strings.Contains(m, ":") {
			m += ":6789"
		}
		ap, err := netip.ParseAddrPort(m)
		if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
			return &KeyError{Key: key, Value: g.CephMonitors[i], Want: want}
		}
		g.CephMonitors[i] = ap.String()
	}
	for _, p := range []struct {
		key string
		val *string
	}{{"generations.ceph_conf", &g.CephConf}, {"generations.ceph_keyring", &g.CephKeyring}} {
		if !filepath.IsAbs(*p.val) || strings.ContainsAny(*p.val, "\n\"") {
			return &KeyError{Key: p.key, Value: *p.val, Want: "an absolute path"}
		}
		*p.val = filepath.Clean(*p.val)
	}
	if g.Backend == BackendRBD {
		return g.CheckRBD()
	}
	return nil
}

// validCephName reports whether s is a plain Ceph pool or client name.
func validCephName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func validLabel(s string) bool {
	if len(s) == 0 || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ParseSize reads a size such as 20G, 512M, 1T, 1048576 (bytes; K, M, G,
// T are powers of 1024, an optional trailing B or iB is allowed).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	var n int64
	if t == "" {
		return 0, fmt.Errorf("size %q: want a number with an optional K, M, G or T", s)
	}
	for _, r := range t {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("size %q: want a number with an optional K, M, G or T", s)
		}
		n = n*10 + int64(r-'0')
		if n > 1<<50 {
			return 0, fmt.Errorf("size %q: too large", s)
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("size %q: must be more than 0", s)
	}
	if n > (1<<50)/mult {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mult, nil
}

// FormatSize prints a size with the largest unit that divides it.
func FormatSize(n int64) string {
	for _, u := range []struct {
		s string
		v int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return fmt.Sprintf("%d%s", n/u.v, u.s)
		}
	}
	if n >= 1<<30 {
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	}
	if n >= 1<<20 {
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	}
	return fmt.Sprint(n)
}

// Example is a commented sidus.toml with every key at its default.
const Example = `# /etc/sidus/sidus.toml: the sidus command's configuration.

# The shared Debian tree, exported read-only over NFS to every node.
tree = "/srv/nfsroot/sidus"
# sidus's own records: nodes.toml, CHAP secrets.
state_dir = "/var/lib/sidus"

[network]
# The node network and this server's address on it (next-server, NFS
# server and iSCSI portal of every node).
cidr = "192.168.1.0/24"
server_ip = "192.168.1.1"
# Name servers for the tree's static /etc/resolv.conf (default: server_ip).
# dns = ["192.168.1.1"]

[tftp]
root = "/srv/tftp"

[boot]
# The static sidus-init (default: next to the sidus program), which is also
# the node agent (or a separate agent to pack instead), an optional static
# rescue shell (e.g. /bin/busybox from busybox-static).
# init = "/usr/local/lib/sidus/sidus-init"
# agent = "/usr/local/lib/sidus/sidus-agent"
# shell = "/bin/busybox"
# modules = ["btrfs"]
compression = "zstd"
# console = "ttyS0,115200"     # replaces the seed's console=tty1
default_label = "tmpfs"        # or iscsi
# append = ""                  # added to both APPEND lines

[dhcp]
server = "isc-dhcp-server"     # or dnsmasq
# isc-dhcp-server: sidus owns this include file; add
#   include "/etc/dhcp/sidus.conf";
# to /etc/dhcp/dhcpd.conf.
include = "/etc/dhcp/sidus.conf"
conf = "/etc/dhcp/dhcpd.conf"
leases = "/var/lib/dhcp/dhcpd.leases"
# dnsmasq: hosts = "/etc/sidus/dnsmasq-hosts", dnsmasq_conf = "/etc/dnsmasq.d/sidus.conf",
#          leases = "/var/lib/misc/dnsmasq.leases"
subnet = true                  # declare the node subnet in sidus's file
# reload = ["systemctl", "try-restart", "isc-dhcp-server"]

[nfs]
server = "nfs-kernel-server"   # or nfs-ganesha
exports = "/etc/exports.d/sidus.exports"
# nfs-ganesha: ganesha_conf = "/etc/ganesha/ganesha.conf",
#              ganesha_export = "/etc/ganesha/sidus-export.conf" (%include it)
# reload = ["exportfs", "-ra"]

[iscsi]
tgt_conf_dir = "/etc/tgt/conf.d"
lun_dir = "/srv/iscsi"
target_prefix = "iqn.2013-04.zone.sidus.target"
label = "ISCSI"
default_size = "20G"

[generations]
# sidus gen publish: the tree as numbered, read-only squashfs images that
# nodes boot (sidus gen rollback switches back, sidus gen prune removes).
backend = "nfs"                # or rbd (Ceph)
# nfs: the images' directory, relative to the NFS export (the tree); it is
# left out of the images themselves.
nfs_dir = "var/lib/sidus/generations"
keep = 3                       # sidus gen prune keeps the last 3 (and the current)
verity = false                 # append a dm-verity hash tree to each image
# rbd: the pool, the monitors nodes map from (IPv4:PORT), and this server's
# Ceph client, which also creates each generation's cephx user
# client.sidus-gen-NNNN (its key goes in the initrd gen-NNNN.img, never here).
# rbd_pool = "sidus"
# ceph_monitors = ["192.168.1.10:6789"]
# ceph_conf = "/etc/ceph/ceph.conf"
# ceph_keyring = "/etc/ceph/ceph.client.admin.keyring"
# ceph_id = "admin"
# rbd_object_size = "1M"       # smaller objects than rbd's 4M: a boot storm reads from more OSDs
# node_keyring = "/etc/sidus/ceph.client.node.keyring"  # packed by boot publish (read-only client)
`

// validObjectSize reports whether s is an RBD object size: a power of two
// from 4K to 32M, written NK or NM.
func validObjectSize(s string) bool {
	n, unit := s, int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		n, unit = strings.TrimSuffix(s, "K"), 1<<10
	case strings.HasSuffix(s, "M"):
		n, unit = strings.TrimSuffix(s, "M"), 1<<20
	default:
		return false
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v <= 0 {
		return false
	}
	b := v * unit
	return b >= 4<<10 && b <= 32<<20 && b&(b-1) == 0
}
