package roots

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/sidus-go/sidus/qemu"
	"github.com/sidus-go/sidus/qemu/internal/osutil"
)

// DebianSuite is the release Debian bootstraps.
const DebianSuite = "bookworm"

// DebianPackages are installed by Debian on top of debootstrap's
// minbase: systemd as /sbin/init, udev, and the tools the report service
// and ifupdown need. systemd-networkd ships in the systemd package
// (disabled; a test enables it with systemd.wants=systemd-networkd.service).
var DebianPackages = []string{"systemd-sysv", "udev", "iproute2", "ifupdown"}

// DebianReportPrefix starts every console line of sidus-report.service.
const DebianReportPrefix = "SIDUS-DEB: "

// debRootVersion changes when the files Debian adds change; it is kept
// in the root's stamp file, and a root with an older stamp is fitted again
// (in place, without a new debootstrap).
const debRootVersion = "13"

var debRootMu sync.Mutex

// Debian returns a minimal Debian root (DebianSuite, debootstrap
// --variant=minbase with DebianPackages and extra) fitted to boot as a
// SIDUS shared tree under QEMU (see fitDebianRoot). It is built once and
// cached in qemu.CacheDir()/debroot-<hash of the package list>; an flock on
// qemu.CacheDir()/debroot.lock serialises builders across processes and the
// finished tree appears by an atomic rename. debootstrap takes a few
// minutes and needs the Debian mirror of this host's apt sources.
//
// The tree is shared by every caller: export it read-only and write into
// it only files with unique names, removed afterwards.
func Debian(extra ...string) (string, error) {
	pkgs := append(append([]string(nil), DebianPackages...), extra...)
	sort.Strings(pkgs)
	pkgs = dedup(pkgs)
	debRootMu.Lock()
	defer debRootMu.Unlock()

	cache := qemu.CacheDir()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	unlock, err := osutil.Flock(filepath.Join(cache, "debroot.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	dir := filepath.Join(cache, "debroot-"+debRootHash(DebianSuite, pkgs))
	stamp := filepath.Join(dir, ".sidus-debroot")
	if b, err := os.ReadFile(stamp); err == nil {
		if strings.TrimSpace(string(b)) == debRootVersion {
			return dir, nil
		}
		// Same packages, older fitting: fit again in place.
		if err := fitDebianRoot(dir); err != nil {
			return "", fmt.Errorf("debian root %s: %w", dir, err)
		}
		return dir, os.WriteFile(stamp, []byte(debRootVersion+"\n"), 0o644)
	}

	deboot, err := debootstrapPath()
	if err != nil {
		return "", err
	}
	mirror, err := HostMirror(DebianSuite)
	if err != nil {
		return "", err
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	argv := []string{deboot, "--variant=minbase", "--include=" + strings.Join(pkgs, ","), DebianSuite, tmp, mirror}
	cmd := exec.Command(argv[0], argv[1:]...)
	log := filepath.Join(cache, "debroot-debootstrap.log")
	f, err := os.Create(log)
	if err != nil {
		return "", err
	}
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	f.Close()
	if err != nil {
		// debootstrap's own log says why.
		detail := osutil.Tail(log, 15)
		if b := osutil.Tail(filepath.Join(tmp, "debootstrap", "debootstrap.log"), 15); b != "" {
			detail += "\n" + b
		}
		return "", fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, detail)
	}
	if err := fitDebianRoot(tmp); err != nil {
		return "", fmt.Errorf("debian root %s: %w", tmp, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".sidus-debroot"), []byte(debRootVersion+"\n"), 0o644); err != nil {
		return "", err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if v != "" && (i == 0 || v != s[i-1]) {
			out = append(out, v)
		}
	}
	return out
}

// debRootHash names a root by its suite and sorted package list.
func debRootHash(suite string, pkgs []string) string {
	h := sha256.Sum256([]byte(suite + "\n" + strings.Join(pkgs, "\n")))
	return hex.EncodeToString(h[:6])
}

// debootstrapPath finds debootstrap (in /usr/sbin, which a non-root PATH
// may lack).
func debootstrapPath() (string, error) {
	if p, err := exec.LookPath("debootstrap"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/debootstrap"); err == nil {
		return "/usr/sbin/debootstrap", nil
	}
	return "", errors.New("debootstrap not found: install the Debian package debootstrap (apt-get install debootstrap) to build the Debian test root")
}

// HostMirror returns the Debian archive URI that this machine's apt
// sources use for suite: the URIs of a deb822 stanza in
// /etc/apt/sources.list.d/*.sources, or a "deb" line of
// /etc/apt/sources.list and /etc/apt/sources.list.d/*.list.
func HostMirror(suite string) (string, error) {
	var files []string
	if m, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources"); len(m) > 0 {
		files = append(files, m...)
	}
	files = append(files, "/etc/apt/sources.list")
	if m, _ := filepath.Glob("/etc/apt/sources.list.d/*.list"); len(m) > 0 {
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var uri string
		if strings.HasSuffix(f, ".sources") {
			uri = MirrorFromDeb822(string(b), suite)
		} else {
			uri = MirrorFromList(string(b), suite)
		}
		if uri != "" {
			return uri, nil
		}
	}
	return "", fmt.Errorf("no apt source for suite %s in /etc/apt/sources.list{,.d/*.sources,.d/*.list}: cannot choose a debootstrap mirror", suite)
}

// MirrorFromDeb822 returns the first URI of the first enabled deb stanza
// whose Suites include suite exactly, or "".
func MirrorFromDeb822(text, suite string) string {
	for _, stanza := range deb822Stanzas(text) {
		if types, ok := stanza["types"]; ok && !hasField(types, "deb") {
			continue
		}
		if e, ok := stanza["enabled"]; ok && strings.EqualFold(strings.TrimSpace(e), "no") {
			continue
		}
		if !hasField(stanza["suites"], suite) {
			continue
		}
		if u := strings.Fields(stanza["uris"]); len(u) > 0 {
			return u[0]
		}
	}
	return ""
}

func hasField(list, want string) bool {
	for _, f := range strings.Fields(list) {
		if f == want {
			return true
		}
	}
	return false
}

// deb822Stanzas parses deb822 paragraphs into lower-cased key → value
// (continuation lines appended); comments are skipped.
func deb822Stanzas(text string) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	last := ""
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur, last = map[string]string{}, ""
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				cur[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			cur[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return out
}

// MirrorFromList returns the URI of the first "deb URI SUITE ..." line of
// a one-line-style sources.list, or "".
func MirrorFromList(text, suite string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // [arch=amd64 signed-by=...]
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			f = f[1:]
		}
		if len(f) >= 2 && f[1] == suite {
			return f[0]
		}
	}
	return ""
}

// DebianReportScript is /usr/local/sbin/sidus-report in the Debian root
// (the file debian/usr/local/sbin/sidus-report), run by
// sidus-report.service after multi-user.target. It prints "SIDUS-DEB: ..."
// lines on /dev/console:
//
//	SIDUS-DEB: started uptime=<s>
//	SIDUS-DEB: mark /sidus-mark-<hostname> written      (sidus.test.mark)
//	SIDUS-DEB: running <systemctl is-system-running --wait>
//	SIDUS-DEB: multi-user <s>        uptime at which multi-user.target was reached
//	SIDUS-DEB: analyze <systemd-analyze time>
//	SIDUS-DEB: failed <unit>... | none
//	SIDUS-DEB: why <unit> <journal line>              (last lines of each failed unit)
//	SIDUS-DEB: warn <journal line>                    the boot's first 30 warnings
//	SIDUS-DEB: rootread nfs=<bytes> rbd=<bytes>      read of the shared root so far (NFS RPC bytes, RBD bytes read)
//	SIDUS-DEB: hostname <h>
//	SIDUS-DEB: machine-id <id>
//	SIDUS-DEB: owner <path>=<uid>:<gid>:<mode>...     as the node sees them
//	SIDUS-DEB: resolv <line>                          each non-comment line
//	SIDUS-DEB: fstab <line>                           each non-comment line
//	SIDUS-DEB: mount <mountpoint> <fstype> <options>  /, /ro, /rw
//	SIDUS-DEB: addr <dev> <cidr> <valid_lft>          each IPv4 address but lo's
//	SIDUS-DEB: unit <unit> <is-active>                networkd, networking, getty
//	SIDUS-DEB: netif <dev> ADMIN_STATE=... OPER_STATE=... NETWORK_FILE=...
//	                                                  networkd's state, if it runs
//	SIDUS-DEB: networkd <journal line>                its last 10 log lines
//	SIDUS-DEB: marks <files /sidus-mark-*>|none
//	SIDUS-DEB: uptime <s>
//
// Then, with sidus.test.watch=N, every sidus.test.every=S seconds (30)
// until N seconds have passed:
//
//	SIDUS-DEB: watch uptime=<s> addr <dev> <cidr> <valid_lft>
//	SIDUS-DEB: watch uptime=<s> ro <sidus.test.file> <first line>|missing
//	SIDUS-DEB: watch uptime=<s> marks <files>|none
//	SIDUS-DEB: watch uptime=<s> rootread nfs=<bytes> rbd=<bytes>
//
// and finally "SIDUS-DEB: done uptime=<s>"; with sidus.test=poweroff it
// then prints "SIDUS-DEB: poweroff uptime=<s>" and runs systemctl poweroff.
var DebianReportScript = mustRead("debian/usr/local/sbin/sidus-report")

// debianModes are the modes of the files of debian/ that are not 0644.
var debianModes = map[string]os.FileMode{
	"usr/local/sbin/sidus-report": 0o755,
	"etc/machine-id":              0o444,
}

// fitDebianRoot makes a debootstrapped tree a SIDUS shared root for the
// tests. It installs the files of debian/:
//
//   - etc/hostname and etc/machine-id, empty: each node gets DHCP's name,
//     and systemd makes a machine id per boot (and per node); etc/hosts
//     with localhost only;
//   - etc/fstab, with a / and a swap line that sidus-init must comment out
//     (sidus.fstab): left in, systemd-remount-fs would remount the union and
//     systemd would wait 90 s for the swap device, then fail;
//   - etc/systemd/network/90-dhcp.network, inert until systemd-networkd
//     runs; then it would take every Ethernet NIC, the boot NIC included,
//     unless sidus-init's /run/systemd/network/10-sidus-DEV.network
//     (Unmanaged=yes) sorts first;
//   - sidus-report (DebianReportScript) and sidus-report.service, which
//     runs it once the boot is through;
//   - root autologin on the serial console, and a journal in RAM (a
//     diskless node).
//
// Then it removes the build host's resolv.conf, blanks root's password,
// enables sidus-report.service, masks units that cannot work in a diskless
// VM and drops apt caches and docs.
func fitDebianRoot(dir string) error {
	if err := install(dir, "debian", debianModes); err != nil {
		return err
	}
	// The build host's resolver must not leak into the tree; sidus-init
	// writes the node's from DHCP.
	os.Remove(filepath.Join(dir, "etc/resolv.conf"))
	os.Remove(filepath.Join(dir, "var/lib/dbus/machine-id"))
	// Root without a password (console autologin; no network login).
	if err := blankRootPassword(filepath.Join(dir, "etc/shadow")); err != nil {
		return err
	}
	links := map[string]string{
		"etc/systemd/system/multi-user.target.wants/sidus-report.service": "/etc/systemd/system/sidus-report.service",
		// First boot on an empty machine-id would prompt on the console.
		"etc/systemd/system/systemd-firstboot.service": "/dev/null",
	}
	for l, target := range links {
		p := filepath.Join(dir, l)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			return err
		}
	}
	// Keep the tree small: no package caches, lists, docs or man pages.
	for _, g := range []string{"var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*",
		"usr/share/doc/*", "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*", "var/log/*.log"} {
		m, _ := filepath.Glob(filepath.Join(dir, g))
		for _, p := range m {
			os.RemoveAll(p)
		}
	}
	return nil
}

// blankRootPassword empties root's password field in a shadow file.
func blankRootPassword(shadow string) error {
	b, err := os.ReadFile(shadow)
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if f := strings.Split(l, ":"); len(f) > 2 && f[0] == "root" {
			f[1] = ""
			lines[i] = strings.Join(f, ":")
		}
	}
	return os.WriteFile(shadow, []byte(strings.Join(lines, "\n")), 0o640)
}
