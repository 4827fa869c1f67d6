package gobuild

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/initramfs/image"
	"github.com/sidus-go/sidus/qemu/kernel"
	"github.com/sidus-go/sidus/qemu/roots"
)

// recipeHeading starts the README section whose first indented code block
// is the by-hand recipe for initrd.img-Sidus.
const recipeHeading = "### By hand, without `sidus`"

// recipe returns the shell commands of the README's recipe: the first
// indented (4 spaces) code block after recipeHeading, up to the next
// non-indented, non-blank line, unindented, with backslash continuations
// joined and blank lines dropped.
func recipe(readme string) ([]string, error) {
	lines := strings.Split(readme, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimRight(l, " \t\r") == recipeHeading {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("README has no line %q", recipeHeading)
	}
	var block []string
	for _, l := range lines[start:] {
		l = strings.TrimRight(l, " \t\r")
		if strings.HasPrefix(l, "    ") {
			block = append(block, l[4:])
			continue
		}
		if l == "" {
			continue
		}
		if len(block) > 0 {
			break // the first non-indented, non-blank line after the block
		}
		if strings.HasPrefix(l, "#") {
			return nil, fmt.Errorf("README section %q has no indented code block before %q", recipeHeading, l)
		}
		// The prose before the block.
	}
	if len(block) == 0 {
		return nil, fmt.Errorf("README section %q has no indented code block", recipeHeading)
	}
	var cmds []string
	cur := ""
	for _, l := range block {
		if cur != "" {
			l = strings.TrimLeft(l, " \t")
		}
		if strings.HasSuffix(l, `\`) {
			cur += strings.TrimRight(strings.TrimSuffix(l, `\`), " \t") + " "
			continue
		}
		cmds = append(cmds, cur+l)
		cur = ""
	}
	if cur != "" {
		return nil, fmt.Errorf("README recipe: the last line ends in a backslash: %q", cur)
	}
	return cmds, nil
}

// recipePaths are where a rewritten recipe reads and writes, in place of
// the README's.
type recipePaths struct {
	Bin     string // the built binaries (the README: the working directory)
	BaseDir string // the README's /srv/nfsroot/sidus
	TFTP    string // the README's /srv/tftp
	Vmlinuz string // what the README copies as /srv/nfsroot/sidus/vmlinuz
}

// recipeBinaries are the programs the recipe builds with go build -o NAME
// and runs (or packs) as ./NAME.
var recipeBinaries = []string{"sidus-mkinitramfs", "sidus-init"}

// rewriteRecipe turns the README's recipe commands into one script that,
// run from the module root, writes only under p: "-o NAME" and "./NAME"
// become p.Bin/NAME, the cp of /srv/nfsroot/sidus/vmlinuz copies
// p.Vmlinuz, /srv/nfsroot/sidus becomes p.BaseDir and /srv/tftp p.TFTP.
// It fails, naming what it looked for, if the recipe lacks one of those,
// or if anything would still be written outside p.
func rewriteRecipe(cmds []string, p recipePaths) (string, error) {
	script := strings.Join(cmds, "\n") + "\n"
	var missing []string
	sub := func(re, repl string, min, max int, what string) {
		r := regexp.MustCompile(re)
		n := len(r.FindAllStringIndex(script, -1))
		if n < min || (max > 0 && n > max) {
			want := fmt.Sprintf("at least %d", min)
			if max == min {
				want = fmt.Sprintf("exactly %d", min)
			}
			missing = append(missing, fmt.Sprintf("%s: found %d, want %s", what, n, want))
			return
		}
		script = r.ReplaceAllString(script, repl)
	}
	for _, name := range recipeBinaries {
		q := regexp.QuoteMeta(name)
		out := shellQuote(filepath.Join(p.Bin, name))
		sub(`(?m)^((?:\S+=\S+ )*go build .*-o )`+q+`( )`, "${1}"+out+"${2}", 1, 1,
			fmt.Sprintf("a go build ... -o %s ./cmd/%s line", name, name))
		sub(`(^|\s)\./`+q+`(\s|$)`, "${1}"+out+"${2}", 1, 0, "./"+name)
	}
	// kernel.Default unpacks the Debian kernel package only (boot/,
	// lib/modules, usr/): its root has no vmlinuz symlink such as a
	// debootstrapped tree with a kernel installed has, so copy the kernel
	// it names (kernel.Info.Vmlinuz, boot/vmlinuz-VERSION) instead.
	sub(`(?m)^(cp )/srv/nfsroot/sidus/vmlinuz( )`, "${1}"+shellQuote(p.Vmlinuz)+"${2}", 1, 1,
		"a cp /srv/nfsroot/sidus/vmlinuz /srv/tftp/... line")
	for _, s := range []string{"-b /srv/nfsroot/sidus ", "$(ls /srv/nfsroot/sidus/lib/modules)", "-o /srv/tftp/initrd.img-Sidus "} {
		if !strings.Contains(script, s) {
			missing = append(missing, fmt.Sprintf("%q: not found", s))
		}
	}
	sub(`/srv/nfsroot/sidus\b`, shellQuote(p.BaseDir), 1, 0, "/srv/nfsroot/sidus")
	sub(`/srv/tftp\b`, shellQuote(p.TFTP), 1, 0, "/srv/tftp")
	if len(missing) > 0 {
		return "", fmt.Errorf("README recipe (%s) is not what TestREADMERecipeMatchesBench knows how to run; not found:\n\t%s\nrecipe:\n%s",
			recipeHeading, strings.Join(missing, "\n\t"), strings.Join(cmds, "\n"))
	}
	if i := strings.Index(script, "/srv/"); i >= 0 {
		return "", fmt.Errorf("README recipe: the test does not know where to put %q; rewritten script:\n%s",
			strings.Fields(script[i:])[0], script)
	}
	for _, m := range regexp.MustCompile(`(?:^|\s)-o\s+(\S+)`).FindAllStringSubmatch(script, -1) {
		if !strings.HasPrefix(strings.Trim(m[1], "'"), "/") {
			return "", fmt.Errorf("README recipe: -o %s would write into the module root; rewritten script:\n%s", m[1], script)
		}
	}
	return script, nil
}

// shellQuote quotes s for sh if it needs it.
func shellQuote(s string) string {
	if regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`).MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// readmeRecipe is the README's recipe, parsed.
func readmeRecipe(t *testing.T) (root string, cmds []string) {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if cmds, err = recipe(string(readme)); err != nil {
		t.Fatal(err)
	}
	return root, cmds
}

// The README's recipe, as the test expects it.
var wantRecipe = []string{
	"go build -o sidus-mkinitramfs ./cmd/sidus-mkinitramfs",
	"CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o sidus-init ./cmd/sidus-init",
	"./sidus-mkinitramfs -b /srv/nfsroot/sidus --init ./sidus-init --agent ./sidus-init --shell /bin/busybox -o /srv/tftp/initrd.img-Sidus $(ls /srv/nfsroot/sidus/lib/modules)",
	"cp /srv/nfsroot/sidus/vmlinuz /srv/tftp/vmlinuz-Sidus",
}

var testPaths = recipePaths{Bin: "/t/bin", BaseDir: "/k/root", TFTP: "/t/tftp", Vmlinuz: "/k/root/boot/vmlinuz-6.1"}

const wantScript = `go build -o /t/bin/sidus-mkinitramfs ./cmd/sidus-mkinitramfs
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /t/bin/sidus-init ./cmd/sidus-init
/t/bin/sidus-mkinitramfs -b /k/root --init /t/bin/sidus-init --agent /t/bin/sidus-init --shell /bin/busybox -o /t/tftp/initrd.img-Sidus $(ls /k/root/lib/modules)
cp /k/root/boot/vmlinuz-6.1 /t/tftp/vmlinuz-Sidus
`

func TestRecipe(t *testing.T) {
	readme := "intro\n\n" + recipeHeading + "\n\nBuild it:\n\n" +
		"    " + strings.Join(wantRecipe[:2], "\n    ") + "\n" +
		"    ./sidus-mkinitramfs -b /srv/nfsroot/sidus --init ./sidus-init --agent ./sidus-init --shell /bin/busybox \\\n" +
		"        -o /srv/tftp/initrd.img-Sidus $(ls /srv/nfsroot/sidus/lib/modules)\n" +
		"\n    " + wantRecipe[3] + "\n\n`-b` reads ...\n\n    LABEL tmpfs\n"
	cmds, err := recipe(readme)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cmds, "\n") != strings.Join(wantRecipe, "\n") {
		t.Errorf("recipe:\n%s\nwant:\n%s", strings.Join(cmds, "\n"), strings.Join(wantRecipe, "\n"))
	}
	for _, tt := range []struct{ name, readme, want string }{
		{"no heading", "### By hand\n\n    go build\n", "has no line"},
		{"no block", recipeHeading + "\n\ntext\n\n### Next\n\n    go build\n", "no indented code block"},
		{"dangling backslash", recipeHeading + "\n\n    go build \\\n", "backslash"},
	} {
		if _, err := recipe(tt.readme); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestRewriteRecipe(t *testing.T) {
	edit := func(i int, old, new string) []string {
		c := append([]string(nil), wantRecipe...)
		if !strings.Contains(c[i], old) {
			panic(old)
		}
		c[i] = strings.Replace(c[i], old, new, 1)
		return c
	}
	for _, tt := range []struct {
		name string
		cmds []string
		want string // error substring; "" for wantScript
	}{
		{"README", wantRecipe, ""},
		{"output renamed", edit(1, "-o sidus-init", "-o init"), "-o sidus-init"},
		{"init not packed", edit(2, "--init ./sidus-init --agent ./sidus-init", "--init /usr/local/sbin/init --agent /usr/local/sbin/init"), "./sidus-init: found 0"},
		{"no cp", wantRecipe[:3], "a cp /srv/nfsroot/sidus/vmlinuz"},
		{"other base", edit(2, "-b /srv/nfsroot/sidus ", "-b /srv/nfsroot/other "), `"-b /srv/nfsroot/sidus ": not found`},
		{"other output", edit(2, "-o /srv/tftp/initrd.img-Sidus", "-o /srv/pxe/initrd.img-Sidus"), `"-o /srv/tftp/initrd.img-Sidus ": not found`},
		{"other /srv path", append(append([]string(nil), wantRecipe...), "cp /srv/tftp/initrd.img-Sidus /srv/pxe/"), `"/srv/pxe/"`},
		{"no ls", edit(2, "$(ls /srv/nfsroot/sidus/lib/modules)", "6.1.0-57-cloud-amd64"), "$(ls /srv/nfsroot/sidus/lib/modules)"},
		{"extra relative output", append(append([]string(nil), wantRecipe...), "go build -o sidus ./cmd/sidus"), "-o sidus would write into the module root"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rewriteRecipe(tt.cmds, testPaths)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want == "" && got != wantScript:
				t.Errorf("script:\n%s\nwant:\n%s", got, wantScript)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	p := testPaths
	p.TFTP = "/tmp/with space"
	got, err := rewriteRecipe(wantRecipe, p)
	if err != nil || !strings.Contains(got, "-o '/tmp/with space'/initrd.img-Sidus ") {
		t.Errorf("quoting: %v\n%s", err, got)
	}
}

// TestREADMERecipeParses checks, cheaply, that the README's recipe is
// still the one TestREADMERecipeMatchesBench knows how to run.
func TestREADMERecipeParses(t *testing.T) {
	_, cmds := readmeRecipe(t)
	if _, err := rewriteRecipe(cmds, testPaths); err != nil {
		t.Fatal(err)
	}
}

// TestREADMERecipeMatchesBench runs the README's by-hand recipe and checks
// it packs the same initrd.img-Sidus, byte for byte, as the bench and the
// e2e tests (Initrd with the busybox rescue shell).
func TestREADMERecipeMatchesBench(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs 6 go builds and 2 packs")
	}
	need := func(what string, err error) {
		t.Helper()
		if err == nil {
			return
		}
		if os.Getenv("SIDUS_E2E") == "1" {
			t.Fatalf("%s: %v", what, err)
		}
		t.Skipf("%s: %v (SIDUS_E2E=1 makes this an error)", what, err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		need("go", err)
	}
	root, cmds := readmeRecipe(t)
	k, err := kernel.Default()
	need("kernel", err)
	_, err = os.Stat(roots.BusyboxPath)
	need("busybox-static", err)
	compareRecipe(t, root, cmds, k)
}

// compareRecipe runs the recipe cmds from the module root and compares its
// initrd with Initrd's for k.
func compareRecipe(t *testing.T, root string, cmds []string, k *kernel.Info) {
	tmp := t.TempDir()
	p := recipePaths{Bin: filepath.Join(tmp, "readme"), BaseDir: k.BaseDir, TFTP: filepath.Join(tmp, "tftp"), Vmlinuz: k.Vmlinuz}
	for _, d := range []string{p.Bin, p.TFTP} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := rewriteRecipe(cmds, p)
	if err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("sh", "-e", "-c", script)
	sh.Dir = root
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("README recipe: %v\nscript:\n%s\noutput:\n%s", err, script, out)
	}
	t.Logf("README recipe:\n%s\noutput:\n%s", script, out)
	if _, err := os.Stat(filepath.Join(p.TFTP, "vmlinuz-Sidus")); err != nil {
		t.Errorf("the recipe's cp: %v", err)
	}
	readmeImg, err := os.ReadFile(filepath.Join(p.TFTP, "initrd.img-Sidus"))
	if err != nil {
		t.Fatal(err)
	}

	benchDir := filepath.Join(tmp, "bench")
	o := InitrdOptions{Dir: benchDir, Kernel: k, Shell: roots.BusyboxPath}
	benchFile, err := Initrd(o)
	if err != nil {
		t.Fatal(err)
	}
	benchImg, err := os.ReadFile(benchFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(readmeImg, benchImg) {
		return
	}

	o.Init, o.Agent, o.Out = filepath.Join(benchDir, "sidus-init"), filepath.Join(benchDir, "sidus-init"), benchFile
	var b strings.Builder
	fmt.Fprintf(&b, "the README's initrd and the bench's differ:\n")
	fmt.Fprintf(&b, "  README: %s\n  bench:  %s\n", describe(readmeImg), describe(benchImg))
	fmt.Fprintf(&b, "  first difference at offset %d\n", firstDiff(readmeImg, benchImg))
	fmt.Fprintf(&b, "  bench packs: sidus-mkinitramfs %s (go build %q)\n", strings.Join(o.Argv(k), " "), BuildFlags)
	for _, name := range recipeBinaries[1:] {
		fmt.Fprintf(&b, "  %s: README %s; bench %s\n", name,
			describeFile(filepath.Join(p.Bin, name)), describeFile(filepath.Join(benchDir, name)))
	}
	t.Error(b.String())
}

func describe(data []byte) string {
	return fmt.Sprintf("%d bytes, sha256 %x", len(data), sha256.Sum256(data))
}

func describeFile(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	s := describe(data)
	if n, err := image.Unstripped(file); err != nil {
		s += ", " + err.Error()
	} else if n > 0 {
		s += fmt.Sprintf(", %d bytes of symbols and debug info", n)
	} else {
		s += ", stripped"
	}
	return s
}

// firstDiff returns the first offset where a and b differ (or the length
// of the shorter one).
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
