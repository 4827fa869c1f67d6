// Package format implements sidus.format=empty: on first boot, put an ext4
// filesystem with the wanted label on an empty block device (the node's
// iSCSI LUN in aufs=iscsi mode).
//
// Safety rule: a device is only ever formatted if IsEmpty reports it as
// all zeros at both ends, and Ext4 re-checks that on the very file
// descriptor it is about to write through (opened O_EXCL for block
// devices, so a mounted or otherwise claimed device is refused).
//
// Crash safety: the primary ext4 superblock (bytes 1024..2047, which
// carries the magic and label that fslabel and the kernel look for) is held
// back in memory and written only after everything else has been written
// and fsynced. A format interrupted by power loss therefore leaves a device
// that no longer reads as empty (so it is not formatted again
// automatically) but has no LABEL=... either, so it is not mounted half
// built; an operator has to wipe it.
//
// Entropy: /init runs before the kernel CRNG is initialised on CPUs without
// RDRAND, where getrandom(2) blocks. Nothing here reads crypto/rand: the
// filesystem UUID is supplied by the caller (see UUIDFrom), and the random
// values go-diskfs's ext4.Create draws on its own through
// github.com/google/uuid (the htree hash seed and a journal UUID that it
// then overwrites with the filesystem UUID) are redirected to a
// deterministic stream derived from that UUID for the duration of the call
// (see detRand).
package format

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	"github.com/google/uuid"
)

// Window is how much of each end of the device IsEmpty inspects.
const Window = 1 << 20

// MinSize is the smallest filesystem Ext4 will create. go-diskfs always
// allocates a journal of at least 4 MiB.
const MinSize = 16 << 20

// DefaultInodeRatio is bytes per inode, as mke2fs's default. go-diskfs
// writes every inode table in full (no uninit_bg / lazy itable init), so
// this also bounds what first boot writes: 1/64 of the device (about
// 1.6 GiB on a 100 GiB LUN) plus a journal of at most 128 MiB.
const DefaultInodeRatio = 16384

// ErrNotEmpty is returned (wrapped) when the device holds data.
var ErrNotEmpty = errors.New("device is not empty")

// IsEmpty reports whether the first Window bytes and the last Window bytes
// of a device of the given size (the whole device if it is smaller than
// 2*Window) read as zeros.
//
// That covers every signature that matters here: MBR and protective MBR
// (sector 0), primary GPT header and entries (LBA 1..33), backup GPT
// (last 33 sectors), the ext2/3/4 superblock (offset 1024), XFS (0),
// btrfs (64 KiB), LVM2/MD 1.1-1.2/LUKS headers and swap signatures (all
// within the first 1 MiB), and MD 0.90/1.0 superblocks (at the end). A
// device that fails this is never formatted. Short reads are errors.
func IsEmpty(r io.ReaderAt, size int64) (bool, error) {
	if size < 0 {
		return false, fmt.Errorf("negative size %d", size)
	}
	head := min(size, Window)
	if ok, err := zeroRange(r, 0, head); err != nil || !ok {
		return false, err
	}
	tailStart := max(head, size-Window)
	return zeroRange(r, tailStart, size-tailStart)
}

func zeroRange(r io.ReaderAt, off, n int64) (bool, error) {
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	for n > 0 {
		b := buf[:min(n, chunk)]
		got, err := r.ReadAt(b, off)
		if got < len(b) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return false, fmt.Errorf("reading at %d: %w", off, err)
		}
		for _, c := range b {
			if c != 0 {
				return false, nil
			}
		}
		off += int64(len(b))
		n -= int64(len(b))
	}
	return true, nil
}

// UUIDFrom derives a version-4-formatted (RFC 9562 variant) UUID from the
// SHA-256 of the given seeds, e.g. MAC address, target IQN, boot time. The
// seeds need not be secret, only distinct per LUN and format. Each seed is
// length-prefixed so ("ab","c") and ("a","bc") differ.
func UUIDFrom(seed ...[]byte) [16]byte {
	h := sha256.New()
	h.Write([]byte("sidus-go format uuid v1\x00"))
	var l [8]byte
	for _, s := range seed {
		binary.BigEndian.PutUint64(l[:], uint64(len(s)))
		h.Write(l[:])
		h.Write(s)
	}
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// detRand is an io.Reader producing SHA-256(domain || uuid || counter)
// blocks; it stands in for crypto/rand inside ext4.Create.
type detRand struct {
	uuid  [16]byte
	ctr   uint64
	buf   []byte
	reads int
}

func (d *detRand) Read(p []byte) (int, error) {
	d.reads++
	n := 0
	for n < len(p) {
		if len(d.buf) == 0 {
			h := sha256.New()
			h.Write([]byte("sidus-go format ext4 seed v1\x00"))
			h.Write(d.uuid[:])
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], d.ctr)
			h.Write(c[:])
			d.ctr++
			d.buf = h.Sum(nil)
		}
		k := copy(p[n:], d.buf)
		d.buf = d.buf[k:]
		n += k
	}
	return n, nil
}

// randMu serialises our swaps of google/uuid's global random source.
var randMu sync.Mutex

// Options tunes Ext4Options. Zero values mean defaults.
type Options struct {
	// Size of the filesystem in bytes from offset 0; 0 means the whole
	// device. Emptiness is always checked on the whole device.
	Size int64
	// InodeRatio is bytes per inode (default DefaultInodeRatio).
	InodeRatio int64
}

// Ext4 formats dev (a block device or image file) with an ext4 filesystem
// labelled label with filesystem UUID uuid. size is the filesystem size in
// bytes, 0 for the whole device. It refuses (error wrapping ErrNotEmpty)
// unless IsEmpty holds for the whole device, checked on the descriptor it
// then writes through.
//
// Features (from go-diskfs defaults): has_journal (internal, jbd2) ext_attr
// filetype extent 64bit flex_bg sparse_super large_file huge_file, 256-byte
// inodes, 4 KiB blocks from 512 MiB up and 1 KiB blocks below. No
// metadata_csum, dir_index or resize_inode; no reserved blocks; no
// lost+found (the kernel and e2fsck do not require one).
func Ext4(dev string, size int64, label string, uuid [16]byte) error {
	return Ext4Options(dev, label, uuid, Options{Size: size})
}

// Ext4Options is Ext4 with Options.
func Ext4Options(dev, label string, fsUUID [16]byte, o Options) error {
	if label == "" || len(label) > 16 || bytes.IndexByte([]byte(label), 0) >= 0 {
		return fmt.Errorf("format %s: label %q must be 1..16 bytes without NUL", dev, label)
	}
	for _, c := range []byte(label) {
		if c >= 0x80 {
			return fmt.Errorf("format %s: label %q must be ASCII", dev, label)
		}
	}
	if fsUUID == ([16]byte{}) {
		return fmt.Errorf("format %s: nil UUID", dev)
	}
	fi, err := os.Stat(dev)
	if err != nil {
		return fmt.Errorf("format: %w", err)
	}
	flag := os.O_RDWR
	if fi.Mode()&os.ModeDevice != 0 {
		// O_EXCL on a block device fails with EBUSY if it is mounted or
		// otherwise claimed, and keeps others from claiming it meanwhile.
		flag |= os.O_EXCL
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("format %s: not a block device or regular file", dev)
	}
	f, err := os.OpenFile(dev, flag, 0)
	if err != nil {
		return fmt.Errorf("format: %w", err)
	}
	defer f.Close()
	devSize, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("format %s: size: %w", dev, err)
	}
	size := o.Size
	switch {
	case size == 0:
		size = devSize
	case size < 0 || size > devSize:
		return fmt.Errorf("format %s: size %d outside device of %d bytes", dev, size, devSize)
	}
	size &^= 4095 // whole 4 KiB blocks
	if size < MinSize {
		return fmt.Errorf("format %s: %d bytes is below the %d-byte minimum", dev, size, MinSize)
	}
	empty, err := IsEmpty(f, devSize)
	if err != nil {
		return fmt.Errorf("format %s: checking emptiness: %w", dev, err)
	}
	if !empty {
		return fmt.Errorf("format %s: %w: non-zero data in its first or last %d bytes; refusing to format", dev, ErrNotEmpty, Window)
	}
	ratio := o.InodeRatio
	if ratio <= 0 {
		ratio = DefaultInodeRatio
	}
	if _, err := create(f, size, label, fsUUID, ratio); err != nil {
		return fmt.Errorf("format %s: %w", dev, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("format %s: sync: %w", dev, err)
	}
	return f.Close()
}

// create runs ext4.Create with google/uuid's random source replaced by
// detRand. It returns the detRand so tests can check it was used.
func create(f *os.File, size int64, label string, fsUUID [16]byte, ratio int64) (*detRand, error) {
	u := uuid.UUID(fsUUID)
	p := &ext4.Params{
		UUID:       &u,
		VolumeName: label,
		InodeRatio: ratio,
		// Explicit, so a go-diskfs default change cannot surprise us.
		// resize_inode is a TODO in go-diskfs; leave it out.
		Features: []ext4.FeatureOpt{
			ext4.WithFeatureHasJournal(true),
			ext4.WithFeatureExtents(true),
			ext4.WithFeatureFS64Bit(true),
			ext4.WithFeatureFlexBlockGroups(true),
			ext4.WithFeatureReservedGDTBlocksForExpansion(false),
			ext4.WithFeatureMetadataChecksums(false),
			ext4.WithFeatureSeparateJournalDevice(false),
		},
	}
	d := &detRand{uuid: fsUUID}
	sb := &sbLast{Storage: file.New(f, false), f: f}
	randMu.Lock()
	uuid.SetRand(d)
	_, err := ext4.Create(sb, size, 0, 512, p)
	uuid.SetRand(nil) // back to crypto/rand.Reader (not read here)
	randMu.Unlock()
	if err != nil {
		return d, err
	}
	if crashHook != nil {
		crashHook()
	}
	if !sb.dirty {
		return d, errors.New("ext4.Create wrote no primary superblock")
	}
	if err := f.Sync(); err != nil {
		return d, fmt.Errorf("sync: %w", err)
	}
	if _, err := f.WriteAt(sb.buf[:], sbOff); err != nil {
		return d, fmt.Errorf("writing primary superblock: %w", err)
	}
	return d, nil
}

// crashHook, if set (tests), runs after Create, before the superblock.
var crashHook func()

// Primary ext superblock location.
const (
	sbOff = 1024
	sbLen = 1024
)

// sbLast is a go-diskfs backend that keeps writes to the primary
// superblock in memory (reads see them) and passes everything else to the
// file. Sys reports unsuitable so Create does not fsync by itself; create
// syncs, then writes the superblock.
type sbLast struct {
	backend.Storage // Stat, Read, Seek, Close, Path
	f               *os.File
	buf             [sbLen]byte
	dirty           bool
}

func (s *sbLast) Sys() (*os.File, error) { return nil, backend.ErrNotSuitable }

func (s *sbLast) Writable() (backend.WritableFile, error) { return s, nil }

// overlap returns the part of [off, off+n) inside the superblock, as
// indexes into p and into buf.
func overlap(off int64, n int) (pLo, pHi, bLo int, ok bool) {
	lo, hi := max(off, sbOff), min(off+int64(n), sbOff+sbLen)
	if lo >= hi {
		return 0, 0, 0, false
	}
	return int(lo - off), int(hi - off), int(lo - sbOff), true
}

func (s *sbLast) WriteAt(p []byte, off int64) (int, error) {
	pLo, pHi, bLo, ok := overlap(off, len(p))
	if !ok {
		return s.f.WriteAt(p, off)
	}
	copy(s.buf[bLo:], p[pLo:pHi])
	s.dirty = true
	w := s.f
	if pLo > 0 {
		if _, err := w.WriteAt(p[:pLo], off); err != nil {
			return 0, err
		}
	}
	if pHi < len(p) {
		if _, err := w.WriteAt(p[pHi:], off+int64(pHi)); err != nil {
			return pHi, err
		}
	}
	return len(p), nil
}

func (s *sbLast) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.f.ReadAt(p, off)
	if pLo, pHi, bLo, ok := overlap(off, n); ok && s.dirty {
		copy(p[pLo:pHi], s.buf[bLo:])
	}
	return n, err
}
