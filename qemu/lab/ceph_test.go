package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/qemu"
)

func TestPGClean(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"24 pgs: 24 active+clean; 449 KiB data, 25 MiB used, 8.0 GiB / 8 GiB avail\n", true},
		{"24 pgs: 16 active+clean, 8 unknown; 0 B data\n", false},
		{"0 pgs: ; 0 B data", false},
		{"", false},
	} {
		if err := pgClean(c.in); (err == nil) != c.ok {
			t.Errorf("pgClean(%q) = %v, want ok=%v", c.in, err, c.ok)
		}
	}
}

// TestCeph brings a cluster up in a lab (mon, mgr, two OSDs, mds), stores
// an RBD image and a CephFS file, and checks the read-only clients' caps
// and that the cluster stays readable with one OSD killed.
func TestCeph(t *testing.T) {
	qemu.Require(t)
	l := Start(t, Options{NoNFS: true, NoDHCP: true})
	c, err := l.StartCeph(CephOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(img, bytes.Repeat([]byte("sidus"), 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range [][]string{
		{"import", img, c.Pool + "/gen-0001"},
		{"snap", "create", c.Pool + "/gen-0001@gen"},
		{"snap", "protect", c.Pool + "/gen-0001@gen"},
	} {
		if out, err := c.RBD(s...); err != nil {
			t.Fatalf("rbd %v: %v %s", s, err, out)
		}
	}
	key, err := c.ReadOnlyRBDClient("node")
	if err != nil || !strings.Contains(string(key), "[client.node]") {
		t.Fatalf("read-only client: %v %q", err, key)
	}
	fkey, err := c.ReadOnlyFSClient("fsnode")
	if err != nil || !strings.Contains(string(fkey), "[client.fsnode]") {
		t.Fatalf("CephFS client: %v %q", err, fkey)
	}
	mnt := filepath.Join(t.TempDir(), "fs")
	umount, err := c.MountFS(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "hello"), []byte("from cephfs\n"), 0o644); err != nil {
		t.Error(err)
	}
	if err := umount(); err != nil {
		t.Error(err)
	}
	if err := c.KillOSD(1); err != nil {
		t.Fatal(err)
	}
	exp := filepath.Join(t.TempDir(), "export")
	if out, err := c.RBD("export", c.Pool+"/gen-0001@gen", exp); err != nil {
		t.Fatalf("rbd export with osd.1 down: %v %s", err, out)
	}
	if got, err := os.ReadFile(exp); err != nil || !bytes.Equal(got, bytes.Repeat([]byte("sidus"), 1<<16)) {
		t.Errorf("rbd export with osd.1 down: %v (%d bytes)", err, len(got))
	}
}
