package cmdline

import (
	"errors"
	"strings"
	"testing"
)

func TestResolveNFS(t *testing.T) {
	for _, tt := range []struct {
		name                                   string
		cmdline                                string
		dhcpServer, siaddr, rootPath, clientIP string
		server, path, err                      string
	}{
		{"seed: next-server, default path", SeedTmpfs, "10.0.0.1", "10.0.0.2", "", "10.0.0.50", "10.0.0.2", "/tftpboot/10.0.0.50", ""},
		{"server identifier when no next-server", SeedTmpfs, "10.0.0.1", "", "", "10.0.0.50", "10.0.0.1", "/tftpboot/10.0.0.50", ""},
		{"0.0.0.0 next-server ignored", SeedTmpfs, "10.0.0.1", "0.0.0.0", "", "10.0.0.50", "10.0.0.1", "/tftpboot/10.0.0.50", ""},
		{"root-path path", SeedTmpfs, "10.0.0.1", "10.0.0.2", "/srv/nfsroot/sidus", "10.0.0.50", "10.0.0.2", "/srv/nfsroot/sidus", ""},
		{"root-path server:path overrides empty server", SeedTmpfs, "10.0.0.1", "10.0.0.2", "10.0.0.3:/srv/sidus,vers=3", "10.0.0.50", "10.0.0.3", "/srv/sidus", ""},
		{"root-path alone", SeedTmpfs, "", "", "nfs.example.org:/srv/%s", "10.0.0.50", "nfs.example.org", "/srv/10.0.0.50", ""},
		{"nfsroot server kept over root-path server", "nfsroot=10.9.9.9:", "", "10.0.0.2", "10.0.0.3:/srv/sidus", "10.0.0.50", "10.9.9.9", "/srv/sidus", ""},
		{"nfsroot full wins", "nfsroot=10.9.9.9:/srv/a", "10.0.0.1", "10.0.0.2", "10.0.0.3:/srv/b", "10.0.0.50", "10.9.9.9", "/srv/a", ""},
		{"nfsroot path, DHCP server", "nfsroot=/srv/a/%s", "10.0.0.1", "", "10.0.0.3:/srv/b", "10.0.0.50", "10.0.0.1", "/srv/a/10.0.0.50", ""},
		{"no server", SeedTmpfs, "", "", "", "10.0.0.50", "", "",
			"nfsroot: no NFS server: nfsroot= has none and DHCP gave no next-server or root-path; set nfsroot=SERVER:/path"},
		{"no server, root-path without one", SeedTmpfs, "", "", "/srv/x", "10.0.0.50", "", "", "nfsroot: no NFS server"},
		{"bad root-path", SeedTmpfs, "10.0.0.1", "", "relative", "10.0.0.50", "", "", "DHCP root-path (option 17)"},
		{"%s without client", SeedTmpfs, "10.0.0.1", "", "", "", "", "", "needs the client address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.cmdline, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			server, path, err := c.ResolveNFS(tt.dhcpServer, tt.siaddr, tt.rootPath, tt.clientIP)
			if tt.err != "" {
				var pe *ParamError
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &pe) || pe.Param != "nfsroot" {
					t.Fatalf("ResolveNFS = %q, %q, %v; want a nfsroot error containing %q", server, path, err, tt.err)
				}
				return
			}
			if err != nil || server != tt.server || path != tt.path {
				t.Errorf("ResolveNFS = %q, %q, %v; want %q, %q", server, path, err, tt.server, tt.path)
			}
		})
	}
}

func TestNFSMountOptions(t *testing.T) {
	for _, tt := range []struct {
		cmdline, server, client, version, want string
	}{
		{SeedTmpfs, "10.0.0.2", "10.0.0.50", "4", "rsize=8192,wsize=8192,proto=tcp,vers=4,addr=10.0.0.2,clientaddr=10.0.0.50"},
		{SeedTmpfs, "10.0.0.2", "10.0.0.50", "4.2", "rsize=8192,wsize=8192,proto=tcp,vers=4.2,addr=10.0.0.2,clientaddr=10.0.0.50"},
		{SeedTmpfs, "10.0.0.2", "10.0.0.50", "3", "rsize=8192,wsize=8192,proto=tcp,vers=3,addr=10.0.0.2,nolock,mountproto=tcp"},
		{"nfsroot=/x,vers=3,udp", "10.0.0.2", "10.0.0.50", "", "proto=udp,vers=3,addr=10.0.0.2,nolock"},
		{"nfsroot=/x,lock,mountproto=udp,tcp", "10.0.0.2", "10.0.0.50", "3", "lock,mountproto=udp,proto=tcp,vers=3,addr=10.0.0.2"},
		{"nfsroot=/x,nolock", "10.0.0.2", "", "3", "nolock,vers=3,addr=10.0.0.2"},
		{"nfsroot=/x,clientaddr=10.1.1.1,addr=10.2.2.2", "10.0.0.2", "10.0.0.50", "4.1", "clientaddr=10.1.1.1,addr=10.2.2.2,vers=4.1"},
		{"", "10.0.0.2", "", "4", "vers=4,addr=10.0.0.2"},
		{"", "10.0.0.2", "10.0.0.50", "", "addr=10.0.0.2"},
		{"nfsroot=/x,vers=4.1,ro", "10.0.0.2", "10.0.0.50", "", "ro,vers=4.1,addr=10.0.0.2,clientaddr=10.0.0.50"},
	} {
		c, err := Parse(tt.cmdline, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.NFSMountOptions(tt.server, tt.client, tt.version); got != tt.want {
			t.Errorf("%q: NFSMountOptions(%q, %q, %q) = %q, want %q", tt.cmdline, tt.server, tt.client, tt.version, got, tt.want)
		}
	}
}
