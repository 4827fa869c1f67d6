package loop

import (
	"strings"
	"testing"
)

func TestDevName(t *testing.T) {
	for n, want := range map[int]string{0: "/dev/loop0", 7: "/dev/loop7", 255: "/dev/loop255"} {
		if got := DevName(n); got != want {
			t.Errorf("DevName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFlags(t *testing.T) {
	if got := flags(false); got != 4 {
		t.Errorf("flags(false) = %#x, want LO_FLAGS_AUTOCLEAR 0x4", got)
	}
	if got := flags(true); got != 5 {
		t.Errorf("flags(true) = %#x, want LO_FLAGS_AUTOCLEAR|LO_FLAGS_READ_ONLY 0x5", got)
	}
}

func TestFileName(t *testing.T) {
	b := fileName("/run/sidus/image.squashfs")
	if got := string(b[:strings.IndexByte(string(b[:]), 0)]); got != "/run/sidus/image.squashfs" {
		t.Errorf("fileName = %q", got)
	}
	long := strings.Repeat("x", 100)
	b = fileName(long)
	if b[fileNameSize-1] != 0 || string(b[:fileNameSize-1]) != long[:fileNameSize-1] {
		t.Errorf("fileName of 100 bytes = %q, want 63 bytes and a NUL", b)
	}
}

func TestParseDevT(t *testing.T) {
	for _, tt := range []struct {
		in           string
		major, minor uint32
		bad          bool
	}{
		{"7:0\n", 7, 0, false},
		{"259:12", 259, 12, false},
		{"7", 0, 0, true},
		{"a:b", 0, 0, true},
		{"", 0, 0, true},
	} {
		ma, mi, err := parseDevT(tt.in)
		if (err != nil) != tt.bad || ma != tt.major || mi != tt.minor {
			t.Errorf("parseDevT(%q) = %d, %d, %v", tt.in, ma, mi, err)
		}
	}
}
