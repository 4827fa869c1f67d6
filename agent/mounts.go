package agent

import (
	"bufio"
	"strings"
)

// Mount is one line of /proc/self/mountinfo, the parts shutdown needs.
type Mount struct {
	Point  string
	FSType string
	Source string
}

// ParseMountinfo reads /proc/self/mountinfo text, in its order (a mount
// comes after the one it is mounted on).
func ParseMountinfo(text string) []Mount {
	var out []Mount
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// id parent major:minor root point options [optional...] - fstype source super
		sep := -1
		for i, w := range f {
			if w == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		out = append(out, Mount{Point: unescapeMount(f[4]), FSType: f[sep+1], Source: unescapeMount(f[sep+2])})
	}
	return out
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Under returns the mounts at prefix or below it, the last mounted first:
// the order to unmount them in.
func Under(ms []Mount, prefix string) []Mount {
	var out []Mount
	for i := len(ms) - 1; i >= 0; i-- {
		p := ms[i].Point
		if p == prefix || strings.HasPrefix(p, strings.TrimSuffix(prefix, "/")+"/") {
			out = append(out, ms[i])
		}
	}
	return out
}

// diskFS are the filesystems a writable layer can be on: remounted
// read-only first, so their journal is clean whatever happens next.
var diskFS = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true}
