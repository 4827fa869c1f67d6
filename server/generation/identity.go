package generation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cephrbd "github.com/sidus-go/sidus/blockdev/rbd"
	"github.com/sidus-go/sidus/initramfs/image"
	"github.com/sidus-go/sidus/initramfs/layout"
	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/runner"
)

// MonTimeout bounds each question to the monitors (`ceph mon dump`,
// `ceph tell mon.ID sessions`): a monitor that is down would otherwise
// hold prune or list until the ceph tool gives up.
var MonTimeout = 30 * time.Second

// cephCmd is a ceph command with this server's Ceph client options, the
// same as rbdCmd's.
func cephCmd(c *config.Config, readOnly bool, args ...string) runner.Cmd {
	g := c.Generations
	return runner.Cmd{
		Args:     append([]string{"ceph", "--id", g.CephID, "--keyring", g.CephKeyring, "--conf", g.CephConf}, args...),
		ReadOnly: readOnly,
	}
}

// cephErr says what to check when a ceph command fails.
func cephErr(c *config.Config, what string, err error) error {
	g := c.Generations
	return fmt.Errorf("%s: %w; check that the cluster is reachable with this server's client (ceph_conf %s, ceph_keyring %s, ceph_id %s: `ceph --id %s -s`) and that client.%s may manage cephx users (mon 'allow *', as client.admin); is ceph-common installed?",
		what, err, g.CephConf, g.CephKeyring, g.CephID, g.CephID, g.CephID)
}

// UserCaps are the caps of a generation's user (ceph auth get-or-create's
// arguments after the entity): the monitors' rbd profile and read-only
// RBD on the whole pool.
//
// Per-image caps are not used: Ceph's OSD caps stop at a pool and a
// namespace. Holding a client to one image would take object_prefix
// grants on its rbd_header.ID, rbd_object_map.ID and rbd_data.ID objects
// (the id is only known after the import) and on rbd_id.NAME and
// rbd_directory: a list tied to librbd's and the kernel's on-disk format,
// where a miss fails the node's map at boot. The identity is there to
// name the generation to the monitors, not to confine it: like the nodes'
// shared key (generations.node_keyring) it reads the pool and writes
// nothing, and what a node boots is fixed by root=rbd: and sidus.verity=.
func UserCaps(pool string) []string {
	return []string{"mon", "profile rbd", "osd", "profile rbd-read-only pool=" + pool}
}

// createUser creates user (ceph auth get-or-create) and returns its
// keyring, as ceph prints it (unchecked); nil in dry-run mode, where
// nothing runs.
func createUser(ctx context.Context, c *config.Config, o *Options, user string) ([]byte, error) {
	o.logf("%screate the cephx user %s (read-only on pool %s)", o.verb(), user, c.Generations.RBDPool)
	args := append([]string{"auth", "get-or-create", user}, UserCaps(c.Generations.RBDPool)...)
	out, err := runner.Output(ctx, o.Runner, cephCmd(c, false, args...))
	if err != nil {
		return nil, cephErr(c, "create the cephx user "+user, err)
	}
	if o.DryRun {
		return nil, nil
	}
	return out, nil
}

// fetchKeyring returns user's keyring (ceph auth get) to rebuild a
// generation's initrd; nil in dry-run mode.
func fetchKeyring(ctx context.Context, c *config.Config, o *Options, user string) ([]byte, error) {
	out, err := runner.Output(ctx, o.Runner, cephCmd(c, false, "auth", "get", user))
	if err != nil {
		return nil, cephErr(c, "read the keyring of "+user, err)
	}
	if o.DryRun {
		return nil, nil
	}
	if err := checkKeyring(out, user); err != nil {
		return nil, fmt.Errorf("`ceph auth get %s` %w", user, err)
	}
	return out, nil
}

// checkKeyring checks that out is a keyring with user's key, as the init
// will read it; the error never quotes out (it holds the key).
func checkKeyring(out []byte, user string) error {
	if _, _, err := cephrbd.ParseKeyring(out, strings.TrimPrefix(user, "client.")); err != nil {
		return fmt.Errorf("printed no keyring with a key for %s (%d bytes)", user, len(out))
	}
	return nil
}

// removeUser removes user (ceph auth rm); one already gone is no error.
func removeUser(ctx context.Context, c *config.Config, o *Options, user string) error {
	err := o.Runner.Run(ctx, cephCmd(c, false, "auth", "rm", user))
	if err == nil || userGone(err) {
		return nil
	}
	return cephErr(c, "remove the cephx user "+user, err)
}

// userGone reports whether a ceph auth error says the entity does not
// exist.
func userGone(err error) bool {
	s := err.Error()
	var re *runner.Error
	if errors.As(err, &re) {
		s += "\n" + re.Output
	}
	return strings.Contains(s, "does not exist") || strings.Contains(s, "No such file or directory")
}

// KeyringInitrd is a generation's extra initrd: an uncompressed newc
// archive holding only layout.CephKeyring (mode 0600) and its parent
// directories, loaded after initrd.img-Sidus (and a node's CHAP initrd);
// the kernel unpacks them all into the same rootfs, the later file
// winning, so the init maps the image with the generation's key.
func KeyringInitrd(keyring []byte) ([]byte, error) {
	return image.ExtraInitrd(image.Secret{Path: layout.CephKeyring, Data: keyring})
}

// initrdFile is g's extra initrd with keyring, as a boot file (mode 0644,
// like the nodes' CHAP initrds: TFTP has no access control).
func initrdFile(c *config.Config, g *Generation, keyring []byte) (File, error) {
	img, err := KeyringInitrd(keyring)
	if err != nil {
		return File{}, fmt.Errorf("generation %d: initrd %s: %w", g.Number, g.Initrd, err)
	}
	return File{Path: filepath.Join(c.TFTP.Root, g.Initrd), Data: img}, nil
}

// restoreInitrd returns g's initrd to write when it is missing from the
// TFTP root (removed by hand, or a publish whose switch failed), rebuilt
// from its user's keyring; none if it is there or g has none.
func restoreInitrd(ctx context.Context, c *config.Config, o *Options, g *Generation) ([]File, error) {
	if g.Initrd == "" || g.CephUser == "" {
		return nil, nil
	}
	p := filepath.Join(c.TFTP.Root, g.Initrd)
	if _, err := os.Stat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	o.logf("generation %d: %s is missing: %srebuild it from the keyring of %s", g.Number, p, o.verb(), g.CephUser)
	kr, err := fetchKeyring(ctx, c, o, g.CephUser)
	if err != nil {
		return nil, fmt.Errorf("generation %d: %w", g.Number, err)
	}
	f, err := initrdFile(c, g, kr)
	if err != nil {
		return nil, err
	}
	return []File{f}, nil
}

// Sessions are the monitors' sessions by cephx entity (client.NAME): the
// addresses (IPs) of the clients holding one, sorted, without repeats. A
// node that maps an image keeps a session open with one monitor for as
// long as the mapping lives; the kernel registers no RBD watch for a
// read-only mapping, so this, not `rbd status`, is what tells the
// generations running nodes use.
type Sessions map[string][]string

// add records addr under entity.
func (s Sessions) add(entity, addr string) {
	if !slices.Contains(s[entity], addr) {
		s[entity] = append(s[entity], addr)
		slices.Sort(s[entity])
	}
}

// Of returns the addresses of the nodes that use g. known is false when
// the sessions cannot tell: s is nil (not read), g is not rbd, or it has
// no user of its own (published before they existed).
func (s Sessions) Of(g *Generation) (addrs []string, known bool) {
	if s == nil || g.Backend != config.BackendRBD || g.CephUser == "" {
		return nil, false
	}
	return s[g.CephUser], true
}

// monSession is one entry of `ceph tell mon.ID sessions`.
type monSession struct {
	Entity string `json:"entity_name"`
	Addrs  struct {
		Addrvec []struct {
			Addr string `json:"addr"`
		} `json:"addrvec"`
	} `json:"addrs"`
	SocketAddr struct {
		Addr string `json:"addr"`
	} `json:"socket_addr"`
}

// ParseSessions parses one monitor's `ceph tell mon.ID sessions` (JSON):
// every session with an entity, under the IP of its socket_addr.addr,
// else of its addrs.addrvec[0].addr ("unknown address" if neither parses).
func ParseSessions(out []byte) (Sessions, error) {
	var list []monSession
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("`ceph tell mon.ID sessions` printed %s: %w", clip(out), err)
	}
	s := Sessions{}
	for _, e := range list {
		if e.Entity == "" {
			continue
		}
		addr := hostOf(e.SocketAddr.Addr)
		if addr == "" && len(e.Addrs.Addrvec) > 0 {
			addr = hostOf(e.Addrs.Addrvec[0].Addr)
		}
		if addr == "" {
			addr = "unknown address"
		}
		s.add(e.Entity, addr)
	}
	return s, nil
}

// hostOf is the IP of a Ceph address, IP:PORT or [IPv6]:PORT (with an
// optional /NONCE), "" if it has none.
func hostOf(a string) string {
	a, _, _ = strings.Cut(a, "/")
	ap, err := netip.ParseAddrPort(a)
	if err != nil || ap.Addr().IsUnspecified() {
		return ""
	}
	return ap.Addr().Unmap().String()
}

// ParseMonNames parses `ceph mon dump --format json`: the monitors' names.
func ParseMonNames(out []byte) ([]string, error) {
	var d struct {
		Mons []struct {
			Name string `json:"name"`
		} `json:"mons"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		return nil, fmt.Errorf("`ceph mon dump` printed %s: %w", clip(out), err)
	}
	var names []string
	for _, m := range d.Mons {
		if m.Name == "" || strings.ContainsAny(m.Name, " \t\n*") {
			return nil, fmt.Errorf("`ceph mon dump` lists a monitor named %q", m.Name)
		}
		names = append(names, m.Name)
	}
	if len(names) == 0 {
		return nil, errors.New("`ceph mon dump` lists no monitor")
	}
	return names, nil
}

// ReadSessions asks every monitor for its sessions, with this server's
// Ceph client: the names from `ceph mon dump --format json`, then `ceph
// tell mon.NAME sessions --format json` for each (one JSON reply per
// call, where `ceph tell mon.*` interleaves them with per-monitor
// headers), merged. A monitor that does not answer is an error: a node's
// session may be the one it holds.
func ReadSessions(ctx context.Context, c *config.Config, r runner.Runner) (Sessions, error) {
	ask := func(what string, args ...string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, MonTimeout)
		defer cancel()
		out, err := runner.Output(ctx, r, cephCmd(c, true, args...))
		if err != nil {
			g := c.Generations
			return nil, fmt.Errorf("%s: %w; check that the monitors are up and reachable with this server's client (ceph_conf %s, ceph_keyring %s, ceph_id %s: `ceph --id %s -s`); is ceph-common installed?",
				what, err, g.CephConf, g.CephKeyring, g.CephID, g.CephID)
		}
		return out, nil
	}
	out, err := ask("list the monitors", "mon", "dump", "--format", "json")
	if err != nil {
		return nil, err
	}
	mons, err := ParseMonNames(out)
	if err != nil {
		return nil, err
	}
	all := Sessions{}
	for _, m := range mons {
		out, err := ask("sessions of mon."+m, "tell", "mon."+m, "sessions", "--format", "json")
		if err != nil {
			return nil, err
		}
		s, err := ParseSessions(out)
		if err != nil {
			return nil, fmt.Errorf("mon.%s: %w", m, err)
		}
		for e, addrs := range s {
			for _, a := range addrs {
				all.add(e, a)
			}
		}
	}
	return all, nil
}

// NeedsSessions reports whether some of gs can be told in use by the
// monitors' sessions (an rbd generation with its own user).
func NeedsSessions(gs []Generation) bool {
	return slices.ContainsFunc(gs, func(g Generation) bool { return g.Backend == config.BackendRBD && g.CephUser != "" })
}

// clip is out for an error message: trimmed, at most 200 bytes.
func clip(out []byte) string {
	s := strings.TrimSpace(string(out))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return fmt.Sprintf("%q", s)
}
