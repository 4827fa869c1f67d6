package boot

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/initramfs/image/imagetest"
	"github.com/sidus-go/sidus/server/config"
	goldenpkg "github.com/sidus-go/sidus/server/internal/golden"
)

func golden(t *testing.T, name, got string) { t.Helper(); goldenpkg.Check(t, name, got) }

func testConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	return goldenpkg.Config(t, extra)
}

func TestGoldenConfigs(t *testing.T) {
	c := testConfig(t, "")
	def, err := DefaultConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "pxelinux-default", def)
	// The seed's lines, untouched with the default config.
	for _, l := range []string{cmdline.SeedTmpfs, strings.TrimSpace(cmdline.SeedISCSI)} {
		if !strings.Contains(def, "APPEND "+l+"\n") {
			t.Errorf("default lacks the seed line %q", l)
		}
	}
	ipxe, err := IPXEScript(c)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sidus.ipxe", ipxe)

	c = testConfig(t, "[boot]\nconsole = \"ttyS0,115200\"\ndefault_label = \"iscsi\"\nappend = \"quiet\"\n[iscsi]\nlabel = \"SCRATCH\"\n")
	def, _ = DefaultConfig(c)
	golden(t, "pxelinux-default-custom", def)
	n, err := NodeConfig(c, "node21", "iscsi", "sidus-node21.img")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "pxelinux-node-iscsi-chap", n)
	if _, err := NodeConfig(c, "x", "disk", ""); err == nil {
		t.Error("label disk accepted")
	}
}

func TestMACFile(t *testing.T) {
	if got := MACFile("52:54:00:AB:00:1a"); got != "pxelinux.cfg/01-52-54-00-ab-00-1a" {
		t.Errorf("MACFile = %s", got)
	}
}

// bzImage returns a fake bzImage header carrying version.
func bzImage(version string) []byte {
	b := make([]byte, 0x1000)
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x020f)
	binary.LittleEndian.PutUint16(b[0x20e:], 0x800-0x200)
	copy(b[0x800:], version+"\x00")
	return b
}

func TestKernelVersion(t *testing.T) {
	v, err := KernelVersion(bytes.NewReader(bzImage("6.1.0-28-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC")))
	if err != nil || v != "6.1.0-28-amd64" {
		t.Errorf("KernelVersion = %q, %v", v, err)
	}
	if _, err := KernelVersion(bytes.NewReader(make([]byte, 0x1000))); err == nil {
		t.Error("no HdrS accepted")
	}
}

const kver = "6.1.0-9-amd64"

// fakeTree is a tree with one fake kernel, and a static fake sidus-init.
func fakeTree(t *testing.T) (root, init string) {
	root = imagetest.Kernel(t, kver, []imagetest.Mod{{Path: "kernel/drivers/net/virtio_net.ko"}}, map[string]string{"modules.dep": "kernel/drivers/net/virtio_net.ko:\n"}, nil)
	os.MkdirAll(filepath.Join(root, "boot"), 0o755)
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "boot/vmlinuz-"+kver), bzImage(kver+" #1"), 0o644)
	os.Symlink("boot/vmlinuz-"+kver, filepath.Join(root, "vmlinuz"))
	init = imagetest.WriteFile(t, "sidus-init", imagetest.ELF(elf.ET_EXEC, "", nil, []byte("sidus init")), 0o755)
	return root, init
}

func TestPublishAndRollback(t *testing.T) {
	root, init := fakeTree(t)
	tftp := t.TempDir()
	c := testConfig(t, "tree = \""+root+"\"\n[tftp]\nroot = \""+tftp+"\"\n[boot]\ninit = \""+init+"\"\ncompression = \"gzip\"\n")
	var log bytes.Buffer
	o := Options{Log: &log, ExeDir: t.TempDir()}

	// Dry run: nothing written.
	o.DryRun = true
	if err := Publish(c, o); err != nil {
		t.Fatalf("dry Publish: %v\n%s", err, log.String())
	}
	if ents, _ := os.ReadDir(tftp); len(ents) != 0 {
		t.Fatalf("dry run wrote %v", ents)
	}
	if !strings.Contains(log.String(), "would install initrd.img-Sidus") || !strings.Contains(log.String(), "would write "+filepath.Join(tftp, DefaultFile)) {
		t.Errorf("dry-run log:\n%s", log.String())
	}
	o.DryRun = false
	if err := Publish(c, o); err != nil {
		t.Fatalf("Publish: %v\n%s", err, log.String())
	}
	for _, f := range []string{KernelFile, InitrdFile, DefaultFile, IPXEFile, ManifestFile} {
		if !fileExists(filepath.Join(tftp, f)) {
			t.Errorf("%s not written", f)
		}
	}
	if fileExists(filepath.Join(tftp, KernelFile+PrevSuffix)) {
		t.Error("first publish made a .prev")
	}
	first, _ := os.ReadFile(filepath.Join(tftp, InitrdFile))
	// Second publish of the same tree: reproducible, nothing moves.
	if err := Publish(c, o); err != nil {
		t.Fatal(err)
	}
	if fileExists(filepath.Join(tftp, InitrdFile+PrevSuffix)) {
		t.Error("unchanged publish rotated the pair")
	}
	// A new kernel build: the old pair is kept.
	os.WriteFile(filepath.Join(root, "boot/vmlinuz-"+kver), bzImage(kver+" #2"), 0o644)
	if err := Publish(c, o); err != nil {
		t.Fatal(err)
	}
	prev, _ := os.ReadFile(filepath.Join(tftp, KernelFile+PrevSuffix))
	if v := string(prev[0x800 : 0x800+len(kver)+3]); v != kver+" #1" {
		t.Errorf("vmlinuz-Sidus.prev = %q, want build #1", v)
	}
	if b, _ := os.ReadFile(filepath.Join(tftp, InitrdFile+PrevSuffix)); !bytes.Equal(b, first) {
		t.Error("initrd .prev is not the first initrd")
	}
	if err := Rollback(c, o); err != nil {
		t.Fatal(err)
	}
	cur, _ := os.ReadFile(filepath.Join(tftp, KernelFile))
	if string(cur[0x800:0x800+len(kver)+3]) != kver+" #1" {
		t.Error("rollback did not bring back build #1")
	}
	if err := Rollback(c, o); err != nil {
		t.Fatal(err)
	}
	cur, _ = os.ReadFile(filepath.Join(tftp, KernelFile))
	if string(cur[0x800:0x800+len(kver)+3]) != kver+" #2" {
		t.Error("second rollback did not undo the first")
	}
	ents, _ := os.ReadDir(tftp)
	for _, e := range ents {
		if strings.Contains(e.Name(), "tmp") || strings.HasSuffix(e.Name(), ".swap") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestPublishErrors(t *testing.T) {
	root, _ := fakeTree(t)
	c := testConfig(t, "tree = \""+root+"\"\n[tftp]\nroot = \""+t.TempDir()+"\"\n[boot]\ninit = \"/nonexistent/sidus-init\"\n")
	if err := Publish(c, Options{}); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0 go build ./cmd/sidus-init") {
		t.Errorf("missing init: %v", err)
	}
	if err := Publish(c, Options{KernelVersion: "5.0"}); err == nil || !strings.Contains(err.Error(), "not in the tree") {
		t.Errorf("missing kernel: %v", err)
	}
	if err := Rollback(c, Options{}); err == nil || !strings.Contains(err.Error(), "nothing to roll back") {
		t.Errorf("rollback with nothing: %v", err)
	}
}
