// Package fslabel reads filesystem labels from superblocks (ext2/3/4, XFS,
// btrfs), so that the init can resolve root=LABEL=ISCSI without blkid.
// Readers take an io.ReaderAt, like u-root's tryEXT4, so tests feed them
// image files or byte buffers.
package fslabel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// ErrUnknown means no supported filesystem superblock was found.
var ErrUnknown = errors.New("no ext2/3/4, xfs or btrfs superblock")

// Superblock offsets (see linux/fs/ext4/ext4.h, xfs_format.h, btrfs ctree.h).
const (
	extSB          = 1024
	extMagicOff    = 56  // s_magic, le16 0xEF53
	extCompatOff   = 92  // s_feature_compat
	extIncompatOff = 96  // s_feature_incompat
	extROCompatOff = 100 // s_feature_ro_compat
	extLabelOff    = 120 // s_volume_name[16]
	extMagic       = 0xEF53
	extHasJournal  = 0x4  // COMPAT_HAS_JOURNAL
	ext3Incompat   = 0x16 // FILETYPE|RECOVER|META_BG: what ext3 understands
	ext3ROCompat   = 0x7  // SPARSE_SUPER|LARGE_FILE|BTREE_DIR

	xfsLabelOff = 108 // sb_fname[12]
	xfsLabelLen = 12

	btrfsSB       = 0x10000
	btrfsMagicOff = 0x40
	btrfsLabelOff = 0x12b // label[256]
	btrfsLabelLen = 256
)

var btrfsMagic = []byte("_BHRfS_M")

func readAt(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrUnknown // too small for this filesystem
		}
		return nil, err
	}
	return b, nil
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func tryExt(r io.ReaderAt) (string, string, error) {
	sb, err := readAt(r, extSB, 256)
	if err != nil {
		return "", "", err
	}
	if binary.LittleEndian.Uint16(sb[extMagicOff:]) != extMagic {
		return "", "", ErrUnknown
	}
	compat := binary.LittleEndian.Uint32(sb[extCompatOff:])
	incompat := binary.LittleEndian.Uint32(sb[extIncompatOff:])
	rocompat := binary.LittleEndian.Uint32(sb[extROCompatOff:])
	typ := "ext2"
	switch {
	case incompat&^ext3Incompat != 0 || rocompat&^ext3ROCompat != 0:
		typ = "ext4"
	case compat&extHasJournal != 0:
		typ = "ext3"
	}
	return typ, cstring(sb[extLabelOff : extLabelOff+16]), nil
}

func tryXFS(r io.ReaderAt) (string, string, error) {
	sb, err := readAt(r, 0, 512)
	if err != nil {
		return "", "", err
	}
	if string(sb[:4]) != "XFSB" {
		return "", "", ErrUnknown
	}
	return "xfs", cstring(sb[xfsLabelOff : xfsLabelOff+xfsLabelLen]), nil
}

func tryBtrfs(r io.ReaderAt) (string, string, error) {
	sb, err := readAt(r, btrfsSB, btrfsLabelOff+btrfsLabelLen)
	if err != nil {
		return "", "", err
	}
	if !bytes.Equal(sb[btrfsMagicOff:btrfsMagicOff+8], btrfsMagic) {
		return "", "", ErrUnknown
	}
	return "btrfs", cstring(sb[btrfsLabelOff : btrfsLabelOff+btrfsLabelLen]), nil
}

// Read identifies the filesystem on r and returns its type ("ext2",
// "ext3", "ext4", "xfs", "btrfs") and label. It returns an error wrapping
// ErrUnknown if none is recognised.
func Read(r io.ReaderAt) (fstype, label string, err error) {
	for _, try := range []func(io.ReaderAt) (string, string, error){tryExt, tryXFS, tryBtrfs} {
		t, l, err := try(r)
		if err == nil {
			return t, l, nil
		}
		if !errors.Is(err, ErrUnknown) {
			return "", "", fmt.Errorf("reading superblock: %w", err)
		}
	}
	return "", "", ErrUnknown
}

// OpenFile opens a device or image read-only for Find.
func OpenFile(path string) (io.ReaderAt, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, f, nil
}

// Find returns the first of devs whose filesystem label is exactly label.
// found maps every device with a recognised filesystem to its label. If none matches, the error lists what was found.
// open is the seam for opening devices (OpenFile in production).
func Find(devs []string, label string, open func(string) (io.ReaderAt, io.Closer, error)) (dev string, found map[string]string, err error) {
	found = map[string]string{}
	types := map[string]string{}
	var problems []string
	for _, d := range devs {
		r, c, err := open(d)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", d, err))
			continue
		}
		t, l, err := Read(r)
		if c != nil {
			c.Close()
		}
		if err != nil {
			if !errors.Is(err, ErrUnknown) {
				problems = append(problems, fmt.Sprintf("%s: %v", d, err))
			}
			continue
		}
		found[d], types[d] = l, t
		if l == label && dev == "" {
			dev = d
		}
	}
	if dev != "" {
		return dev, found, nil
	}
	var seen []string
	for d, l := range found {
		seen = append(seen, fmt.Sprintf("%s (%s, label %q)", d, types[d], l))
	}
	sort.Strings(seen)
	msg := "none"
	if len(seen) > 0 {
		msg = strings.Join(seen, ", ")
	}
	err = fmt.Errorf("no filesystem labelled %q on %s; found: %s", label, strings.Join(devs, " "), msg)
	if len(problems) > 0 {
		err = fmt.Errorf("%w; errors: %s", err, strings.Join(problems, "; "))
	}
	return "", found, err
}
