package qemu

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// aptPackages is apt-packages.txt, which the Makefile reads too.
//
//go:embed apt-packages.txt
var aptPackages string

// Need is one line of a package list: a Debian package and what the
// harness uses from it.
type Need struct {
	Package string
	// Uses are programs (looked up in PATH, then /usr/sbin) and absolute
	// file paths; an entry "a|b" is satisfied by either.
	Uses []string
}

// ParseNeeds parses a package list in the format of apt-packages.txt:
// one package a line, then what is used from it; # starts a comment.
func ParseNeeds(text string) []Need {
	var needs []Need
	for _, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		if f := strings.Fields(line); len(f) > 0 {
			needs = append(needs, Need{Package: f[0], Uses: f[1:]})
		}
	}
	return needs
}

// Needs returns the harness's package list (apt-packages.txt).
func Needs() []Need { return ParseNeeds(aptPackages) }

// MissingOf lists what of needs is missing on this host, as
// "what (apt package P)", sorted.
func MissingOf(needs []Need) []string {
	var miss []string
	for _, n := range needs {
		for _, use := range n.Uses {
			if !present(use) {
				miss = append(miss, fmt.Sprintf("%s (apt package %s)", use, n.Package))
			}
		}
	}
	sort.Strings(miss)
	return miss
}

// present reports whether a program or file of a Need is on this host.
func present(use string) bool {
	for _, alt := range strings.Split(use, "|") {
		if strings.HasPrefix(alt, "/") {
			if _, err := os.Stat(alt); err == nil {
				return true
			}
			continue
		}
		if _, err := exec.LookPath(alt); err == nil {
			return true
		}
		// /usr/sbin may be missing from a non-root PATH.
		if _, err := os.Stat("/usr/sbin/" + alt); err == nil {
			return true
		}
	}
	return false
}

// Missing lists what the harness needs and this host lacks, as
// "what (apt package P)", and root privileges (network namespaces, taps).
func Missing() []string {
	miss := MissingOf(Needs())
	if os.Geteuid() != 0 {
		miss = append(miss, "root privileges (network namespaces, taps)")
	}
	sort.Strings(miss)
	return miss
}

// E2E reports whether SIDUS_E2E=1, i.e. end-to-end tests must run.
func E2E() bool { return os.Getenv("SIDUS_E2E") == "1" }

// Require checks that every program and file the harness needs is on this
// host. When something is missing it fails the test if SIDUS_E2E=1 and
// skips it otherwise, naming the apt packages to install.
func Require(t testing.TB) {
	t.Helper()
	miss := Missing()
	if len(miss) == 0 {
		return
	}
	msg := "end-to-end test needs: " + strings.Join(miss, ", ")
	if E2E() {
		t.Fatalf("%s (SIDUS_E2E=1)", msg)
	}
	t.Skipf("%s; set SIDUS_E2E=1 to make this a failure", msg)
}

// CacheDir is where kernels and the Debian root are kept: $SIDUS_CACHE,
// else /var/cache/sidus-go (the Makefile's default too).
func CacheDir() string {
	if d := os.Getenv("SIDUS_CACHE"); d != "" {
		return d
	}
	return "/var/cache/sidus-go"
}
