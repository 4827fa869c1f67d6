// Package fslabel identifies the filesystem on a block device from its
// superblock (ext2/3/4, XFS, btrfs): its type, label and UUID, so that the
// init can resolve root=LABEL=ISCSI without blkid. Readers take an
// io.ReaderAt, like u-root's tryEXT4, so tests feed them image files or
// byte buffers.
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
	extUUIDOff     = 104 // s_uuid[16]
	extLabelOff    = 120 // s_volume_name[16]
	extMagic       = 0xEF53
	extHasJournal  = 0x4  // COMPAT_HAS_JOURNAL
	ext3Incompat   = 0x16 // FILETYPE|RECOVER|META_BG: what ext3 understands
	ext3ROCompat   = 0x7  // SPARSE_SUPER|LARGE_FILE|BTREE_DIR

	xfsUUIDOff  = 32  // sb_uuid[16]
	xfsLabelOff = 108 // sb_fname[12]
	xfsLabelLen = 12

	btrfsSB       = 0x10000
	btrfsUUIDOff  = 0x20 // fsid[16]
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

// uuidString formats a 16-byte UUID as blkid does (lower-case
// 8-4-4-4-12 hex); an all-zero UUID, which blkid does not report, is "".
func uuidString(b []byte) string {
	if bytes.Count(b, []byte{0}) == len(b) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func tryExt(r io.ReaderAt) (Info, error) {
	sb, err := readAt(r, extSB, 256)
	if err != nil {
		return Info{}, err
	}
	if binary.LittleEndian.Uint16(sb[extMagicOff:]) != extMagic {
		return Info{}, ErrUnknown
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
	return Info{typ, cstring(sb[extLabelOff : extLabelOff+16]), uuidString(sb[extUUIDOff : extUUIDOff+16])}, nil
}

func tryXFS(r io.ReaderAt) (Info, error) {
	sb, err := readAt(r, 0, 512)
	if err != nil {
		return Info{}, err
	}
	if string(sb[:4]) != "XFSB" {
		return Info{}, ErrUnknown
	}
	return Info{"xfs", cstring(sb[xfsLabelOff : xfsLabelOff+xfsLabelLen]), uuidString(sb[xfsUUIDOff : xfsUUIDOff+16])}, nil
}

func tryBtrfs(r io.ReaderAt) (Info, error) {
	sb, err := readAt(r, btrfsSB, btrfsLabelOff+btrfsLabelLen)
	if err != nil {
		return Info{}, err
	}
	if !bytes.Equal(sb[btrfsMagicOff:btrfsMagicOff+8], btrfsMagic) {
		return Info{}, ErrUnknown
	}
	return Info{"btrfs", cstring(sb[btrfsLabelOff : btrfsLabelOff+btrfsLabelLen]), uuidString(sb[btrfsUUIDOff : btrfsUUIDOff+16])}, nil
}

// Info is what a superblock says about its filesystem.
type Info struct {
	Type  string // "ext2", "ext3", "ext4", "xfs" or "btrfs"
	Label string // as stored, case-sensitive; "" if none
	UUID  string // lower-case 8-4-4-4-12 hex as blkid prints it (UUID=...); "" if all zeros
}

// Probe identifies the filesystem on r. It returns an error wrapping
// ErrUnknown if none is recognised.
func Probe(r io.ReaderAt) (Info, error) {
	for _, try := range []func(io.ReaderAt) (Info, error){tryExt, tryXFS, tryBtrfs} {
		in, err := try(r)
		if err == nil {
			return in, nil
		}
		if !errors.Is(err, ErrUnknown) {
			return Info{}, fmt.Errorf("reading superblock: %w", err)
		}
	}
	return Info{}, ErrUnknown
}

// Read is Probe without the UUID: the filesystem type and label.
func Read(r io.ReaderAt) (fstype, label string, err error) {
	in, err := Probe(r)
	return in.Type, in.Label, err
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
