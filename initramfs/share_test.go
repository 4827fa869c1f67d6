package initramfs

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/initramfs/cmdline"
)

// The tree's usr and opt are bound over the union after the layers moved,
// bin (a file here, as a merged /usr's symlink) and absent names are not;
// the node's own files under an upper's usr are reported hidden.
func TestShareTree(t *testing.T) {
	for _, tc := range []struct {
		extra string
		binds []string
	}{
		{"", []string{"mount /aufs/ro/usr /aufs/usr  0x1000 ", "mount /aufs/ro/opt /aufs/opt  0x1000 "}},
		{" sidus.shared=opt", []string{"mount /aufs/ro/opt /aufs/opt  0x1000 "}},
		{" sidus.shared=none", nil},
	} {
		f := newFake()
		f.files["/aufs/ro/usr/bin/sh"] = "#!"
		f.files["/aufs/ro/opt/app/run"] = "#!"
		f.files["/aufs/ro/bin"] = "-> usr/bin"
		f.files["/aufs/rw/upper/usr/local/mine"] = "x"
		var log bytes.Buffer
		res, _ := bootWith(t, f, cmdline.SeedTmpfs+tc.extra, &log, Options{})
		var binds []string
		for _, c := range f.calls {
			if strings.Contains(c, " 0x1000 ") {
				binds = append(binds, c)
			}
		}
		if strings.Join(binds, "\n") != strings.Join(tc.binds, "\n") {
			t.Errorf("%q: binds\n%s\nwant\n%s", tc.extra, strings.Join(binds, "\n"), strings.Join(tc.binds, "\n"))
		}
		if len(tc.binds) > 0 && (has(f.calls, "mount /rw /aufs/rw") > has(f.calls, tc.binds[0]) || has(f.calls, tc.binds[0]) > has(f.calls, "switch_root")) {
			t.Errorf("%q: want the binds after the layer moves and before switch_root:\n%s", tc.extra, strings.Join(f.calls, "\n"))
		}
		hidden := strings.Contains(log.String(), "the node's own files under /rw/upper/usr are hidden")
		if hidden != strings.Contains(strings.Join(tc.binds, ""), "/aufs/usr") {
			t.Errorf("%q: hidden-files warning %v, log:\n%s", tc.extra, hidden, log.String())
		}
		if res != nil && len(tc.binds) > 0 && len(res.Shared) != len(tc.binds) {
			t.Errorf("%q: Result.Shared = %q", tc.extra, res.Shared)
		}
	}
}
