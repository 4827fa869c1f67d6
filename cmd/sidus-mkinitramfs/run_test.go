package main

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/initramfs/image"
	"github.com/sidus-go/sidus/initramfs/image/imagetest"
	"github.com/sidus-go/sidus/initramfs/layout"
	"github.com/u-root/mkuimage/cpio"
	itest "github.com/u-root/mkuimage/uimage/initramfs/test"
)

const kver = "6.1.0-test-amd64"

func fakeKernel(t *testing.T) string {
	return imagetest.Kernel(t, kver, []imagetest.Mod{
		{Path: "kernel/drivers/virtio/virtio_ring.ko"},
		{Path: "kernel/drivers/virtio/virtio.ko", Modinfo: []string{"depends=virtio_ring"}},
		{Path: "kernel/drivers/virtio/virtio_pci.ko", Modinfo: []string{"depends=virtio,virtio_ring"}},
		{Path: "kernel/drivers/net/virtio_net.ko", Modinfo: []string{"depends=virtio,virtio_ring"}},
		{Path: "kernel/fs/overlayfs/overlay.ko"},
		{Path: "kernel/drivers/scsi/virtio_scsi.ko", Modinfo: []string{"depends=virtio,virtio_ring"}},
	}, map[string]string{"modules.builtin": "kernel/fs/ext4/ext4.ko\n"}, nil)
}

func readImage(t *testing.T, file, compression string) *cpio.Archive {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := image.Decompress(f, compression)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	a, err := cpio.ArchiveFromRecords(imagetest.Records(t, bytes.NewReader(b.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRun(t *testing.T) {
	base := fakeKernel(t)
	initBin := imagetest.WriteFile(t, "sidus-init", imagetest.ELF(elf.ET_EXEC, "", nil, []byte("init")), 0o755)
	out := filepath.Join(t.TempDir(), "initrd.img-Sidus")
	var stdout, stderr bytes.Buffer
	// Flags after KVERSION work too.
	err := run([]string{"-b", base, "--init", initBin, "-m", "virtio_scsi,ext4", "-c", "gzip", kver, "-o", out}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	for _, w := range []string{"modules:    6,", "virtio_ring virtio virtio_pci virtio_net overlay virtio_scsi", "built in:   ext4", "skipped:", "e1000", "gzip"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("summary lacks %q:\n%s", w, stdout.String())
		}
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("output: %v, %v", st, err)
	}
	a := readImage(t, out, image.Gzip)
	for _, v := range []itest.ArchiveValidator{
		itest.HasFile{Path: layout.Init},
		itest.HasFile{Path: "lib/modules/" + kver + "/kernel/drivers/scsi/virtio_scsi.ko"},
		itest.HasFile{Path: layout.LoadOrder},
	} {
		if err := v.Validate(a); err != nil {
			t.Error(err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".initrd*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestRunReproducibleWithEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	base := fakeKernel(t)
	initBin := imagetest.WriteFile(t, "sidus-init", imagetest.ELF(elf.ET_EXEC, "", nil, nil), 0o755)
	dir := t.TempDir()
	var imgs [][]byte
	for _, name := range []string{"a", "b"} {
		out := filepath.Join(dir, name)
		if err := run([]string{"-b", base, "--init", initBin, "-o", out, kver}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(out)
		imgs = append(imgs, b)
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		t.Error("two runs differ")
	}
	r, _ := readImage(t, filepath.Join(dir, "a"), image.Zstd).Get(layout.Init)
	if r.MTime != 1700000000 {
		t.Errorf("init mtime %d, want SOURCE_DATE_EPOCH", r.MTime)
	}
}

func TestParseModules(t *testing.T) {
	for _, tt := range []struct {
		m                  []string
		wantMods, wantDefs []string
	}{
		{nil, nil, image.DefaultNames()},
		{[]string{"a,b", "c"}, []string{"a", "b", "c"}, image.DefaultNames()},
		{[]string{"-DEFAULT", "virtio_net"}, []string{"virtio_net"}, []string{}},
		{[]string{"-ext4,-xfs"}, nil, slices.DeleteFunc(slices.Clone(image.DefaultNames()), func(s string) bool { return s == "ext4" || s == "xfs" })},
	} {
		var args []string
		for _, m := range tt.m {
			args = append(args, "-m", m)
		}
		args = append(args, "--init", "/x", "-o", "/tmp/x", kver)
		c, err := parse(args, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%v: %v", tt.m, err)
		}
		if !slices.Equal(c.opts.Modules, tt.wantMods) || !slices.Equal(c.opts.Defaults, tt.wantDefs) || c.opts.Defaults == nil {
			t.Errorf("-m %v: Modules %v Defaults %v", tt.m, c.opts.Modules, c.opts.Defaults)
		}
	}
}

func TestRunErrors(t *testing.T) {
	base := fakeKernel(t)
	initBin := imagetest.WriteFile(t, "sidus-init", imagetest.ELF(elf.ET_EXEC, "", nil, nil), 0o755)
	dyn := imagetest.WriteFile(t, "dyn", imagetest.ELF(elf.ET_DYN, "/lib64/ld-linux-x86-64.so.2", nil, nil), 0o755)
	out := filepath.Join(t.TempDir(), "img")
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"no kver", []string{"-o", out}, []string{"KVERSION"}},
		{"two kvers", []string{"-o", out, kver, "x"}, []string{"KVERSION", "got 2"}},
		{"no output", []string{"--init", initBin, kver}, []string{"-o"}},
		{"bad flag", []string{"--bogus", kver}, []string{"bogus"}},
		{"bad compression", []string{"-b", base, "--init", initBin, "-c", "bz2", "-o", out, kver}, []string{`"bz2"`}},
		{"unknown module", []string{"-b", base, "--init", initBin, "-m", "e1000", "-o", out, kver}, []string{"-m e1000:", `"e1000"`}},
		{"dynamic init", []string{"-b", base, "--init", dyn, "-o", out, kver}, []string{dyn, "dynamically linked"}},
		{"bad output dir", []string{"-b", base, "--init", initBin, "-o", "/nonexistent/dir/img", kver}, []string{"-o /nonexistent/dir/img"}},
		{"wrong kver", []string{"-b", base, "--init", initBin, "-o", out, "5.10.0-9-amd64"}, []string{"5.10.0-9-amd64"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run left an output file")
	}
}

func TestRunWarnsUnstripped(t *testing.T) {
	base := fakeKernel(t)
	unstripped := func(name string) string {
		return imagetest.WriteFile(t, name, imagetest.ELFWith(elf.ET_EXEC, "",
			imagetest.Section{Name: ".text", Type: elf.SHT_PROGBITS, Data: make([]byte, 4096)},
			imagetest.Section{Name: ".symtab", Type: elf.SHT_SYMTAB, Data: make([]byte, 1024)},
			imagetest.Section{Name: ".strtab", Type: elf.SHT_STRTAB, Data: make([]byte, 512)},
			imagetest.Section{Name: ".debug_info", Type: elf.SHT_PROGBITS, Data: make([]byte, 512)},
		), 0o755)
	}
	initBin, agentBin := unstripped("sidus-init"), unstripped("sidus-agent")
	stripped := imagetest.WriteFile(t, "sidus-agent", imagetest.ELF(elf.ET_EXEC, "", nil, []byte("agent")), 0o755)
	out := filepath.Join(t.TempDir(), "img")
	const hint = "build it with CGO_ENABLED=0 go build -trimpath -ldflags='-s -w'"

	var stdout, stderr bytes.Buffer
	if err := run([]string{"-b", base, "--init", initBin, "--agent", agentBin, "-o", out, kver}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	for _, w := range []string{
		"warning: --init " + initBin + " is not stripped: 2.0 KiB of symbols and debug info (of ",
		"warning: --agent " + agentBin + " is not stripped: 2.0 KiB",
		hint,
	} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
	if strings.Contains(stdout.String(), "warning:") {
		t.Errorf("warning in the summary on stdout:\n%s", stdout.String())
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("no image despite the warning: %v", err)
	}

	// Stripped binaries: no warning.
	stderr.Reset()
	strippedInit := imagetest.WriteFile(t, "sidus-init", imagetest.ELF(elf.ET_EXEC, "", nil, []byte("init")), 0o755)
	if err := run([]string{"-b", base, "--init", strippedInit, "--agent", stripped, "-o", out, kver}, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "warning:") {
		t.Errorf("warning for stripped binaries:\n%s", stderr.String())
	}

	// -o -: the warning goes to stderr with the summary, not into the image.
	stdout.Reset()
	stderr.Reset()
	if err := run([]string{"-b", base, "--init", initBin, "-o", "-", kver}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "warning: --init "+initBin) || strings.Contains(stderr.String(), "--agent") {
		t.Errorf("-o -: stderr:\n%s", stderr.String())
	}
}
