package cmdline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are
// *ParamError naming a parameter, and that a successful parse is stable:
// the canonical command line of the result parses back to the same Config.
// PanicTimeout must not panic on any line either.
// The second argument is the environment, one KEY=value per line.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/cmdline/*.txt")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "")
	}
	f.Add(SeedISCSI, "ISCSI_TARGET_IP=\nISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default\nPATH=/bin")
	f.Add(`a="b c" "d=e f" -- "" x="y z"`, "iscsi_password=p w")
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
		checkRoundTrip(t, cmdline, c)
		// The resolvers must not panic either.
		c.ResolveNFS("10.0.0.1", "", "", "10.0.0.2")
		c.NFSMountOptions("10.0.0.1", "10.0.0.2", c.NFSVersion)
	})
}
