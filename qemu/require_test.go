package qemu

import (
	"slices"
	"strings"
	"testing"
)

func TestParseNeeds(t *testing.T) {
	got := ParseNeeds("# comment\npkg-a  prog1 /usr/lib/x|y  # what\n\npkg-b\n   # indented comment\n")
	want := []Need{{"pkg-a", []string{"prog1", "/usr/lib/x|y"}}, {"pkg-b", []string{}}}
	if len(got) != len(want) {
		t.Fatalf("ParseNeeds = %q, want %q", got, want)
	}
	for i := range want {
		if got[i].Package != want[i].Package || !slices.Equal(got[i].Uses, want[i].Uses) {
			t.Errorf("ParseNeeds[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

// TestNeeds: the harness's list has the packages the lab cannot do
// without, each once.
func TestNeeds(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range Needs() {
		if seen[n.Package] {
			t.Errorf("package %s listed twice", n.Package)
		}
		seen[n.Package] = true
	}
	for _, p := range []string{"qemu-system-x86", "nfs-ganesha", "rpcbind", "tgt", "dnsmasq-base", "iproute2", "util-linux", "busybox-static"} {
		if !seen[p] {
			t.Errorf("apt-packages.txt lacks %s", p)
		}
	}
}

func TestMissingOf(t *testing.T) {
	miss := MissingOf([]Need{{"p", []string{"/nonexistent/a", "sh", "/nonexistent/b|sh", "no-such-program-xyz"}}})
	want := []string{"/nonexistent/a (apt package p)", "no-such-program-xyz (apt package p)"}
	if strings.Join(miss, ";") != strings.Join(want, ";") {
		t.Errorf("MissingOf = %q, want %q", miss, want)
	}
}
