package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/roots"
)

// TestServersFromFiles starts dhcpd, in.tftpd, ganesha (with an
// %include'd EXPORT block in the sidus command's form) and tgtd with a
// conf.d target, each from files written here, and checks each serves.
func TestServersFromFiles(t *testing.T) {
	qemu.Require(t)
	root := busyboxRoot(t)
	l := Start(t, Options{NoDHCP: true, NoNFS: true})
	etc := t.TempDir()
	write := func(p, s string) string {
		t.Helper()
		p = filepath.Join(etc, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()

	t.Run("dhcpd", func(t *testing.T) {
		write("dhcp/sidus.conf", "allow booting;\nsubnet 192.168.77.0 netmask 255.255.255.0 {\n}\n"+
			"group {\n  next-server 192.168.77.1;\n  filename \"pxelinux.0\";\n  option root-path \"/srv/nfsroot/sidus\";\n"+
			"  host n21 {\n    hardware ethernet "+MAC(0)+";\n    fixed-address 192.168.77.21;\n  }\n}\n")
		conf := write("dhcp/dhcpd.conf", "authoritative;\ninclude \""+filepath.Join(etc, "dhcp/sidus.conf")+"\";\n")
		if _, err := l.StartDhcpd("dhcpd", conf, filepath.Join(etc, "dhcpd.leases")); err != nil {
			t.Fatal(err)
		}
		// A client on the bridge with tap 0's MAC (a veth, inside the lab)
		// gets its fixed address and the boot options.
		for _, c := range [][]string{
			{"ip", "link", "add", "dhc0", "address", MAC(0), "type", "veth", "peer", "name", "dhc1"},
			{"ip", "link", "set", "dhc1", "master", Bridge},
			{"ip", "link", "set", "dhc1", "up"},
			{"ip", "link", "set", "dhc0", "up"},
		} {
			if out, err := l.Exec(ctx, c...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		}
		script := write("udhcpc.sh", "#!/bin/sh\n[ \"$1\" = bound ] && echo \"LEASE ip=$ip siaddr=$siaddr boot_file=$boot_file rootpath=$rootpath\"\nexit 0\n")
		os.Chmod(script, 0o755)
		out, err := l.Exec(ctx, roots.BusyboxPath, "udhcpc", "-i", "dhc0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", script, "-O", "rootpath")
		if err != nil {
			t.Fatalf("udhcpc: %v\n%s", err, out)
		}
		want := "LEASE ip=192.168.77.21 siaddr=192.168.77.1 boot_file=pxelinux.0 rootpath=/srv/nfsroot/sidus"
		if !strings.Contains(string(out), want) {
			t.Errorf("udhcpc got:\n%s\nwant a line %q", out, want)
		}
	})

	t.Run("tftpd", func(t *testing.T) {
		tftp := filepath.Join(etc, "tftp")
		write("tftp/pxelinux.cfg/default", "DEFAULT tmpfs\n")
		if err := os.Chmod(tftp, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := l.StartTFTPD("tftpd", tftp); err != nil {
			t.Fatal(err)
		}
		got := filepath.Join(t.TempDir(), "got")
		if out, err := l.Exec(ctx, roots.BusyboxPath, "tftp", "-g", "-r", "pxelinux.cfg/default", "-l", got, l.ServerIP); err != nil {
			t.Fatalf("tftp get: %v\n%s", err, out)
		}
		if b, err := os.ReadFile(got); err != nil || string(b) != "DEFAULT tmpfs\n" {
			t.Errorf("tftp got %q (%v)", b, err)
		}
	})

	t.Run("ganesha", func(t *testing.T) {
		export := write("ganesha/sidus-export.conf", `EXPORT {
	Export_Id = 1;
	Path = "`+root+`";
	Pseudo = "`+root+`";
	Access_Type = None;
	Squash = No_Root_Squash;
	SecType = sys;
	Protocols = 3, 4;
	Transports = TCP;
	CLIENT {
		Clients = 192.168.77.0/24;
		Access_Type = RO;
	}
	FSAL {
		Name = VFS;
	}
}
`)
		conf := write("ganesha/ganesha.conf", GaneshaMainConfig(l.ServerIP, filepath.Join(l.Dir, "ganesha"), export))
		if err := l.StartRpcbind(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.StartGaneshaConf("ganesha", conf); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(l.Dir, "ganesha", "ganesha.log"))
		for _, line := range strings.Split(string(b), "\n") {
			// e.g. config_errs_to_log :CONFIG :CRIT :Config File (...): Unknown parameter (...)
			if strings.Contains(line, ":CONFIG :") && (strings.Contains(line, ":CRIT :") || strings.Contains(line, ":MAJ :") || strings.Contains(line, ":FATAL :")) {
				t.Errorf("ganesha's config: %s", line)
			}
		}
		if out, err := l.Exec(ctx, "rpcinfo", "-p", "127.0.0.1"); err != nil || !strings.Contains(string(out), "nfs") {
			t.Errorf("ganesha is not registered with rpcbind: %v\n%s", err, out)
		}
	})

	t.Run("tgt", func(t *testing.T) {
		img := filepath.Join(etc, "lun.img")
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, 8<<20); err != nil {
			t.Fatal(err)
		}
		write("tgt/conf.d/sidus-192.168.77.22.conf", "<target iqn.2013-04.zone.sidus.target:192.168.77.22>\n\tbacking-store "+img+
			"\n\tinitiator-address 192.168.77.22\n\tincominguser node22 s3cretS3cret1234\n</target>\n")
		if err := l.StartTgtd(); err != nil {
			t.Fatal(err)
		}
		if out, err := l.ApplyTgtConfDir(filepath.Join(etc, "tgt/conf.d")); err != nil {
			t.Fatalf("tgt-admin: %v\n%s", err, out)
		}
		out, err := l.ShowISCSITargets()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"iqn.2013-04.zone.sidus.target:192.168.77.22", "LUN: 1", img, "node22", "192.168.77.22"} {
			if !strings.Contains(out, want) {
				t.Errorf("tgtadm --op show has no %q:\n%s", want, out)
			}
		}
	})
}
