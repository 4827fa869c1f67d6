package cmdline

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLive(t *testing.T) {
	for _, tc := range []struct {
		line      string
		live      int
		poll      int
		shared    []string
		nfsSuffix string // what NFSMountOptions ends with (vers=4.2 given)
	}{
		{"", 60, 5, DefaultShared, "vers=4.2"},
		{"sidus.live=10", 10, 5, DefaultShared, "acregmax=10,acdirmax=10,acdirmin=10,vers=4.2"},
		{"sidus.live=2", 2, 2, DefaultShared, "acregmax=2,acdirmax=2,acregmin=2,acdirmin=2,vers=4.2"},
		{"sidus.live=45", 45, 5, DefaultShared, "acregmax=45,acdirmax=45,vers=4.2"},
		{"sidus.live=off sidus.shared=none", 0, 0, nil, "vers=4.2"},
		{"sidus.live=10 nfsroot=/x,actimeo=3", 10, 5, DefaultShared, "actimeo=3,vers=4.2"},
		{"sidus.shared=usr,opt", 60, 5, []string{"usr", "opt"}, "vers=4.2"},
	} {
		c, err := Parse(tc.line, nil, nil)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.line, err)
			continue
		}
		if got := c.LiveSeconds(); got != tc.live {
			t.Errorf("%q: LiveSeconds = %d, want %d", tc.line, got, tc.live)
		}
		if got := c.LivePollSeconds(); got != tc.poll {
			t.Errorf("%q: LivePollSeconds = %d, want %d", tc.line, got, tc.poll)
		}
		if got := c.SharedDirs(); !slices.Equal(got, tc.shared) {
			t.Errorf("%q: SharedDirs = %q, want %q", tc.line, got, tc.shared)
		}
		if got := c.NFSMountOptions("", "", "4.2"); !strings.HasSuffix(got, tc.nfsSuffix) || strings.Count(got, "acregmax") > 1 {
			t.Errorf("%q: NFSMountOptions = %q, want it to end with %q", tc.line, got, tc.nfsSuffix)
		}
	}
}

func TestLiveBad(t *testing.T) {
	for _, tc := range []struct{ line, param string }{
		{"sidus.live=0", "sidus.live"},
		{"sidus.live=soon", "sidus.live"},
		{"sidus.live=3601", "sidus.live"},
		{"sidus.live=", "sidus.live"},
		{"sidus.shared=", "sidus.shared"},
		{"sidus.shared=usr,,opt", "sidus.shared"},
		{"sidus.shared=usr/share", "sidus.shared"},
		{"sidus.shared=etc", "sidus.shared"},
		{"sidus.shared=..", "sidus.shared"},
	} {
		_, err := Parse(tc.line, nil, nil)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != tc.param {
			t.Errorf("Parse(%q) = %v, want a ParamError naming %s", tc.line, err, tc.param)
		}
	}
}
