// Package verity opens a dm-verity image without veritysetup on the node:
// it reads the layout that `veritysetup format --hash-offset=OFF IMG IMG`
// produces (a squashfs, erofs or ext4 image padded to 4096 bytes, then at
// OFF cryptsetup's verity superblock, then the hash tree), builds the
// verity table (the kernel's
// Documentation/admin-guide/device-mapper/verity.rst) and creates the
// read-only device-mapper device with raw ioctls (linux/dm-ioctl.h).
//
// The byte-level work (superblocks, the table, the ioctl buffers) is
// here, pure; verity_linux.go only issues the ioctls.
package verity

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrUnknownFS means no squashfs, erofs or ext4 superblock was found at
// the start of the image.
var ErrUnknownFS = errors.New("no squashfs, erofs or ext4 superblock")

// ErrNoSuperblock means no valid verity superblock was found where the
// filesystem's size says it should be.
var ErrNoSuperblock = errors.New("no dm-verity superblock")

// Filesystem superblocks (squashfs_fs.h, erofs_fs.h, ext4.h).
const (
	sqMagic      = "hsqs"
	sqMajorOff   = 28 // s_major, le16: 4
	sqBytesOff   = 40 // bytes_used, le64
	sqSBSize     = 96
	erofsSB      = 1024
	erofsMagic   = 0xE0F5E1E2
	erofsBitsOff = 12 // blkszbits, u8
	erofsHiOff   = 14 // rb.blocks_hi, le16, with INCOMPAT_48BIT
	erofsBlkOff  = 36 // blocks_lo, le32
	erofsIncOff  = 80 // feature_incompat, le32
	erofs48Bit   = 0x80
	extSB        = 1024
	extMagicOff  = 56 // s_magic, le16
	extMagic     = 0xEF53
	extBlocksLo  = 4     // s_blocks_count_lo, le32
	extLogOff    = 24    // s_log_block_size, le32: block size 1024<<log
	extIncOff    = 96    // s_feature_incompat, le32
	ext64Bit     = 0x80  // INCOMPAT_64BIT
	extBlocksHi  = 0x150 // s_blocks_count_hi, le32, with INCOMPAT_64BIT
	probeSize    = extSB + extBlocksHi + 4
)

// Align is the alignment of the hash area (HashOffset).
const Align = 4096

// DataSize returns the type ("squashfs", "erofs" or "ext4": ext2 and
// ext3 say "ext4" too) and the size in bytes of the filesystem at the
// start of r, from its own superblock. It returns an error wrapping
// ErrUnknownFS if none is recognised.
func DataSize(r io.ReaderAt) (fstype string, size int64, err error) {
	b := make([]byte, probeSize)
	n, err := r.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", 0, fmt.Errorf("reading the filesystem superblock: %w", err)
	}
	b = b[:n]
	le := binary.LittleEndian
	switch {
	case len(b) >= sqSBSize && string(b[:4]) == sqMagic:
		if v := le.Uint16(b[sqMajorOff:]); v != 4 {
			return "", 0, fmt.Errorf("squashfs version %d: only 4 is supported: rebuild the image with mksquashfs", v)
		}
		used := le.Uint64(b[sqBytesOff:])
		if used < sqSBSize || used > 1<<62 {
			return "", 0, fmt.Errorf("squashfs bytes_used %d is not a size: is the image damaged?", used)
		}
		return "squashfs", int64(used), nil
	case len(b) >= erofsSB+erofsIncOff+4 && le.Uint32(b[erofsSB:]) == erofsMagic:
		sb := b[erofsSB:]
		bits := sb[erofsBitsOff]
		if bits < 9 || bits > 16 {
			return "", 0, fmt.Errorf("erofs block size 2^%d is not 512..65536: is the image damaged?", bits)
		}
		blocks := uint64(le.Uint32(sb[erofsBlkOff:]))
		if le.Uint32(sb[erofsIncOff:])&erofs48Bit != 0 {
			blocks |= uint64(le.Uint16(sb[erofsHiOff:])) << 32
		}
		if blocks == 0 {
			return "", 0, errors.New("erofs superblock says 0 blocks: is the image damaged?")
		}
		return "erofs", int64(blocks << bits), nil
	case len(b) >= probeSize && le.Uint16(b[extSB+extMagicOff:]) == extMagic:
		sb := b[extSB:]
		log := le.Uint32(sb[extLogOff:])
		if log > 6 {
			return "", 0, fmt.Errorf("ext4 block size 1024<<%d is over 64 KiB: is the image damaged?", log)
		}
		blocks := uint64(le.Uint32(sb[extBlocksLo:]))
		if le.Uint32(sb[extIncOff:])&ext64Bit != 0 {
			blocks |= uint64(le.Uint32(sb[extBlocksHi:])) << 32
		}
		if blocks == 0 || blocks > 1<<48 {
			return "", 0, fmt.Errorf("ext4 superblock says %d blocks: is the image damaged?", blocks)
		}
		return "ext4", int64(blocks) << (10 + log), nil
	}
	return "", 0, ErrUnknownFS
}

// HashOffset is where `veritysetup format --hash-offset=` puts the verity
// superblock after a filesystem of size bytes: size rounded up to Align.
func HashOffset(size int64) int64 { return (size + Align - 1) &^ (Align - 1) }

// Params are the verity superblock's fields (cryptsetup's struct
// verity_sb).
type Params struct {
	Version  uint32 // superblock version: 1
	HashType uint32 // 0: Chrome OS, 1: normal (the table's <version>)
	// Algorithm is the hash, e.g. "sha256".
	Algorithm string
	// DataBlockSize and HashBlockSize are in bytes.
	DataBlockSize, HashBlockSize uint32
	// DataBlocks is the number of data blocks the hash tree covers.
	DataBlocks uint64
	// Salt is the salt, nil if none.
	Salt []byte
}

// struct verity_sb (cryptsetup lib/verity/verity.c), little endian,
// packed, 512 bytes.
const (
	sbSize        = 512
	sbSignature   = "verity\x00\x00"
	sbVersionOff  = 8   // u32
	sbHashTypeOff = 12  // u32
	sbUUIDOff     = 16  // [16]
	sbAlgOff      = 32  // [32], NUL-padded
	sbAlgLen      = 32  //
	sbDBSOff      = 64  // data_block_size u32
	sbHBSOff      = 68  // hash_block_size u32
	sbBlocksOff   = 72  // data_blocks u64
	sbSaltSizeOff = 80  // salt_size u16, then _pad1[6]
	sbSaltOff     = 88  // salt[256], then _pad2[168]
	sbSaltMax     = 256 //
)

// blockSizeOK is cryptsetup's VERITY_BLOCK_SIZE_OK: a power of two from
// 512 bytes to 512 KiB.
func blockSizeOK(x uint32) bool { return x >= 512 && x <= 512*1024 && x&(x-1) == 0 }

// ReadSuperblock reads the verity superblock at byte off of r (the
// HashOffset of the filesystem's DataSize). Its errors wrap
// ErrNoSuperblock when there is none there, and say which field is wrong
// when there is a bad one.
func ReadSuperblock(r io.ReaderAt, off int64) (Params, error) {
	b := make([]byte, sbSize)
	if _, err := r.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Params{}, fmt.Errorf("%w at byte %d (the image ends there): was the image published with verity?", ErrNoSuperblock, off)
		}
		return Params{}, fmt.Errorf("reading the verity superblock at byte %d: %w", off, err)
	}
	if string(b[:8]) != sbSignature {
		return Params{}, fmt.Errorf("%w at byte %d: was the image published with verity?", ErrNoSuperblock, off)
	}
	le := binary.LittleEndian
	p := Params{
		Version:       le.Uint32(b[sbVersionOff:]),
		HashType:      le.Uint32(b[sbHashTypeOff:]),
		DataBlockSize: le.Uint32(b[sbDBSOff:]),
		HashBlockSize: le.Uint32(b[sbHBSOff:]),
		DataBlocks:    le.Uint64(b[sbBlocksOff:]),
	}
	alg := b[sbAlgOff : sbAlgOff+sbAlgLen]
	end := strings.IndexByte(string(alg), 0)
	if end < 0 {
		end = len(alg)
	}
	p.Algorithm = strings.ToLower(string(alg[:end]))
	saltSize := le.Uint16(b[sbSaltSizeOff:])
	where := fmt.Sprintf("verity superblock at byte %d", off)
	switch {
	case p.Version != 1:
		return Params{}, fmt.Errorf("%s: version %d, only 1 is supported: republish with veritysetup format", where, p.Version)
	case p.HashType > 1:
		return Params{}, fmt.Errorf("%s: hash type %d is neither 0 (Chrome OS) nor 1", where, p.HashType)
	case !blockSizeOK(p.DataBlockSize) || !blockSizeOK(p.HashBlockSize):
		return Params{}, fmt.Errorf("%s: block sizes %d (data), %d (hash) are not powers of two from 512 to 512 KiB", where, p.DataBlockSize, p.HashBlockSize)
	case p.DataBlocks == 0 || p.DataBlocks > (1<<63-1)/uint64(p.DataBlockSize):
		return Params{}, fmt.Errorf("%s: %d data blocks", where, p.DataBlocks)
	case saltSize > sbSaltMax:
		return Params{}, fmt.Errorf("%s: salt of %d bytes, at most %d", where, saltSize, sbSaltMax)
	case p.Algorithm == "" || strings.ContainsAny(p.Algorithm, " \t\n"):
		return Params{}, fmt.Errorf("%s: hash algorithm %q", where, p.Algorithm)
	}
	if saltSize > 0 {
		p.Salt = append([]byte(nil), b[sbSaltOff:sbSaltOff+int(saltSize)]...)
	}
	return p, nil
}

// digestSize is the digest length in bytes of the algorithms we know; 0
// for others.
func digestSize(alg string) int {
	switch alg {
	case "sha1":
		return 20
	case "sha256":
		return 32
	case "sha512":
		return 64
	}
	return 0
}

// CheckRootHash checks that h is a hex root hash of the length p's
// algorithm gives (sha1: 20 bytes, sha256: 32, sha512: 64).
func CheckRootHash(h string, p Params) error {
	n := digestSize(p.Algorithm)
	if n == 0 {
		return fmt.Errorf("verity hash algorithm %q is not sha1, sha256 or sha512: republish with veritysetup format --hash=sha256", p.Algorithm)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return fmt.Errorf("verity root hash %q is not hex: check sidus.verity=", h)
	}
	if len(b) != n {
		return fmt.Errorf("verity root hash has %d hex digits, %s needs %d: check sidus.verity=", len(h), p.Algorithm, 2*n)
	}
	return nil
}

// checkLayout checks that the hash tree covers the whole filesystem of
// size bytes and that the data it covers stops before the superblock at
// hashOffset.
func checkLayout(size, hashOffset int64, p Params) error {
	covered := int64(p.DataBlocks) * int64(p.DataBlockSize)
	if covered < size {
		return fmt.Errorf("the verity hash tree covers %d bytes but the filesystem is %d: republish the image", covered, size)
	}
	if covered > hashOffset {
		return fmt.Errorf("the verity data area (%d bytes) overlaps the hash area at byte %d: republish the image", covered, hashOffset)
	}
	return nil
}

// hashStart is the table's <hash_start_block>: the root block of the
// tree, one hash block (the superblock, padded) after hashOffset, as
// cryptsetup's VERITY_hash_offset_block computes it.
func hashStart(hashOffset int64, hashBlockSize uint32) uint64 {
	hbs := uint64(hashBlockSize)
	return (uint64(hashOffset) + sbSize + hbs - 1) / hbs
}

// target is one line of a device-mapper table.
type target struct {
	Start, Length uint64 // in 512-byte sectors
	Type, Params  string
}

func (t target) String() string {
	return fmt.Sprintf("%d %d %s %s", t.Start, t.Length, t.Type, t.Params)
}

func verityTarget(dev string, hashOffset int64, p Params, rootHash string) target {
	salt := "-"
	if len(p.Salt) > 0 {
		salt = hex.EncodeToString(p.Salt)
	}
	return target{
		Start:  0,
		Length: p.DataBlocks * uint64(p.DataBlockSize) / 512,
		Type:   "verity",
		Params: fmt.Sprintf("%d %s %s %d %d %d %d %s %s %s", p.HashType, dev, dev,
			p.DataBlockSize, p.HashBlockSize, p.DataBlocks, hashStart(hashOffset, p.HashBlockSize),
			p.Algorithm, strings.ToLower(rootHash), salt),
	}
}

// Table is the dm table line of the verity device over dev, whose hash
// area (superblock first) starts at byte hashOffset of dev itself:
//
//	0 SECTORS verity HASHTYPE DEV DEV DBS HBS DATABLOCKS HASHSTART ALG ROOTHASH SALT
//
// SECTORS is DataBlocks*DataBlockSize/512, HASHSTART the block after the
// superblock (hashOffset/HashBlockSize+1 for an aligned offset), SALT hex
// or "-" if empty.
func Table(dev string, hashOffset int64, p Params, rootHash string) string {
	return verityTarget(dev, hashOffset, p, rootHash).String()
}

// struct dm_ioctl and struct dm_target_spec (linux/dm-ioctl.h), in the
// machine's byte order.
const (
	dmHeaderSize     = 312
	dmVersionOff     = 0 // u32[3]
	dmDataSizeOff    = 12
	dmDataStartOff   = 16
	dmTargetCountOff = 20
	dmOpenCountOff   = 24
	dmFlagsOff       = 28
	dmEventNrOff     = 32
	dmDevOff         = 40 // u64
	dmNameOff        = 48
	dmNameLen        = 128 // DM_NAME_LEN, with the NUL
	dmUUIDOff        = 176
	dmUUIDLen        = 129 // DM_UUID_LEN
	dmDataOff        = 305 // data[7], padding to 312

	dmSpecSize      = 40
	dmSpecStartOff  = 0 // sector_start u64
	dmSpecLengthOff = 8 // length u64
	dmSpecStatusOff = 16
	dmSpecNextOff   = 20 // next u32: from this spec to the next
	dmSpecTypeOff   = 24 // target_type[16]
	dmTypeLen       = 16 // DM_MAX_TYPE_NAME

	dmReadOnlyFlag = 1 // DM_READONLY_FLAG
)

// The interface version we speak: 4.0.0 is enough for create, load and
// resume, and any 4.x kernel accepts it.
var dmVersion = [3]uint32{4, 0, 0}

// checkName checks a device-mapper name: 1 to 127 bytes, no '/', not
// "." or "..".
func checkName(name string) error {
	switch {
	case name == "" || len(name) >= dmNameLen:
		return fmt.Errorf("device-mapper name %q: 1 to %d bytes", name, dmNameLen-1)
	case strings.ContainsAny(name, "/\x00") || name == "." || name == "..":
		return fmt.Errorf("device-mapper name %q: want no '/' and not \".\" or \"..\"", name)
	}
	return nil
}

func align8(n int) int { return (n + 7) &^ 7 }

// packIoctl builds the buffer of a DM ioctl on device name: a dm_ioctl
// header, then for DM_TABLE_LOAD each target as a dm_target_spec and its
// NUL-terminated parameters, padded so that the next spec is 8-aligned.
func packIoctl(name string, flags uint32, targets []target) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	size := dmHeaderSize
	for _, t := range targets {
		if t.Type == "" || len(t.Type) >= dmTypeLen {
			return nil, fmt.Errorf("device-mapper target type %q: 1 to %d bytes", t.Type, dmTypeLen-1)
		}
		if strings.IndexByte(t.Params, 0) >= 0 {
			return nil, fmt.Errorf("device-mapper %s parameters hold a NUL", t.Type)
		}
		size += dmSpecSize + align8(len(t.Params)+1)
	}
	b := make([]byte, size)
	ne := binary.NativeEndian
	for i, v := range dmVersion {
		ne.PutUint32(b[dmVersionOff+4*i:], v)
	}
	ne.PutUint32(b[dmDataSizeOff:], uint32(size))
	ne.PutUint32(b[dmDataStartOff:], dmHeaderSize)
	ne.PutUint32(b[dmTargetCountOff:], uint32(len(targets)))
	ne.PutUint32(b[dmFlagsOff:], flags)
	copy(b[dmNameOff:dmNameOff+dmNameLen-1], name)
	off := dmHeaderSize
	for _, t := range targets {
		next := dmSpecSize + align8(len(t.Params)+1)
		s := b[off:]
		ne.PutUint64(s[dmSpecStartOff:], t.Start)
		ne.PutUint64(s[dmSpecLengthOff:], t.Length)
		ne.PutUint32(s[dmSpecNextOff:], uint32(next))
		copy(s[dmSpecTypeOff:dmSpecTypeOff+dmTypeLen-1], t.Type)
		copy(s[dmSpecSize:], t.Params) // the NUL and padding are the zeros of make
		off += next
	}
	return b, nil
}

// replyDev is the dev_t a DM ioctl returned (huge_encode_dev), as major
// and minor.
func replyDev(b []byte) (major, minor uint32) {
	d := binary.NativeEndian.Uint64(b[dmDevOff:])
	return uint32((d >> 8) & 0xfff), uint32((d & 0xff) | ((d >> 12) & 0xfff00))
}
