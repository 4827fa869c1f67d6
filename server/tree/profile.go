package tree

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Profile says what `sidus tree create` debootstraps and how it prepares
// the tree (a TOML file; see profiles/bookworm.toml).
type Profile struct {
	Suite      string   `toml:"suite"`
	Arch       string   `toml:"arch"`
	Variant    string   `toml:"variant"` // debootstrap --variant ("" = Debian's default)
	Components []string `toml:"components"`
	Mirror     string   `toml:"mirror"`
	// Kernel is the kernel package, added to Include.
	Kernel  string   `toml:"kernel"`
	Include []string `toml:"include"`
	Exclude []string `toml:"exclude"`

	Locale   string `toml:"locale"`   // e.g. en_US.UTF-8
	Timezone string `toml:"timezone"` // e.g. Europe/Paris
	Keyboard string `toml:"keyboard"` // XKBLAYOUT, e.g. fr
	// Limits are lines of /etc/security/limits.d/90-sidus-hpc.conf;
	// nil means DefaultLimits.
	Limits []string `toml:"limits"`
}

// DefaultLimits are the HPC limits the seed asks for: locked memory for
// RDMA/MPI, many open files, an unlimited stack.
var DefaultLimits = []string{
	"*    soft memlock unlimited",
	"*    hard memlock unlimited",
	"*    soft nofile  65536",
	"*    hard nofile  65536",
	"*    soft stack   unlimited",
	"*    hard stack   unlimited",
}

//go:embed profiles/*.toml
var builtin embed.FS

// BuiltinProfiles are the names accepted by LoadProfile besides a file.
func BuiltinProfiles() []string {
	ents, _ := builtin.ReadDir("profiles")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".toml"))
	}
	return out
}

// DefaultProfile is used when --profile is not given.
const DefaultProfile = "bookworm"

// LoadProfile reads a profile file, or a built-in profile by name
// (bookworm, sidus-2013).
func LoadProfile(nameOrFile string) (*Profile, error) {
	var b []byte
	var err error
	if slices.Contains(BuiltinProfiles(), nameOrFile) && !strings.Contains(nameOrFile, "/") {
		b, err = builtin.ReadFile("profiles/" + nameOrFile + ".toml")
	} else {
		b, err = os.ReadFile(nameOrFile)
	}
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w (built-in profiles: %s)", nameOrFile, err, strings.Join(BuiltinProfiles(), ", "))
	}
	p, err := ParseProfile(b)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", nameOrFile, err)
	}
	return p, nil
}

// BuiltinProfile returns a built-in profile's text.
func BuiltinProfile(name string) ([]byte, error) {
	return builtin.ReadFile("profiles/" + name + ".toml")
}

var (
	pkgRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9+.\-]+$`)
	suiteRE = regexp.MustCompile(`^[a-z][a-z0-9\-]*$`)
	wordRE  = regexp.MustCompile(`^[A-Za-z0-9_.@+\-/]+$`)
)

// ParseProfile decodes and checks a profile.
func ParseProfile(b []byte) (*Profile, error) {
	var p Profile
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&p)
	if err != nil {
		return nil, err
	}
	if u := md.Undecoded(); len(u) > 0 {
		return nil, fmt.Errorf("unknown key %s", u[0])
	}
	if p.Arch == "" {
		p.Arch = "amd64"
	}
	if len(p.Components) == 0 {
		p.Components = []string{"main"}
	}
	if p.Mirror == "" {
		p.Mirror = "http://deb.debian.org/debian"
	}
	if p.Locale == "" {
		p.Locale = "en_US.UTF-8"
	}
	if p.Timezone == "" {
		p.Timezone = "Etc/UTC"
	}
	if p.Keyboard == "" {
		p.Keyboard = "us"
	}
	if p.Limits == nil {
		p.Limits = DefaultLimits
	}
	switch {
	case !suiteRE.MatchString(p.Suite):
		return nil, fmt.Errorf("suite %q: want a Debian suite name such as bookworm", p.Suite)
	case !suiteRE.MatchString(p.Arch):
		return nil, fmt.Errorf("arch %q: want a Debian architecture such as amd64", p.Arch)
	case p.Variant != "" && !slices.Contains([]string{"minbase", "buildd", "fakechroot"}, p.Variant):
		return nil, fmt.Errorf("variant %q: want minbase, buildd, fakechroot or nothing", p.Variant)
	case p.Kernel == "":
		return nil, errors.New("kernel: missing; want the kernel package, e.g. linux-image-amd64 (nodes boot the tree's kernel)")
	case !strings.Contains(p.Mirror, "://") || strings.ContainsAny(p.Mirror, " \t"):
		return nil, fmt.Errorf("mirror %q: want a URL such as http://deb.debian.org/debian", p.Mirror)
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"components", p.Components}, {"include", append([]string{p.Kernel}, p.Include...)}, {"exclude", p.Exclude}} {
		for _, n := range l.list {
			if !pkgRE.MatchString(n) {
				return nil, fmt.Errorf("%s: %q is not a Debian package or component name", l.key, n)
			}
		}
	}
	for _, v := range []struct{ key, val string }{{"locale", p.Locale}, {"timezone", p.Timezone}, {"keyboard", p.Keyboard}} {
		if !wordRE.MatchString(v.val) {
			return nil, fmt.Errorf("%s %q: want one word such as en_US.UTF-8, Europe/Paris, fr", v.key, v.val)
		}
	}
	if strings.Contains(p.Timezone, "..") {
		return nil, fmt.Errorf("timezone %q: want a zone name such as Europe/Paris", p.Timezone)
	}
	return &p, nil
}

// Packages are the --include list: the kernel, then Include, without
// duplicates.
func (p *Profile) Packages() []string {
	var out []string
	for _, n := range append([]string{p.Kernel}, p.Include...) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Conflicts are packages both included and excluded (debootstrap then
// installs them: the seed's own lists have nano in both).
func (p *Profile) Conflicts() []string {
	var out []string
	for _, n := range p.Packages() {
		if slices.Contains(p.Exclude, n) {
			out = append(out, n)
		}
	}
	return out
}

// DebootstrapArgs is the debootstrap command line for the tree at dir.
func (p *Profile) DebootstrapArgs(dir string) []string {
	a := []string{"debootstrap", "--arch=" + p.Arch}
	if p.Variant != "" {
		a = append(a, "--variant="+p.Variant)
	}
	a = append(a, "--components="+strings.Join(p.Components, ","), "--include="+strings.Join(p.Packages(), ","))
	if len(p.Exclude) > 0 {
		a = append(a, "--exclude="+strings.Join(p.Exclude, ","))
	}
	return append(a, p.Suite, dir, p.Mirror)
}
