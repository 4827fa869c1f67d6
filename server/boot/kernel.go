package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// KernelVersion reads the version string of an x86 bzImage (the
// kernel_version field of the boot protocol header), e.g.
// "6.1.0-28-amd64 (debian-kernel@lists.debian.org) #1 SMP ...", and
// returns its first word, the release that names lib/modules/RELEASE.
func KernelVersion(r io.ReaderAt) (string, error) {
	hdr := make([]byte, 0x210)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return "", fmt.Errorf("kernel header: %w", err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", errors.New("not an x86 bzImage (no HdrS boot header)")
	}
	if binary.LittleEndian.Uint16(hdr[0x206:]) < 0x200 {
		return "", errors.New("bzImage boot protocol too old to carry a version")
	}
	off := int64(binary.LittleEndian.Uint16(hdr[0x20e:])) + 0x200
	if off == 0x200 {
		return "", errors.New("bzImage has no version string")
	}
	buf := make([]byte, 256)
	n, err := r.ReadAt(buf, off)
	if n == 0 {
		return "", fmt.Errorf("bzImage version string: %w", err)
	}
	buf = buf[:n]
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	f := strings.Fields(string(buf))
	if len(f) == 0 {
		return "", errors.New("bzImage version string is empty")
	}
	return f[0], nil
}
