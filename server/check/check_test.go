package check

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/blockdev/format"
	"github.com/sidus-go/sidus/server/boot"
	"github.com/sidus-go/sidus/server/config"
	"github.com/sidus-go/sidus/server/dhcp"
	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/internal/golden"
	"github.com/sidus-go/sidus/server/nfs"
	"github.com/sidus-go/sidus/server/nodes"
	"github.com/sidus-go/sidus/server/runner"
	"github.com/sidus-go/sidus/server/tree"
)

const kver = "6.1.0-9-amd64"

func bzImage(version string) []byte {
	b := make([]byte, 0x1000)
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x020f)
	binary.LittleEndian.PutUint16(b[0x20e:], 0x800-0x200)
	copy(b[0x800:], version+" #1\x00")
	return b
}

type world struct {
	c        *config.Config
	e        *Env
	inactive map[string]bool
	tgtShow  string
	tftpErr  error
}

// goodWorld is a server where every check passes.
func goodWorld(t *testing.T) *world {
	d := t.TempDir()
	w := &world{inactive: map[string]bool{}}
	w.c = golden.Config(t, "tree = \""+d+"/tree\"\nstate_dir = \""+d+"/state\"\n[tftp]\nroot = \""+d+"/tftp\"\n[dhcp]\ninclude = \""+d+"/dhcp/sidus.conf\"\nconf = \""+d+"/dhcp/dhcpd.conf\"\n[iscsi]\nlun_dir = \""+d+"/lun\"\ntgt_conf_dir = \""+d+"/tgt\"\n")
	c := w.c
	for _, dir := range []string{"tree/bin", "tree/boot", "tree/lib/modules/" + kver, "tftp/pxelinux.cfg", "dhcp", "lun"} {
		os.MkdirAll(filepath.Join(d, dir), 0o755)
	}
	os.WriteFile(filepath.Join(c.Tree, "lib/modules", kver, "modules.dep"), nil, 0o644)
	os.WriteFile(filepath.Join(c.Tree, "boot/vmlinuz-"+kver), bzImage(kver), 0o644)
	tree.BumpGeneration(c.Tree, time.Now())
	for _, f := range []string{boot.PXELinux, "ldlinux.c32", boot.InitrdFile, boot.DefaultFile} {
		os.WriteFile(filepath.Join(c.TFTP.Root, f), []byte("x"), 0o644)
	}
	os.WriteFile(filepath.Join(c.TFTP.Root, boot.KernelFile), bzImage(kver), 0o644)
	os.WriteFile(c.DHCP.Conf, []byte("authoritative;\ninclude \""+c.DHCP.Include+"\";\n"), 0o644)
	tx := files.Txn{W: &files.Writer{}}
	dhcp.Stage(c, nil, &tx)
	c.NFS.Exports = filepath.Join(d, "sidus.exports")
	nfs.Stage(c, &tx)
	if _, err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// One iSCSI node, its LUN formatted with the label.
	fr := &runner.Fake{Respond: w.respond}
	m := &nodes.Manager{Config: c, Runner: fr}
	n, err := m.Add(context.Background(), nodes.Request{Name: "node22", MAC: "52:54:00:00:00:22", IP: "192.168.1.22", LUNSize: "64M"})
	if err != nil {
		t.Fatal(err)
	}
	lun := nodes.PathsOf(c, n).LUN
	if err := format.Ext4(lun, 64<<20, "ISCSI", format.UUIDFrom([]byte("t"))); err != nil {
		t.Fatal(err)
	}
	w.tgtShow = "Target 1: " + nodes.TargetName(c, n) + "\n"
	w.e = &Env{Config: c, Runner: fr, Euid: 0,
		TFTPProbe: func(string, string) (int, error) { return 512, w.tftpErr }}
	return w
}

func (w *world) respond(c runner.Cmd) (string, error) {
	s := strings.Join(c.Args, " ")
	switch {
	case strings.HasPrefix(s, "systemctl is-active "):
		if w.inactive[c.Args[2]] {
			return "inactive\n", errors.New("exit status 3")
		}
		return "active\n", nil
	case strings.Contains(s, "--op show"):
		if w.tgtShow == "" {
			return "", errors.New("can't connect")
		}
		return w.tgtShow, nil
	}
	return "", nil
}

func TestGoodServer(t *testing.T) {
	w := goodWorld(t)
	// checkExports reads the host's /etc/exports too; test the parsed form.
	var out bytes.Buffer
	if n := Run(context.Background(), w.e, &out, "root", "tree", "kernel", "tftp", "dhcp", "nodes"); n != 0 {
		t.Errorf("%d problems:\n%s", n, out.String())
	}
	b, _ := os.ReadFile(w.c.NFS.Exports)
	if ps := exportProblems(w.c, ExportOptions([]string{string(b)}, w.c.Tree), nil); len(ps) != 0 {
		t.Errorf("exports: %v", ps)
	}
}

func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(w *world)
		want   string // in the problem
		fix    string // in its fix
	}{
		{"not root", func(w *world) { w.e.Euid = 1000 }, "not running as root", "sudo sidus check"},
		{"no tree", func(w *world) { os.RemoveAll(w.c.Tree) }, "create it with `sidus tree create`", "sidus tree create"},
		{"hostname", func(w *world) {
			os.MkdirAll(filepath.Join(w.c.Tree, "etc"), 0o755)
			os.WriteFile(filepath.Join(w.c.Tree, "etc/hostname"), nil, 0o644)
		}, "etc/hostname", "rm "},
		{"mounts", func(w *world) {
			w.e.MountsUnder = func(r string) ([]string, error) { return []string{r + "/proc"}, nil }
		}, "mounts under the tree", "umount -l"},
		{"policy left", func(w *world) {
			os.MkdirAll(filepath.Join(w.c.Tree, "usr/sbin"), 0o755)
			os.WriteFile(filepath.Join(w.c.Tree, tree.PolicyRCD), nil, 0o755)
		}, "policy-rc.d", "remove"},
		{"kernel mismatch", func(w *world) {
			os.WriteFile(filepath.Join(w.c.TFTP.Root, boot.KernelFile), bzImage("6.1.0-10-amd64"), 0o644)
		}, "no lib/modules/6.1.0-10-amd64/modules.dep", "sidus boot publish"},
		{"no kernel", func(w *world) { os.Remove(filepath.Join(w.c.TFTP.Root, boot.KernelFile)) }, "vmlinuz-Sidus", "sidus boot publish"},
		{"no pxelinux", func(w *world) { os.Remove(filepath.Join(w.c.TFTP.Root, "pxelinux.0")) }, "pxelinux.0 is not in the TFTP root", "apt-get install pxelinux"},
		{"tftp down", func(w *world) { w.tftpErr = errors.New("no answer") }, "does not serve pxelinux.0", "tftpd-hpa"},
		{"no include", func(w *world) { os.WriteFile(w.c.DHCP.Conf, []byte("authoritative;\n"), 0o644) }, "does not include", "include \""},
		{"include edited", func(w *world) {
			b, _ := os.ReadFile(w.c.DHCP.Include)
			os.WriteFile(w.c.DHCP.Include, bytes.Replace(b, []byte("option root-path"), []byte("#"), 1), 0o644)
		}, "lacks \"option root-path", "sidus setup"},
		{"dhcp down", func(w *world) { w.inactive["isc-dhcp-server"] = true }, "isc-dhcp-server is not running (inactive)", "systemctl enable --now isc-dhcp-server"},
		{"lun unlabelled", func(w *world) {
			os.WriteFile(filepath.Join(w.c.ISCSI.LUNDir, "192.168.1.22.img"), make([]byte, 1<<20), 0o644)
		}, "has no filesystem", "mkfs.ext4 -L ISCSI"},
		{"lun missing", func(w *world) { os.Remove(filepath.Join(w.c.ISCSI.LUNDir, "192.168.1.22.img")) }, "LUN", "sidus node add"},
		{"target not live", func(w *world) { w.tgtShow = "\n" }, "is not offered by tgtd", "tgt-admin --update ALL"},
		{"tgtd down", func(w *world) { w.tgtShow = "" }, "tgtd does not answer", "systemctl enable --now tgt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := goodWorld(t)
			tc.break_(w)
			var out bytes.Buffer
			Run(context.Background(), w.e, &out, "root", "tree", "kernel", "tftp", "dhcp", "nodes")
			got := out.String()
			i := strings.Index(got, tc.want)
			if i < 0 {
				t.Fatalf("no problem %q in:\n%s", tc.want, got)
			}
			if !strings.Contains(got[i:], "fix: ") || !strings.Contains(got[i:], tc.fix) {
				t.Errorf("problem %q without fix %q:\n%s", tc.want, tc.fix, got)
			}
		})
	}
}

func TestExportProblems(t *testing.T) {
	c := golden.Config(t, "")
	for _, tc := range []struct{ exports, want string }{
		{"/srv/nfsroot/sidus 192.168.1.0/24(ro,no_root_squash,no_subtree_check)\n", ""},
		{"", "is not exported"},
		{"/srv/nfsroot/sidus 192.168.1.0/24(rw,no_root_squash)\n", "not read-only"},
		{"/srv/nfsroot/sidus 192.168.1.0/24(ro)\n", "squashes root"},
		{"/srv/nfsroot/sidus \\\n  10.0.0.0/8(ro,no_root_squash) 192.168.1.0/24(ro,root_squash)\n", "to 192.168.1.0/24 squashes root"},
		{"# /srv/nfsroot/sidus *(rw)\n/srv/nfsroot/sidus *(ro,no_root_squash)\n", ""},
	} {
		ps := exportProblems(c, ExportOptions([]string{tc.exports}, c.Tree), nil)
		if tc.want == "" {
			if len(ps) != 0 {
				t.Errorf("%q: %v", tc.exports, ps)
			}
			continue
		}
		if len(ps) == 0 || !strings.Contains(ps[0].What, tc.want) {
			t.Errorf("%q: %v, want %q", tc.exports, ps, tc.want)
		}
	}
}

func TestGanesha(t *testing.T) {
	c := golden.Config(t, "[nfs]\nserver = \"nfs-ganesha\"\n")
	d := t.TempDir()
	main := filepath.Join(d, "ganesha.conf")
	exp := filepath.Join(d, "sidus-export.conf")
	os.WriteFile(exp, []byte(nfs.GaneshaExport(c)), 0o644)
	for _, tc := range []struct{ main, want string }{
		{"NFSV4 {\n  Only_Numeric_Owners = true;\n}\n%include \"" + exp + "\"\n", ""},
		{"NFSV4 { Graceless = true; }\n%include \"sidus-export.conf\"\n", "Only_Numeric_Owners"},
		{"NFSV4 { Only_Numeric_Owners = TRUE; }\n", "no ganesha EXPORT"},
		{"NFSV4 { Only_Numeric_Owners = true; }\nEXPORT { Export_Id = 2; Path = \"/srv/nfsroot/sidus\"; Access_Type = RW; Squash = No_Root_Squash; }\n", "allows writes"},
		{"NFSV4 { Only_Numeric_Owners = true; }\nEXPORT { Path = /srv/nfsroot/sidus; Access_Type = RO; Squash = root_squash; Attr_Expiration_Time = 0; FSAL { Name = VFS; } }\n", "squashes root"},
		{"NFSV4 { Only_Numeric_Owners = true; }\nEXPORT { Path = /srv/nfsroot/sidus; Access_Type = RO; Squash = No_Root_Squash; FSAL { Name = VFS; } }\n", "caches attributes"},
	} {
		os.WriteFile(main, []byte(tc.main), 0o644)
		conf, err := ParseGanesha(main, os.ReadFile)
		if err != nil {
			t.Fatalf("%q: %v", tc.main, err)
		}
		ps := ganeshaProblems(c, conf)
		if tc.want == "" {
			if len(ps) != 0 {
				t.Errorf("%q: %v", tc.main, ps)
			}
			continue
		}
		if len(ps) == 0 || !strings.Contains(ps[0].What, tc.want) {
			t.Errorf("%q: %v, want %q", tc.main, ps, tc.want)
		}
	}
	os.WriteFile(main, []byte("EXPORT {\n"), 0o644)
	if _, err := ParseGanesha(main, os.ReadFile); err == nil {
		t.Error("unclosed block accepted")
	}
}

// TestTFTPProbe runs the probe against a one-file TFTP server.
func TestTFTPProbe(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Skip(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 600)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if binary.BigEndian.Uint16(buf) != 1 {
				continue
			}
			name, _, _ := strings.Cut(string(buf[2:n]), "\x00")
			xfer, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if name == "pxelinux.0" {
				xfer.WriteToUDP(append([]byte{0, 3, 0, 1}, bytes.Repeat([]byte{'p'}, 512)...), from)
			} else {
				xfer.WriteToUDP(append([]byte{0, 5, 0, 1}, "File not found\x00"...), from)
			}
			xfer.Close()
		}
	}()
	addr := srv.LocalAddr().String()
	if n, err := TFTPProbe(addr, "pxelinux.0", 2*time.Second); err != nil || n != 512 {
		t.Errorf("probe pxelinux.0 = %d, %v", n, err)
	}
	if _, err := TFTPProbe(addr, "missing", 2*time.Second); err == nil || !strings.Contains(err.Error(), "File not found") {
		t.Errorf("probe missing = %v", err)
	}
}
