// Package loop attaches an image file to a free loop device, as losetup
// --find --show does, without it: LOOP_CTL_GET_FREE on /dev/loop-control,
// then LOOP_CONFIGURE on /dev/loopN (see the kernel's
// include/uapi/linux/loop.h), for the init to mount or map the image.
package loop

import (
	"fmt"
	"strconv"
	"strings"
)

// Flags of struct loop_info64 (linux/loop.h), checked against x/sys in
// loop_linux.go.
const (
	flagReadOnly  = 1 // LO_FLAGS_READ_ONLY
	flagAutoclear = 4 // LO_FLAGS_AUTOCLEAR
)

// Device numbers of the nodes made when devtmpfs did not (major.h,
// miscdevice.h).
const (
	loopMajor       = 7
	controlMajor    = 10
	controlMinor    = 237 // LOOP_CTRL_MINOR
	fileNameSize    = 64  // LO_NAME_SIZE
	controlPath     = "/dev/loop-control"
	devPrefix       = "/dev/loop"
	sysBlockPattern = "/sys/block/loop%d/dev"
)

// DevName is the node of loop device n: "/dev/loopN".
func DevName(n int) string { return devPrefix + strconv.Itoa(n) }

// flags are the lo_flags of Attach: detached at the last close
// (autoclear), read-only if asked.
func flags(readOnly bool) uint32 {
	f := uint32(flagAutoclear)
	if readOnly {
		f |= flagReadOnly
	}
	return f
}

// fileName is lo_file_name, what LOOP_GET_STATUS (losetup -l) reports:
// path truncated to fit with its NUL.
func fileName(path string) [fileNameSize]byte {
	var b [fileNameSize]byte
	copy(b[:fileNameSize-1], path)
	return b
}

// parseDevT parses a sysfs dev attribute ("7:0\n").
func parseDevT(s string) (major, minor uint32, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, 0, fmt.Errorf("device number %q is not MAJOR:MINOR", s)
	}
	ma, err1 := strconv.ParseUint(a, 10, 32)
	mi, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("device number %q is not MAJOR:MINOR", s)
	}
	return uint32(ma), uint32(mi), nil
}
