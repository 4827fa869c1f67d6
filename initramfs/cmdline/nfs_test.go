package cmdline

import (
	"errors"
	"slices"
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
		{"nfsroot servers", "nfsroot=10.0.0.1,nfs-2.example.org,10.0.0.3:/srv/sidus", "10.0.0.9", "10.0.0.8", "10.0.0.7:/srv/x", "10.0.0.50",
			"10.0.0.1,nfs-2.example.org,10.0.0.3", "/srv/sidus", ""},
		{"nfsroot servers, root-path path", "nfsroot=10.0.0.1,10.0.0.2:", "", "10.0.0.8", "10.0.0.7:/srv/x", "10.0.0.50", "10.0.0.1,10.0.0.2", "/srv/x", ""},
		{"root-path servers", SeedTmpfs, "10.0.0.1", "10.0.0.2", "10.0.0.3,10.0.0.4:/srv/sidus", "10.0.0.50", "10.0.0.3,10.0.0.4", "/srv/sidus", ""},
		{"dracut root-path servers", SeedTmpfs, "10.0.0.1", "10.0.0.2", "nfs:10.0.0.3,10.0.0.4:/srv/sidus:vers=4.2", "10.0.0.50", "10.0.0.3,10.0.0.4", "/srv/sidus", ""},
		{"root= servers", "root=nfs:10.0.0.5,10.0.0.6:/srv/sidus", "10.0.0.1", "10.0.0.2", "", "10.0.0.50", "10.0.0.5,10.0.0.6", "/srv/sidus", ""},
		{"bad root-path server list", SeedTmpfs, "10.0.0.1", "", "10.0.0.3,,10.0.0.4:/srv/sidus", "10.0.0.50", "", "",
			`DHCP root-path (option 17) "10.0.0.3,,10.0.0.4:/srv/sidus": server list "10.0.0.3,,10.0.0.4": server 2 is empty; expected <server>,<server>,...:/<path>`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.cmdline, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			servers, path, err := c.ResolveNFS(tt.dhcpServer, tt.siaddr, tt.rootPath, tt.clientIP)
			server := strings.Join(servers, ",")
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

// The DHCP root-paths of dracut's test/TEST-20-NFS/dhcpd.conf, and the
// kernel's [<server>:]<path>[,<options>]: ResolveNFS splits off the
// options and the version, NFSMountOptions puts them before the command
// line's, which win.
func TestResolveNFSRootPathOptions(t *testing.T) {
	for _, tt := range []struct {
		rootPath     string
		server, path string
		opts         []string
		version      string
		mount        string // NFSMountOptions(server, "10.0.0.50", "") with the seed's nfsroot= options
	}{
		{"/nfs/client", "10.0.0.2", "/nfs/client", nil, "", "rsize=8192,wsize=8192,proto=tcp,addr=10.0.0.2"},
		{"192.168.50.2:/nfs/client", "192.168.50.2", "/nfs/client", nil, "", "rsize=8192,wsize=8192,proto=tcp,addr=192.168.50.2"},
		{"nfs:192.168.50.3:/nfs/client", "192.168.50.3", "/nfs/client", nil, "", "rsize=8192,wsize=8192,proto=tcp,addr=192.168.50.3"},
		{"nfs:192.168.50.3:/nfs/client:wsize=4096", "192.168.50.3", "/nfs/client", []string{"wsize=4096"}, "",
			"rsize=8192,wsize=8192,proto=tcp,addr=192.168.50.3"}, // the command line's wsize= wins
		{"/nfs/client,wsize=4096,soft,timeo=14", "10.0.0.2", "/nfs/client", []string{"wsize=4096", "soft", "timeo=14"}, "",
			"soft,timeo=14,rsize=8192,wsize=8192,proto=tcp,addr=10.0.0.2"},
		{"192.168.50.2:/nfs/client,wsize=4096", "192.168.50.2", "/nfs/client", []string{"wsize=4096"}, "", "rsize=8192,wsize=8192,proto=tcp,addr=192.168.50.2"},
		{"nfs:192.168.50.3:/nfs/client,wsize=4096", "192.168.50.3", "/nfs/client", []string{"wsize=4096"}, "", "rsize=8192,wsize=8192,proto=tcp,addr=192.168.50.3"},
		{"nfs4:192.168.50.3:/client", "192.168.50.3", "/client", nil, "4", "rsize=8192,wsize=8192,proto=tcp,vers=4,addr=192.168.50.3,clientaddr=10.0.0.50"},
		{"nfs4:192.168.50.3:/client:wsize=4096", "192.168.50.3", "/client", []string{"wsize=4096"}, "4",
			"rsize=8192,wsize=8192,proto=tcp,vers=4,addr=192.168.50.3,clientaddr=10.0.0.50"},
		{"192.168.50.2:/client,vers=3,udp,lock", "192.168.50.2", "/client", []string{"proto=udp", "lock"}, "3",
			"lock,rsize=8192,wsize=8192,proto=tcp,vers=3,addr=192.168.50.2,mountproto=tcp"}, // proto=tcp from nfsroot= wins over udp
		{"10.0.0.3:/srv/sidus,v4.2,nconnect=4", "10.0.0.3", "/srv/sidus", []string{"nconnect=4"}, "4.2",
			"nconnect=4,rsize=8192,wsize=8192,proto=tcp,vers=4.2,addr=10.0.0.3,clientaddr=10.0.0.50"},
	} {
		t.Run(tt.rootPath, func(t *testing.T) {
			c, err := Parse(SeedTmpfs, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			servers, path, err := c.ResolveNFS("10.0.0.1", "10.0.0.2", tt.rootPath, "10.0.0.50")
			if err != nil || len(servers) != 1 || servers[0] != tt.server || path != tt.path {
				t.Fatalf("ResolveNFS = %q, %q, %v; want [%q], %q", servers, path, err, tt.server, tt.path)
			}
			server := servers[0]
			if !slices.Equal(c.NFSRootPathOptions, tt.opts) || c.NFSRootPathVersion != tt.version || c.WantNFSVersion() != tt.version {
				t.Errorf("root-path options %q version %q (want %q %q)", c.NFSRootPathOptions, c.NFSRootPathVersion, tt.opts, tt.version)
			}
			if got := c.NFSMountOptions(server, "10.0.0.50", ""); got != tt.mount {
				t.Errorf("NFSMountOptions = %q, want %q", got, tt.mount)
			}
		})
	}
}

// The root-path's options apply only to its own path: with nfsroot= naming
// the path, they are cleared, and a later ResolveNFS forgets earlier ones.
func TestResolveNFSRootPathIgnoredWithPath(t *testing.T) {
	c, err := Parse("nfsroot=10.9.9.9:/srv/a,vers=4.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.NFSRootPathOptions = []string{"stale"}
	if _, _, err := c.ResolveNFS("", "", "10.0.0.3:/srv/b,vers=3,soft", "10.0.0.50"); err != nil {
		t.Fatal(err)
	}
	if c.NFSRootPathOptions != nil || c.NFSRootPathVersion != "" || c.WantNFSVersion() != "4.1" {
		t.Errorf("root-path options %q version %q, want none", c.NFSRootPathOptions, c.NFSRootPathVersion)
	}
	for _, rp := range []string{"iscsi:192.168.50.1:::1:iqn.2009-06.dracut:target0", "10.0.0.3:/srv/b,vers=2", "nfs:[2001:db8::1]:/x", "nfs:10.0.0.3:relative"} {
		c, _ := Parse("", nil, nil)
		if _, _, err := c.ResolveNFS("10.0.0.1", "", rp, "10.0.0.50"); err == nil || !strings.Contains(err.Error(), "DHCP root-path") {
			t.Errorf("ResolveNFS(root-path %q) = %v, want a DHCP root-path error", rp, err)
		}
	}
}

// Several servers before the path (nfsroot=, root=nfs:, root=, and the
// Anaconda form): NFSServers in order, NFSServer the first; the rest of
// the value means what it does with one server.
func TestParseNFSServers(t *testing.T) {
	for _, tt := range []struct {
		cmdline, servers, path, version string
		opts                            []string
	}{
		{"nfsroot=10.0.0.1,10.0.0.2:/srv/nfsroot/sidus", "10.0.0.1,10.0.0.2", "/srv/nfsroot/sidus", "", nil},
		{"nfsroot=10.0.0.1,nfs-b.example.org,10.0.0.3:/srv/%s,vers=4.1,tcp", "10.0.0.1,nfs-b.example.org,10.0.0.3", "/srv/%s", "4.1", []string{"proto=tcp"}},
		{"nfsroot=10.0.0.1,10.0.0.2:/srv/sidus:rsize=8192", "10.0.0.1,10.0.0.2", "/srv/sidus", "", []string{"rsize=8192"}},
		{"nfsroot=10.0.0.1,10.0.0.2:", "10.0.0.1,10.0.0.2", "", "", nil},
		{"root=nfs:10.0.0.1,10.0.0.2:/nfs/client:wsize=4096", "10.0.0.1,10.0.0.2", "/nfs/client", "", []string{"wsize=4096"}},
		{"root=nfs4:10.0.0.1,10.0.0.2:/client", "10.0.0.1,10.0.0.2", "/client", "4", nil},
		{"root=nfs:vers=3,nolock:10.0.0.1,10.0.0.2:/nfs/client", "10.0.0.1,10.0.0.2", "/nfs/client", "3", []string{"nolock"}},
		{"root=10.0.0.1,10.0.0.2:/nfs/client", "10.0.0.1,10.0.0.2", "/nfs/client", "", nil},
		{"nfsroot=10.0.0.1,10.0.0.2:/a nfsroot=10.0.0.3:/b", "10.0.0.3", "/b", "", nil},
		{"nfsroot=10.0.0.1,10.0.0.2:/a nfsroot=/b", "", "/b", "", nil},
	} {
		t.Run(tt.cmdline, func(t *testing.T) {
			c, err := Parse(tt.cmdline, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(tt.servers, ",")
			if got := strings.Join(c.NFSServers, ","); got != tt.servers || c.NFSServer != first || c.NFSPath != tt.path ||
				c.NFSVersion != tt.version || !slices.Equal(c.NFSOptions, tt.opts) {
				t.Errorf("servers %q (first %q) path %q version %q options %q; want %q %q %q %q",
					c.NFSServers, c.NFSServer, c.NFSPath, c.NFSVersion, c.NFSOptions, tt.servers, tt.path, tt.version, tt.opts)
			}
			checkRoundTrip(t, tt.cmdline, c)
		})
	}
}

// A malformed server list is a ParamError of the parameter that names
// it, saying which server is wrong and the form expected.
func TestParseNFSServersErrors(t *testing.T) {
	for _, tt := range []struct{ cmdline, param, want string }{
		{"nfsroot=10.0.0.1,bad_host:/srv/sidus", "nfsroot",
			`nfsroot=10.0.0.1,bad_host:/srv/sidus: server list "10.0.0.1,bad_host": server "bad_host" is neither an IPv4 address nor a host name; expected <server>,<server>,...:/<path> with each <server> an IPv4 address or a host name`},
		{"nfsroot=10.0.0.1,10.0.0.300:/srv/sidus", "nfsroot", `server "10.0.0.300" is not an IPv4 address; expected <server>,<server>,...:/<path>`},
		{"nfsroot=10.0.0.1,:/srv/sidus", "nfsroot", `server list "10.0.0.1,": server 2 is empty`},
		{"nfsroot=,10.0.0.1:/srv/sidus", "nfsroot", `option "10.0.0.1:/srv/sidus"`}, // a leading ',' starts the options, as before
		{"nfsroot=10.0.0.1,10.0.0.1:/srv/sidus", "nfsroot", `server "10.0.0.1" is named twice`},
		{"nfsroot=nfs-a,NFS-A:/srv/sidus", "nfsroot", `server "NFS-A" is named twice`},
		{"nfsroot=10.0.0.1,10.0.0.2:srv", "nfsroot", `path "srv" is not absolute`},
		{"nfsroot=10.0.0.1,[2001:db8::1]:/srv/sidus", "nfsroot", "IPv6 servers are not supported"},
		{"nfsroot=[2001:db8::1]:/srv/sidus", "nfsroot", "IPv6 servers are not supported"},
		{"root=nfs:10.0.0.1,-bad:/nfs/client", "root", `root=nfs:10.0.0.1,-bad:/nfs/client: server list "10.0.0.1,-bad": server "-bad" is neither`},
		{"root=nfs:[2001:db8::1],10.0.0.1:/nfs/client", "root", "IPv6 servers are not supported"},
	} {
		t.Run(tt.cmdline, func(t *testing.T) {
			_, err := Parse(tt.cmdline, nil, nil)
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param != tt.param || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) = %v; want a %s ParamError containing %q", tt.cmdline, err, tt.param, tt.want)
			}
		})
	}
	// root= with a bad list is not dracut's <server>:/<path>: recorded as another root.
	c, err := Parse("root=10.0.0.1,bad_host:/nfs/client", nil, nil)
	if err != nil || len(c.NFSServers) != 0 || !slices.Equal(c.RootOther, []string{"10.0.0.1,bad_host:/nfs/client"}) {
		t.Errorf("root=10.0.0.1,bad_host:/nfs/client: %v, servers %q, RootOther %q", err, c.NFSServers, c.RootOther)
	}
}

// A Config built by hand with NFSServer alone still resolves.
func TestResolveNFSServerOnly(t *testing.T) {
	c := &Config{NFSServer: "10.0.0.7", NFSPath: "/srv/a"}
	servers, path, err := c.ResolveNFS("10.0.0.1", "10.0.0.2", "", "10.0.0.50")
	if err != nil || !slices.Equal(servers, []string{"10.0.0.7"}) || path != "/srv/a" {
		t.Errorf("ResolveNFS = %q, %q, %v", servers, path, err)
	}
}
