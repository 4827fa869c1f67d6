package cmdline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are
// *ParamError naming a parameter, that each warning starts with a
// parameter Parse knows, and that a successful parse is stable: the
// canonical command line of the result parses back to the same Config.
// PanicTimeout must not panic on any line either.
// The second argument is the environment, one KEY=value per line.
// The seeds are testdata/cmdline/*.txt and the lines of dialects.tsv.
//
//	go test ./initramfs/cmdline -run '^$' -fuzz FuzzParse -fuzztime 10000000x
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/cmdline/*.txt")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "")
	}
	for _, dc := range readDialects(f) {
		f.Add(dc.cmdline, "")
	}
	f.Add(SeedISCSI, "ISCSI_TARGET_IP=\nISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default\nPATH=/bin")
	f.Add(`a="b c" "d=e f" -- "" x="y z"`, "iscsi_password=p w")
	// The shared roots other than the NFS export (lower.go).
	f.Add("root=rbd:sidus/debian@v1 sidus.ceph.mon=10.0.0.1,10.0.0.2:3300 sidus.ceph.user=client.sidus sidus.verity=ab01 rootfstype=erofs ip=dhcp aufs=tmpfs", "")
	f.Add("root=cephfs:/roots/debian sidus.cephfs.fs=hpc sidus.ceph.mon=10.0.0.1 root=LABEL=ISCSI", "")
	f.Add("root=/dev/nfs nfsroot=10.0.0.2:/srv/images sidus.image=/debian/./root.squashfs sidus.verity=00ff", "")
	f.Fuzz(func(t *testing.T, cmdline, env string) {
		var environ []string
		if env != "" {
			environ = strings.Split(env, "\n")
		}
		PanicTimeout(cmdline)
		c, err := Parse(cmdline, nil, environ)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param == "" {
				t.Fatalf("Parse(%q) error %T %q: want a *ParamError with a Param", cmdline, err, err)
			}
			return
		}
		for _, w := range c.Warnings {
			if k := warningParam(w); params[k] == nil {
				t.Fatalf("Parse(%q): warning %q does not start with a known parameter (%q)", cmdline, w, k)
			}
		}
		checkRoundTrip(t, cmdline, c)
		// The resolvers must not panic either, nor the root-path parser.
		c.ResolveNFS("10.0.0.1", "", "", "10.0.0.2")
		c.NFSMountOptions("10.0.0.1", "10.0.0.2", c.NFSVersion)
		if _, _, err := c.ResolveNFS("10.0.0.1", "", cmdline, "10.0.0.2"); err == nil {
			c.NFSMountOptions("10.0.0.1", "10.0.0.2", "")
		}
	})
}

// warningParam is the parameter a warning starts with: "key=value: ..." or "key: ...".
func warningParam(w string) string {
	head, _, _ := strings.Cut(w, ": ")
	k, _, _ := strings.Cut(head, "=")
	return k
}
