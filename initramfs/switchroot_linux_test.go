package initramfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandoverEnvDropsSecrets(t *testing.T) {
	env := handoverEnv([]string{"HOME=/", "ISCSI_PASSWORD=s3cret", "ISCSI_USERNAME=u", "ISCSI_IN_PASSWORD=x", "TERM=linux",
		"iscsi_password=s3cret", "iscsi_in_password=x"})
	if got := strings.Join(env, " "); got != "HOME=/ ISCSI_USERNAME=u TERM=linux" {
		t.Errorf("env = %q", got)
	}
}

// resolveIn follows absolute symlinks inside the new root, as systemd's
// /sbin/init -> /lib/systemd/systemd needs.
func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "lib/systemd"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "sbin"), 0o755))
	must(os.WriteFile(filepath.Join(root, "lib/systemd/systemd"), []byte("#!"), 0o755))
	must(os.Symlink("/lib/systemd/systemd", filepath.Join(root, "sbin/init")))
	must(os.Symlink("init", filepath.Join(root, "sbin/rel")))
	must(os.WriteFile(filepath.Join(root, "sbin/noexec"), []byte("x"), 0o644))
	must(os.Symlink("/sbin/loop", filepath.Join(root, "sbin/loop")))
	for _, tc := range []struct{ in, want, err string }{
		{"/sbin/init", "/lib/systemd/systemd", ""},
		{"/sbin/rel", "/lib/systemd/systemd", ""},
		{"/sbin/missing", "", "not found in the new root"},
		{"/sbin/noexec", "", "not an executable"},
		{"/sbin", "", "not an executable"},
		{"/sbin/loop", "", "too many symlinks"},
		{"sbin/init", "", "absolute"},
	} {
		got, err := resolveIn(root, tc.in)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("resolveIn(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}
