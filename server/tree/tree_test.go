package tree

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sidus-go/sidus/server/files"
	"github.com/sidus-go/sidus/server/runner"
)

// fakeSys runs fn directly and records calls.
type fakeSys struct {
	entered []string
	killed  int
}

func (f *fakeSys) InNamespace(root string, _ io.Writer, fn func() error) error {
	f.entered = append(f.entered, root)
	return fn()
}
func (f *fakeSys) KillRoot(string, io.Writer) ([]int, error) { f.killed++; return []int{4242}, nil }
func (f *fakeSys) MountsUnder(string) ([]string, error)      { return nil, nil }

func TestBuiltinProfiles(t *testing.T) {
	for _, name := range BuiltinProfiles() {
		p, err := LoadProfile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(p.Packages()) < 5 || p.Packages()[0] != p.Kernel {
			t.Errorf("%s: packages %v", name, p.Packages())
		}
	}
	p, _ := LoadProfile("sidus-2013")
	if !slices.Contains(p.Exclude, "network-manager") || !slices.Contains(p.Packages(), "open-iscsi") || len(p.Packages()) < 100 {
		t.Errorf("sidus-2013 lists: %d packages", len(p.Packages()))
	}
	if c := p.Conflicts(); !slices.Equal(c, []string{"nano"}) {
		t.Errorf("conflicts = %v", c)
	}
	got := strings.Join(p.DebootstrapArgs("/srv/x"), " ")
	if !strings.HasPrefix(got, "debootstrap --arch=amd64 --components=main,contrib,non-free --include=linux-image-3.2.0-4-amd64,adduser,apt,") ||
		!strings.HasSuffix(got, ",libgd2-xpm wheezy /srv/x http://archive.debian.org/debian") {
		t.Errorf("args = %s", got)
	}
}

func TestParseProfileErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`suite = "Bookworm"` + "\nkernel = \"linux-image-amd64\"", "suite"},
		{`suite = "bookworm"`, "kernel: missing"},
		{"suite = \"bookworm\"\nkernel = \"linux-image-amd64\"\ninclude = [\"bad name\"]", `"bad name" is not`},
		{"suite = \"bookworm\"\nkernel = \"linux-image-amd64\"\nvariant = \"tiny\"", "variant"},
		{"suite = \"bookworm\"\nkernel = \"linux-image-amd64\"\nmirror = \"deb.debian.org\"", "mirror"},
		{"suite = \"bookworm\"\nkernel = \"linux-image-amd64\"\ntimezone = \"../../etc/passwd\"", "timezone"},
		{"suite = \"bookworm\"\nkernel = \"linux-image-amd64\"\nsuit = 1", "unknown key suit"},
	} {
		if _, err := ParseProfile([]byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseProfile(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestPrepare(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("buildhost\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/machine-id"), []byte("0123\n"), 0o444)
	os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(root, "etc/resolv.conf"))
	p, _ := LoadProfile("sidus-2013")
	var log bytes.Buffer
	w := &files.Writer{Log: &log}
	if err := Prepare(root, p, []string{"192.168.1.1"}, w); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"etc/locale.gen":                          "en_US.UTF-8 UTF-8\n",
		"etc/timezone":                            "Europe/Paris\n",
		"etc/machine-id":                          "",
		"etc/default/keyboard":                    `XKBLAYOUT="fr"`,
		"etc/resolv.conf":                         "nameserver 192.168.1.1\n",
		"etc/network/interfaces":                  "auto lo\niface lo inet loopback\n",
		"etc/security/limits.d/90-sidus-hpc.conf": "*    hard memlock unlimited\n",
	}
	for f, w := range want {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil || !strings.Contains(string(b), w) || (w == "" && len(b) != 0) {
			t.Errorf("%s = %q, %v; want it to hold %q", f, b, err, w)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/hostname")); err == nil {
		t.Error("etc/hostname kept")
	}
	if l, _ := os.Readlink(filepath.Join(root, "etc/localtime")); l != "/usr/share/zoneinfo/Europe/Paris" {
		t.Errorf("localtime -> %q", l)
	}
	// Idempotent: a second run changes nothing.
	log.Reset()
	if err := Prepare(root, p, []string{"192.168.1.1"}, w); err != nil {
		t.Fatal(err)
	}
	if log.Len() != 0 {
		t.Errorf("second Prepare changed: %s", log.String())
	}
}

func TestCreateWithFakes(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "sidus")
	fr := &runner.Fake{Respond: func(c runner.Cmd) (string, error) {
		if c.Args[0] == "debootstrap" {
			dir := c.Args[len(c.Args)-2]
			for _, d := range []string{"var/lib/dpkg", "lib/modules/6.1.0-9-amd64", "lib/modules/6.1.0-10-amd64", "boot", "usr/sbin", "bin", "etc"} {
				os.MkdirAll(filepath.Join(dir, d), 0o755)
			}
			os.WriteFile(filepath.Join(dir, "var/lib/dpkg/status"), nil, 0o644)
			os.WriteFile(filepath.Join(dir, "boot/vmlinuz-6.1.0-9-amd64"), nil, 0o644)
			os.WriteFile(filepath.Join(dir, "boot/vmlinuz-6.1.0-10-amd64"), nil, 0o644)
			os.WriteFile(filepath.Join(dir, "usr/sbin/locale-gen"), nil, 0o755)
			io.WriteString(c.Stdout, "I: Retrieving InRelease\nI: Base system installed successfully.\n")
		}
		return "", nil
	}}
	p, _ := LoadProfile("bookworm")
	var log bytes.Buffer
	sys := &fakeSys{}
	o := CreateOptions{Runner: fr, Sys: sys, DNS: []string{"10.0.0.1"}, Log: &log, Mirror: "http://mirror.local/debian",
		Now: func() time.Time { return time.Unix(0, 0) }}
	if err := Create(context.Background(), root, p, o); err != nil {
		t.Fatalf("Create: %v\n%s", err, log.String())
	}
	lines := fr.Lines()
	want := []string{
		"debootstrap --arch=amd64 --variant=minbase --components=main --include=linux-image-amd64,systemd-sysv,",
		"chroot " + root + " PATH=" + ChrootPath + " DEBIAN_FRONTEND=noninteractive HOME=/root locale-gen",
		"chroot " + root + " PATH=" + ChrootPath + " DEBIAN_FRONTEND=noninteractive HOME=/root depmod -a 6.1.0-9-amd64",
		"chroot " + root + " PATH=" + ChrootPath + " DEBIAN_FRONTEND=noninteractive HOME=/root depmod -a 6.1.0-10-amd64",
		"chroot " + root + " PATH=" + ChrootPath + " DEBIAN_FRONTEND=noninteractive HOME=/root apt-get clean",
	}
	if len(lines) != len(want) {
		t.Fatalf("commands:\n%s", strings.Join(lines, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("command %d = %s\nwant prefix %s", i, lines[i], want[i])
		}
	}
	if !strings.HasSuffix(lines[0], " bookworm "+root+".debootstrap http://mirror.local/debian") {
		t.Errorf("debootstrap = %s", lines[0])
	}
	if !strings.Contains(log.String(), "debootstrap: I: Base system installed successfully.") {
		t.Errorf("no progress lines:\n%s", log.String())
	}
	if n, _, _ := ReadGeneration(root); n != 1 || sys.killed != 1 {
		t.Errorf("generation %d, KillRoot calls %d", n, sys.killed)
	}
	if _, err := os.Stat(filepath.Join(root, PolicyRCD)); err == nil {
		t.Error("policy-rc.d left")
	}

	// Again: no debootstrap, nothing rewritten but the generation.
	fr.Calls = nil
	log.Reset()
	if err := Create(context.Background(), root, p, o); err != nil {
		t.Fatal(err)
	}
	if l := fr.Lines(); strings.HasPrefix(l[0], "debootstrap") {
		t.Errorf("bootstrapped again: %v", l)
	}
	if strings.Contains(log.String(), "write") {
		t.Errorf("second create rewrote files:\n%s", log.String())
	}
}

func TestRunDryRun(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "bin"), 0o755)
	var log bytes.Buffer
	fr := &runner.Fake{}
	res, err := Run(context.Background(), root, [][]string{{"apt-get", "install", "-y", "hwloc"}}, RunOptions{Runner: fr, Sys: &fakeSys{}, Log: &log, DryRun: true})
	if err != nil || len(fr.Calls) != 0 || res.Generation != 0 {
		t.Fatalf("dry run: %v, calls %v, gen %d", err, fr.Lines(), res.Generation)
	}
	for _, w := range []string{"would install " + filepath.Join(root, PolicyRCD), "would run chroot " + root + " apt-get install -y hwloc", "would bump the generation 0 -> 1"} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("dry-run log lacks %q:\n%s", w, log.String())
		}
	}
	if _, err := os.Stat(filepath.Join(root, GenerationFile)); err == nil {
		t.Error("dry run bumped the generation")
	}
}

func TestRunRefusesHostRoot(t *testing.T) {
	if _, err := Run(context.Background(), "/", [][]string{{"true"}}, RunOptions{Runner: &runner.Fake{}, Sys: &fakeSys{}}); err == nil {
		t.Error("Run on / accepted")
	}
}

func TestMountPoints(t *testing.T) {
	mi := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:5 / /srv/nfsroot/sidus/proc rw shared:9 - proc none rw
41 22 0:6 / /srv/nfsroot/sidus/dev/pts rw - devpts devpts rw
42 22 0:7 / /srv/nfsroot/sidus-old/proc rw - proc none rw
43 22 0:8 / /srv/nfsroot/sidus rw - ext4 /dev/sdb1 rw
44 22 0:9 / /srv/nfsroot/sidus/mnt/a\040b rw - tmpfs t rw
`
	got, _ := mountPoints(strings.NewReader(mi), "/srv/nfsroot/sidus")
	want := []string{"/srv/nfsroot/sidus/proc", "/srv/nfsroot/sidus/dev/pts", "/srv/nfsroot/sidus/mnt/a b"}
	if !slices.Equal(got, want) {
		t.Errorf("mountPoints = %q", got)
	}
}

func TestKernelsOrder(t *testing.T) {
	root := t.TempDir()
	for _, k := range []string{"6.1.0-10-amd64", "6.1.0-9-amd64", "5.10.0-30-amd64", "6.1.0-11-amd64"} {
		os.MkdirAll(filepath.Join(root, "lib/modules", k), 0o755)
		if k != "6.1.0-11-amd64" {
			os.MkdirAll(filepath.Join(root, "boot"), 0o755)
			os.WriteFile(filepath.Join(root, "boot/vmlinuz-"+k), nil, 0o644)
		}
	}
	got, _ := Kernels(root)
	if !slices.Equal(got, []string{"5.10.0-30-amd64", "6.1.0-9-amd64", "6.1.0-10-amd64"}) {
		t.Errorf("Kernels = %v", got)
	}
}

func TestCreateDryRunFresh(t *testing.T) {
	root := filepath.Join(t.TempDir(), "sidus")
	var log bytes.Buffer
	var seen []string
	e := &runner.Exec{DryRunCB: func(c runner.Cmd) { seen = append(seen, c.String()) }}
	p, _ := LoadProfile("bookworm")
	if err := Create(context.Background(), root, p, CreateOptions{Runner: e, Sys: &fakeSys{}, DNS: []string{"10.0.0.1"}, Log: &log, DryRun: true}); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if _, err := os.Stat(root); err == nil {
		t.Error("dry run created the tree")
	}
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "debootstrap ") {
		t.Errorf("dry run commands %v", seen)
	}
	for _, w := range []string{"would bootstrap bookworm amd64", "would write " + root + "/etc/resolv.conf", "would bump"} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, log.String())
		}
	}
}
