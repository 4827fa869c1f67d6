package lab

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CephOptions configure Lab.StartCeph.
type CephOptions struct {
	// OSDs is the number of BlueStore OSDs, each on a sparse file (0 → 2).
	OSDs int
	// FS is the CephFS file system's name ("" → DefaultCephFS).
	FS string
}

// DefaultCephFS is the name of the lab's CephFS file system, and
// DefaultRBDPool that of its RBD pool.
const (
	DefaultCephFS  = "sidusfs"
	DefaultRBDPool = "sidus"
)

// Ceph is a Ceph cluster of Debian's packages inside a lab's namespaces:
// one monitor (a) and one manager (x) on the lab's server address, OSDs
// 0..N-1 on files under Dir, one metadata server (a), an RBD pool and a
// CephFS file system. Pools keep two copies (one may be lost), on one
// host. Every daemon is a lab daemon (ceph-mon, ceph-osd.0, ...): the
// lab tears it down by PID.
type Ceph struct {
	Dir   string // configuration, keyrings, data and logs
	Conf  string // ceph.conf
	Admin string // client.admin's keyring
	// Mon is the monitor's v1 address (IP:6789), the one the kernel
	// clients use.
	Mon  string
	FS   string // CephFS file system name
	Pool string // RBD pool
	OSDs int

	l *Lab
}

// cephConfText is ceph.conf: what LAB.md found needed on this machine
// (IPv4 only, cephx, one host, size 2 / min_size 1, paths under the lab),
// with small PG counts and memory targets for a test.
const cephConfText = `[global]
fsid = {{FSID}}
mon_initial_members = a
mon_host = [v2:{{IP}}:3300,v1:{{IP}}:6789]
public_network = {{NET}}
ms_bind_ipv4 = true
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
osd_pool_default_size = 2
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
# A node that died holds its monitor session (which tells sidus gen prune
# its generation is in use) until its connection idles out: 900 s by
# default, 30 s in the lab. Live kernel clients ping every 10 s.
ms_connection_idle_timeout = 30
run_dir = {{DIR}}/run
log_file = {{DIR}}/log/$cluster-$name.log
mon_data = {{DIR}}/mon/$cluster-$id
osd_data = {{DIR}}/osd/$cluster-$id
mds_data = {{DIR}}/mds/$cluster-$id
mgr_data = {{DIR}}/mgr/$cluster-$id
keyring = $mon_data/keyring
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 4294967296
osd_memory_target = 536870912
bluestore_cache_autotune = false
bluestore_cache_size = 134217728
[osd]
keyring = $osd_data/keyring
bluestore_block_path = {{DIR}}/osd-blocks/$id.block
[mds]
keyring = $mds_data/keyring
[mgr]
keyring = $mgr_data/keyring
[client]
admin_socket = {{DIR}}/run/$cluster-$name.$pid.asok
keyring = {{DIR}}/ceph.$name.keyring
`

// StartCeph brings a Ceph cluster up in the lab (LAB.md's order: keyrings,
// monmap, mon, mgr, OSDs, mds, pools, file system) and waits until every
// placement group is active+clean and the mds is active.
func (l *Lab) StartCeph(o CephOptions) (*Ceph, error) {
	if o.OSDs <= 0 {
		o.OSDs = 2
	}
	if o.FS == "" {
		o.FS = DefaultCephFS
	}
	t0 := time.Now()
	c := &Ceph{Dir: filepath.Join(l.Dir, "ceph"), Mon: l.ServerIP + ":6789", FS: o.FS, Pool: DefaultRBDPool, OSDs: o.OSDs, l: l}
	c.Conf = filepath.Join(c.Dir, "ceph.conf")
	c.Admin = filepath.Join(c.Dir, "ceph.client.admin.keyring")
	for _, d := range []string{"run", "log", "mon/ceph-a", "mgr/ceph-x", "mds/ceph-a", "osd-blocks"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	base := l.ServerIP[:strings.LastIndex(l.ServerIP, ".")]
	conf := strings.NewReplacer("{{FSID}}", pseudoUUID(), "{{IP}}", l.ServerIP, "{{NET}}", base+".0/24", "{{DIR}}", c.Dir).Replace(cephConfText)
	if err := os.WriteFile(c.Conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	monKeyring := filepath.Join(c.Dir, "mon.keyring")
	monmap := filepath.Join(c.Dir, "monmap")
	steps := [][]string{
		{"ceph-authtool", "--create-keyring", monKeyring, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *"},
		{"ceph-authtool", "--create-keyring", c.Admin, "--gen-key", "-n", "client.admin",
			"--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mds", "allow *", "--cap", "mgr", "allow *"},
		{"ceph-authtool", monKeyring, "--import-keyring", c.Admin},
		{"monmaptool", "--create", "--clobber", "--fsid", confValue(conf, "fsid"), "--addv", "a", "[v2:" + l.ServerIP + ":3300,v1:" + l.ServerIP + ":6789]", monmap},
		{"ceph-mon", "-c", c.Conf, "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", monKeyring},
	}
	for _, s := range steps {
		if _, err := l.Exec(l.ctx, s...); err != nil {
			return nil, fmt.Errorf("ceph: %w", err)
		}
	}
	if _, err := l.Run("ceph-mon", "ceph-mon", "-f", "-c", c.Conf, "-i", "a"); err != nil {
		return nil, err
	}
	if err := c.waitFor(30*time.Second, "the monitor", func() error { _, err := c.CLI("mon", "stat"); return err }); err != nil {
		return nil, err
	}
	mgrKey := filepath.Join(c.Dir, "mgr/ceph-x/keyring")
	if _, err := c.CLI("auth", "get-or-create", "mgr.x", "mon", "allow profile mgr", "osd", "allow *", "mds", "allow *", "-o", mgrKey); err != nil {
		return nil, err
	}
	if _, err := l.Run("ceph-mgr", "ceph-mgr", "-f", "-c", c.Conf, "-i", "x"); err != nil {
		return nil, err
	}
	for id := 0; id < o.OSDs; id++ {
		if err := c.newOSD(id); err != nil {
			return nil, err
		}
	}
	mdsKey := filepath.Join(c.Dir, "mds/ceph-a/keyring")
	if _, err := c.CLI("auth", "get-or-create", "mds.a", "mon", "profile mds", "osd", "allow rwx", "mds", "allow", "mgr", "allow profile mds", "-o", mdsKey); err != nil {
		return nil, err
	}
	if _, err := l.Run("ceph-mds", "ceph-mds", "-f", "-c", c.Conf, "-i", "a"); err != nil {
		return nil, err
	}
	for _, s := range [][]string{
		{"osd", "pool", "create", c.Pool, "8"},
		{"osd", "pool", "application", "enable", c.Pool, "rbd"},
		{"osd", "pool", "create", c.FS + "_metadata", "8"},
		{"osd", "pool", "create", c.FS + "_data", "8"},
		{"fs", "new", c.FS, c.FS + "_metadata", c.FS + "_data"},
	} {
		if _, err := c.CLI(s...); err != nil {
			return nil, err
		}
	}
	if err := c.WaitClean(90 * time.Second); err != nil {
		return nil, err
	}
	if err := c.waitFor(60*time.Second, "an active mds", func() error {
		out, err := c.CLI("mds", "stat")
		if err == nil && !bytes.Contains(out, []byte("up:active")) {
			err = fmt.Errorf("mds stat: %s", bytes.TrimSpace(out))
		}
		return err
	}); err != nil {
		return nil, err
	}
	l.t.Logf("lab %s: Ceph cluster up in %v: mon %s, %d OSDs, pool %s, file system %s", l.NS, time.Since(t0).Round(time.Millisecond), c.Mon, o.OSDs, c.Pool, c.FS)
	return c, nil
}

// newOSD creates OSD id (ceph osd new, mkfs on its block file, its key)
// and starts it.
func (c *Ceph) newOSD(id int) error {
	uuid := pseudoUUID()
	out, err := c.CLI("osd", "new", uuid)
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(string(out)); got != strconv.Itoa(id) {
		return fmt.Errorf("ceph osd new: got id %q, want %d", got, id)
	}
	dir := filepath.Join(c.Dir, "osd", "ceph-"+strconv.Itoa(id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sid := strconv.Itoa(id)
	if _, err := c.l.Exec(c.l.ctx, "ceph-osd", "-c", c.Conf, "-i", sid, "--mkfs", "--mkkey", "--osd-uuid", uuid, "--no-mon-config"); err != nil {
		return fmt.Errorf("ceph: %w", err)
	}
	if _, err := c.CLI("auth", "add", "osd."+sid, "osd", "allow *", "mon", "allow profile osd", "mgr", "allow profile osd", "-i", filepath.Join(dir, "keyring")); err != nil {
		return err
	}
	return c.StartOSD(id)
}

// StartOSD starts OSD id (again, after KillOSD).
func (c *Ceph) StartOSD(id int) error {
	_, err := c.l.Run(osdName(id), "ceph-osd", "-f", "-c", c.Conf, "-i", strconv.Itoa(id))
	return err
}

// KillOSD kills OSD id with SIGKILL, as a crash would.
func (c *Ceph) KillOSD(id int) error {
	d := c.l.Daemon(osdName(id))
	if d == nil {
		return fmt.Errorf("no %s in lab %s", osdName(id), c.l.NS)
	}
	return c.l.Kill(d)
}

func osdName(id int) string { return "ceph-osd." + strconv.Itoa(id) }

// CLI runs the ceph command as client.admin in the lab and returns its
// standard output and error.
func (c *Ceph) CLI(args ...string) ([]byte, error) {
	return c.l.Exec(c.l.ctx, append([]string{"ceph", "-c", c.Conf, "--keyring", c.Admin, "--connect-timeout", "20"}, args...)...)
}

// RBD runs the rbd command as client.admin in the lab.
func (c *Ceph) RBD(args ...string) ([]byte, error) {
	return c.l.Exec(c.l.ctx, append([]string{"rbd", "-c", c.Conf, "--keyring", c.Admin}, args...)...)
}

// Authorize creates (or gets) client.name with caps (pairs: "mon", "profile
// rbd", ...) and returns its keyring file's text, for an initramfs.
func (c *Ceph) Authorize(name string, caps ...string) ([]byte, error) {
	out, err := c.CLI(append([]string{"auth", "get-or-create", "client." + name}, caps...)...)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(out, []byte("key = ")) {
		return nil, fmt.Errorf("ceph auth get-or-create client.%s: no key in %q", name, out)
	}
	return out, nil
}

// ReadOnlyRBDClient is the keyring of client.name, allowed to map the
// pool's images read-only (LAB.md's caps).
func (c *Ceph) ReadOnlyRBDClient(name string) ([]byte, error) {
	return c.Authorize(name, "mon", "profile rbd", "osd", "profile rbd-read-only pool="+c.Pool)
}

// ReadOnlyFSClient is the keyring of client.name, allowed to read the
// whole CephFS file system (ceph fs authorize ... r).
func (c *Ceph) ReadOnlyFSClient(name string) ([]byte, error) {
	out, err := c.CLI("fs", "authorize", c.FS, "client."+name, "/", "r")
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WaitClean waits until every placement group is active+clean.
func (c *Ceph) WaitClean(timeout time.Duration) error {
	return c.waitFor(timeout, "active+clean placement groups", func() error {
		out, err := c.CLI("pg", "stat")
		if err != nil {
			return err
		}
		return pgClean(string(out))
	})
}

// pgClean checks a "ceph pg stat" line: "24 pgs: 24 active+clean; ...".
func pgClean(s string) error {
	f := strings.Fields(s)
	if len(f) >= 4 && f[1] == "pgs:" && f[0] == f[2] && strings.TrimSuffix(f[3], ";") == "active+clean" {
		return nil
	}
	return fmt.Errorf("pg stat: %s", strings.TrimSpace(s))
}

// MountFS mounts the CephFS file system's root on the host at dir with
// ceph-fuse as client.admin, to fill it: a lab daemon (ceph-fuse) in the
// lab's network namespace only, so that the mount is the host's. The
// returned function unmounts it and waits for ceph-fuse to exit.
func (c *Ceph) MountFS(dir string) (func() error, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	argv := []string{"ceph-fuse", "-f", "-c", c.Conf, "--keyring", c.Admin, "--client_fs", c.FS, dir}
	d, err := c.l.start("ceph-fuse", append([]string{"nsenter", "--net=/run/netns/" + c.l.NS, "--"}, argv...), argv)
	if err != nil {
		return nil, err
	}
	if err := c.l.waitReady(d, 60*time.Second, func() error {
		var st, parent syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			return err
		}
		if err := syscall.Stat(filepath.Dir(dir), &parent); err != nil {
			return err
		}
		if st.Dev == parent.Dev {
			return fmt.Errorf("%s is not mounted yet", dir)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return func() error {
		out, err := exec.Command("umount", dir).CombinedOutput()
		if err != nil {
			return fmt.Errorf("umount %s: %w: %s", dir, err, bytes.TrimSpace(out))
		}
		select {
		case <-d.done:
			return nil
		case <-time.After(20 * time.Second):
			return fmt.Errorf("ceph-fuse (pid %d) still runs 20 s after umount %s", d.PID(), dir)
		}
	}, nil
}

func (c *Ceph) waitFor(timeout time.Duration, what string, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ceph: no %s after %v: %w (logs in %s)", what, timeout, err, filepath.Join(c.Dir, "log"))
		}
		select {
		case <-c.l.ctx.Done():
			return errors.New("ceph: lab torn down")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// confValue returns the value of key in a ceph.conf text.
func confValue(conf, key string) string {
	for _, line := range strings.Split(conf, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// pseudoUUID is a random version-4 UUID from math/rand (an identifier,
// not a secret).
func pseudoUUID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rand.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
