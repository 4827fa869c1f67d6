package config

import (
	"errors"
	"strings"
	"testing"
)

func TestGenerationsDefaults(t *testing.T) {
	c, err := Parse(strings.NewReader(minimal))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Generations
	if g.Backend != BackendNFS || g.NFSDir != "var/lib/sidus/generations" || g.Keep != 3 || g.Verity ||
		g.CephID != "admin" || g.CephConf != "/etc/ceph/ceph.conf" || g.CephKeyring != "/etc/ceph/ceph.client.admin.keyring" {
		t.Errorf("defaults = %+v", g)
	}
	if err := g.CheckRBD(); err == nil {
		t.Error("CheckRBD accepts no pool")
	}
	c, err = Parse(strings.NewReader(minimal + "[generations]\nbackend = \"rbd\"\nrbd_pool = \"hpc.sidus\"\nceph_monitors = [\"10.0.0.1\", \"10.0.0.2:3300\"]\nceph_id = \"sidus\"\nnfs_dir = \"images/\"\nkeep = 5\nverity = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	g = c.Generations
	if strings.Join(g.CephMonitors, ",") != "10.0.0.1:6789,10.0.0.2:3300" || g.CephKeyring != "/etc/ceph/ceph.client.sidus.keyring" || g.NFSDir != "images" || g.Keep != 5 || !g.Verity {
		t.Errorf("parsed = %+v", g)
	}
}

func TestGenerationsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, key, want string
	}{
		{"backend", "backend = \"s3\"\n", "generations.backend", "nfs or rbd"},
		{"rbd no pool", "backend = \"rbd\"\nceph_monitors = [\"10.0.0.1\"]\n", "generations.rbd_pool", "missing"},
		{"rbd no mons", "backend = \"rbd\"\nrbd_pool = \"p\"\n", "generations.ceph_monitors", "missing"},
		{"abs dir", "nfs_dir = \"/srv/x\"\n", "generations.nfs_dir", "relative to the NFS export"},
		{"dotdot dir", "nfs_dir = \"../x\"\n", "generations.nfs_dir", "relative"},
		{"dot dir", "nfs_dir = \".\"\n", "generations.nfs_dir", "relative"},
		{"blank dir", "nfs_dir = \"my images\"\n", "generations.nfs_dir", "without blanks"},
		{"unclean dir", "nfs_dir = \"a//b\"\n", "generations.nfs_dir", "relative"},
		{"keep", "keep = -1\n", "generations.keep", "at least 1"},
		{"pool", "rbd_pool = \"my pool\"\n", "generations.rbd_pool", "pool name"},
		{"id", "ceph_id = \"client/admin\"\n", "generations.ceph_id", "client id"},
		{"mon", "ceph_monitors = [\"10.0.0.1\", \"mon1:6789\"]\n", "generations.ceph_monitors[1]", "IPv4"},
		{"mon v6", "ceph_monitors = [\"[fd00::1]:6789\"]\n", "generations.ceph_monitors[0]", "IPv4"},
		{"mon port", "ceph_monitors = [\"10.0.0.1:0\"]\n", "generations.ceph_monitors[0]", "IPv4"},
		{"conf", "ceph_conf = \"ceph.conf\"\n", "generations.ceph_conf", "absolute path"},
		{"unknown", "pool = \"x\"\n", "generations.pool", "unknown key"},
	} {
		_, err := Parse(strings.NewReader(minimal + "[generations]\n" + tc.text))
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want key %s, %q", tc.name, err, tc.key, tc.want)
		}
	}
}
