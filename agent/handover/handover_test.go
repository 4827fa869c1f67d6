package handover

import (
	"bytes"
	"strings"
	"testing"
)

func TestRoundTripAndRedaction(t *testing.T) {
	s := &State{Device: "eth0", MAC: "52:54:00:12:34:56",
		Lease: &Lease{IP: "10.0.0.21", PrefixLen: 24, ServerID: "10.0.0.1", LeaseSeconds: 120, Acquired: 1700000000},
		ISCSI: &ISCSI{SID: 1, Target: "iqn.t:10.0.0.21", Portals: []string{"10.0.0.1:3260"}, ISID: "400000000001",
			Username: "node21", Password: "s3cret-out", InUsername: "tgt", InPassword: "s3cret-in"}}
	var buf bytes.Buffer
	if err := Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	got, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got.ISCSI.Password != "s3cret-out" || got.ISCSI.InPassword != "s3cret-in" || got.Lease.IP != "10.0.0.21" {
		t.Fatalf("round trip lost data: %+v %+v", got.ISCSI, got.Lease)
	}
	var red bytes.Buffer
	if err := Write(&red, got.Redacted()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(red.String(), "s3cret") {
		t.Fatalf("redacted state holds a secret: %s", red.String())
	}
	if got.ISCSI.Password != "s3cret-out" {
		t.Fatal("Redacted changed the original")
	}
}

func TestReadErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":   "",
		"garbage": "{not json",
		"version": `{"version":2}`,
		"huge":    `{"version":1,"device":"` + strings.Repeat("x", MaxSize) + `"}`,
	} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("%s: Read accepted it", name)
		}
	}
}

func TestRoundTripTree(t *testing.T) {
	for _, tree := range []*Tree{
		nil,
		{Root: "/ro", PollSeconds: DefaultTreePollSeconds},
		{Root: "/ro", PollSeconds: 0, Files: []string{"var/lib/dpkg/status", "etc/apt/sources.list"}},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, &State{Device: "eth0", Tree: tree}); err != nil {
			t.Fatal(err)
		}
		if tree == nil && strings.Contains(buf.String(), `"tree"`) {
			t.Fatalf("no tree, yet %s", buf.String())
		}
		if tree != nil && !strings.Contains(buf.String(), `"tree":{"root":"/ro","poll_seconds":`) {
			t.Fatalf("tree's JSON names: %s", buf.String())
		}
		got, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tree == nil && got.Tree != nil:
			t.Fatalf("no tree, read %+v", got.Tree)
		case tree == nil:
		case got.Tree == nil || got.Tree.Root != tree.Root || got.Tree.PollSeconds != tree.PollSeconds ||
			strings.Join(got.Tree.Files, ",") != strings.Join(tree.Files, ","):
			t.Fatalf("round trip: %+v, want %+v", got.Tree, tree)
		}
		if r := got.Redacted(); (r.Tree == nil) != (tree == nil) {
			t.Fatalf("Redacted lost the tree: %+v", r.Tree)
		}
	}
}
