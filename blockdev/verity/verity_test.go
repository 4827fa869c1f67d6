package verity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Hand-built filesystem headers, so that the offsets are always tested.
func squashfsImage(major uint16, bytesUsed uint64) []byte {
	b := make([]byte, 4096)
	copy(b, sqMagic)
	binary.LittleEndian.PutUint16(b[sqMajorOff:], major)
	binary.LittleEndian.PutUint64(b[sqBytesOff:], bytesUsed)
	return b
}

func erofsImage(bits uint8, blocks uint32, incompat uint32, hi uint16) []byte {
	b := make([]byte, 4096)
	sb := b[erofsSB:]
	binary.LittleEndian.PutUint32(sb, erofsMagic)
	sb[erofsBitsOff] = bits
	binary.LittleEndian.PutUint16(sb[erofsHiOff:], hi)
	binary.LittleEndian.PutUint32(sb[erofsBlkOff:], blocks)
	binary.LittleEndian.PutUint32(sb[erofsIncOff:], incompat)
	return b
}

func extImage(log, lo, incompat, hi uint32) []byte {
	b := make([]byte, 4096)
	sb := b[extSB:]
	binary.LittleEndian.PutUint16(sb[extMagicOff:], extMagic)
	binary.LittleEndian.PutUint32(sb[extBlocksLo:], lo)
	binary.LittleEndian.PutUint32(sb[extLogOff:], log)
	binary.LittleEndian.PutUint32(sb[extIncOff:], incompat)
	binary.LittleEndian.PutUint32(sb[extBlocksHi:], hi)
	return b
}

func TestDataSize(t *testing.T) {
	for _, tt := range []struct {
		name    string
		img     []byte
		typ     string
		size    int64
		wantErr string
	}{
		{"squashfs", squashfsImage(4, 53000), "squashfs", 53000, ""},
		{"squashfs v3", squashfsImage(3, 53000), "", 0, "squashfs version 3"},
		{"squashfs tiny bytes_used", squashfsImage(4, 10), "", 0, "not a size"},
		{"erofs 4k", erofsImage(12, 13, 0, 0), "erofs", 13 * 4096, ""},
		{"erofs 512", erofsImage(9, 100, 0, 7), "erofs", 100 * 512, ""}, // hi ignored without 48BIT
		{"erofs 48bit", erofsImage(12, 13, erofs48Bit, 1), "erofs", (1<<32 + 13) << 12, ""},
		{"erofs bad block size", erofsImage(20, 13, 0, 0), "", 0, "erofs block size"},
		{"erofs no blocks", erofsImage(12, 0, 0, 0), "", 0, "0 blocks"},
		{"ext 1k", extImage(0, 3000, 0, 0), "ext4", 3000 * 1024, ""},
		{"ext 4k", extImage(2, 2560, 0x242, 9), "ext4", 2560 * 4096, ""}, // hi ignored without 64BIT
		{"ext 64bit", extImage(2, 5, 0x242|ext64Bit, 1), "ext4", (1<<32 + 5) * 4096, ""},
		{"ext bad block size", extImage(7, 5, 0, 0), "", 0, "over 64 KiB"},
		{"zeros", make([]byte, 8192), "", 0, ErrUnknownFS.Error()},
		{"tiny", []byte("hsq"), "", 0, ErrUnknownFS.Error()},
		{"empty", nil, "", 0, ErrUnknownFS.Error()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			typ, size, err := DataSize(bytes.NewReader(tt.img))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DataSize = %q, %d, %v; want error with %q", typ, size, err, tt.wantErr)
				}
				return
			}
			if err != nil || typ != tt.typ || size != tt.size {
				t.Errorf("DataSize = %q, %d, %v; want %q, %d", typ, size, err, tt.typ, tt.size)
			}
		})
	}
	if _, _, err := DataSize(bytes.NewReader(nil)); !errors.Is(err, ErrUnknownFS) {
		t.Errorf("DataSize(empty): %v, want ErrUnknownFS", err)
	}
}

func TestHashOffset(t *testing.T) {
	for size, want := range map[int64]int64{0: 0, 1: 4096, 4095: 4096, 4096: 4096, 4097: 8192, 53000: 53248, 53248: 53248} {
		if got := HashOffset(size); got != want {
			t.Errorf("HashOffset(%d) = %d, want %d", size, got, want)
		}
	}
}

var testSalt, _ = hex.DecodeString("f1c8c23855b49dc552bb39ff8dba06aa68dde97feede374b14f72d4b8e3dcc0f")

const testRoot = "0070144c13e89d22711cd369c0a59c9d4e2f456fbe99a761dffd6b906ba2675a"

func testParams() Params {
	return Params{Version: 1, HashType: 1, Algorithm: "sha256", DataBlockSize: 4096, HashBlockSize: 4096, DataBlocks: 13, Salt: testSalt}
}

// superblock packs p as struct verity_sb, as veritysetup writes it.
func superblock(p Params, saltSize int) []byte {
	b := make([]byte, sbSize)
	copy(b, sbSignature)
	le := binary.LittleEndian
	le.PutUint32(b[sbVersionOff:], p.Version)
	le.PutUint32(b[sbHashTypeOff:], p.HashType)
	copy(b[sbUUIDOff:sbUUIDOff+16], "0123456789abcdef")
	copy(b[sbAlgOff:sbAlgOff+sbAlgLen], p.Algorithm)
	le.PutUint32(b[sbDBSOff:], p.DataBlockSize)
	le.PutUint32(b[sbHBSOff:], p.HashBlockSize)
	le.PutUint64(b[sbBlocksOff:], p.DataBlocks)
	le.PutUint16(b[sbSaltSizeOff:], uint16(saltSize))
	copy(b[sbSaltOff:], p.Salt)
	return b
}

func TestReadSuperblock(t *testing.T) {
	const off = 53248
	img := func(sb []byte) *bytes.Reader {
		b := make([]byte, off+4096)
		copy(b[off:], sb)
		return bytes.NewReader(b)
	}
	p := testParams()
	got, err := ReadSuperblock(img(superblock(p, len(p.Salt))), off)
	if err != nil {
		t.Fatalf("ReadSuperblock: %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(p) {
		t.Errorf("ReadSuperblock = %+v, want %+v", got, p)
	}

	noSalt := p
	noSalt.Salt, noSalt.Algorithm = nil, "SHA1"
	got, err = ReadSuperblock(img(superblock(noSalt, 0)), off)
	if err != nil || got.Salt != nil || got.Algorithm != "sha1" {
		t.Errorf("ReadSuperblock without salt = %+v, %v", got, err)
	}

	for _, tt := range []struct {
		name   string
		modify func(*Params) int // returns the salt size
		want   string
	}{
		{"version 2", func(p *Params) int { p.Version = 2; return 32 }, "version 2"},
		{"hash type 2", func(p *Params) int { p.HashType = 2; return 32 }, "hash type 2"},
		{"data block 1000", func(p *Params) int { p.DataBlockSize = 1000; return 32 }, "block sizes 1000 (data)"},
		{"hash block 256", func(p *Params) int { p.HashBlockSize = 256; return 32 }, "block sizes 4096 (data), 256 (hash)"},
		{"no data blocks", func(p *Params) int { p.DataBlocks = 0; return 32 }, "0 data blocks"},
		{"salt 300", func(p *Params) int { return 300 }, "salt of 300 bytes"},
		{"no algorithm", func(p *Params) int { p.Algorithm = ""; return 32 }, "hash algorithm"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := testParams()
			n := tt.modify(&p)
			_, err := ReadSuperblock(img(superblock(p, n)), off)
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrNoSuperblock) {
				t.Errorf("ReadSuperblock: %v, want %q", err, tt.want)
			}
		})
	}

	_, err = ReadSuperblock(img(superblock(p, 32)), off-4096)
	if !errors.Is(err, ErrNoSuperblock) || !strings.Contains(err.Error(), "at byte 49152: was the image published with verity?") {
		t.Errorf("ReadSuperblock at the wrong offset: %v", err)
	}
	_, err = ReadSuperblock(img(superblock(p, 32)), off+4096)
	if !errors.Is(err, ErrNoSuperblock) || !strings.Contains(err.Error(), "image ends") {
		t.Errorf("ReadSuperblock past the end: %v", err)
	}
}

func TestCheckRootHash(t *testing.T) {
	p := testParams()
	sha1 := p
	sha1.Algorithm = "sha1"
	sha512 := p
	sha512.Algorithm = "sha512"
	md5 := p
	md5.Algorithm = "md5"
	for _, tt := range []struct {
		name string
		h    string
		p    Params
		want string // "" for no error
	}{
		{"sha256", testRoot, p, ""},
		{"sha256 upper", strings.ToUpper(testRoot), p, ""},
		{"sha256 short", testRoot[:62], p, "62 hex digits, sha256 needs 64"},
		{"sha256 long", testRoot + "00", p, "66 hex digits"},
		{"not hex", strings.Repeat("zz", 32), p, "not hex"},
		{"odd", testRoot[:63], p, "not hex"},
		{"empty", "", p, "0 hex digits"},
		{"sha1", testRoot[:40], sha1, ""},
		{"sha1 wrong", testRoot, sha1, "sha1 needs 40"},
		{"sha512", testRoot + testRoot, sha512, ""},
		{"unknown", testRoot, md5, "not sha1, sha256 or sha512"},
	} {
		err := CheckRootHash(tt.h, tt.p)
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: CheckRootHash: %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestTable(t *testing.T) {
	p := testParams()
	// 13 blocks of 4096 = 104 sectors; hash start 53248/4096 + 1 = 14.
	want := "0 104 verity 1 /dev/loop0 /dev/loop0 4096 4096 13 14 sha256 " + testRoot + " " + hex.EncodeToString(testSalt)
	if got := Table("/dev/loop0", 53248, p, strings.ToUpper(testRoot)); got != want {
		t.Errorf("Table =\n%s\nwant\n%s", got, want)
	}
	p.Salt, p.HashType, p.HashBlockSize, p.DataBlockSize, p.DataBlocks = nil, 0, 512, 1024, 3
	want = "0 6 verity 0 /dev/vda /dev/vda 1024 512 3 17 sha256 " + testRoot + " -"
	if got := Table("/dev/vda", 8192, p, testRoot); got != want {
		t.Errorf("Table =\n%s\nwant\n%s", got, want)
	}
}

func TestHashStart(t *testing.T) {
	for _, tt := range []struct {
		off  int64
		hbs  uint32
		want uint64
	}{
		{0, 4096, 1}, {4096, 4096, 2}, {53248, 4096, 14}, {8192, 512, 17},
		{1 << 40, 4096, 1<<28 + 1},
		{4096 + 512, 4096, 2}, {4096 + 3584, 4096, 2}, {4096 + 3585, 4096, 3}, // unaligned: cryptsetup rounds up past the 512-byte superblock
	} {
		if got := hashStart(tt.off, tt.hbs); got != tt.want {
			t.Errorf("hashStart(%d, %d) = %d, want %d", tt.off, tt.hbs, got, tt.want)
		}
	}
}

func TestCheckLayout(t *testing.T) {
	p := testParams() // 13 blocks of 4096 = 53248 bytes
	for _, tt := range []struct {
		size, off int64
		want      string
	}{
		{53000, 53248, ""},
		{53248, 53248, ""},
		{53249, 57344, "covers 53248 bytes but the filesystem is 53249"},
		{40000, 40960, "overlaps the hash area at byte 40960"},
	} {
		err := checkLayout(tt.size, tt.off, p)
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkLayout(%d, %d): %v, want %q", tt.size, tt.off, err, tt.want)
		}
	}
}

func TestDMLayout(t *testing.T) {
	// struct dm_ioctl: the fields the constants name follow each other.
	if dmNameOff+dmNameLen != dmUUIDOff || dmUUIDOff+dmUUIDLen != dmDataOff || dmDataOff+7 != dmHeaderSize {
		t.Errorf("dm_ioctl layout: name %d+%d, uuid %d+%d, data %d+7, size %d", dmNameOff, dmNameLen, dmUUIDOff, dmUUIDLen, dmDataOff, dmHeaderSize)
	}
	if dmEventNrOff+8 != dmDevOff || dmOpenCountOff+4 != dmFlagsOff || dmDevOff%8 != 0 || dmHeaderSize%8 != 0 {
		t.Error("dm_ioctl layout: event_nr, padding, dev misplaced")
	}
	if dmSpecTypeOff+dmTypeLen != dmSpecSize || dmSpecStatusOff+4 != dmSpecNextOff {
		t.Error("dm_target_spec layout")
	}
}

func TestPackHeader(t *testing.T) {
	b, err := packIoctl("sidus-root", dmReadOnlyFlag, nil)
	if err != nil {
		t.Fatal(err)
	}
	ne := binary.NativeEndian
	if len(b) != 312 {
		t.Fatalf("header is %d bytes, want sizeof(struct dm_ioctl) 312", len(b))
	}
	for i, want := range map[int]uint32{0: 4, 4: 0, 8: 0, 12: 312, 16: 312, 20: 0, 24: 0, 28: 1, 32: 0, 36: 0} {
		if got := ne.Uint32(b[i:]); got != want {
			t.Errorf("u32 at %d = %d, want %d", i, got, want)
		}
	}
	if got := string(b[48 : 48+len("sidus-root")+1]); got != "sidus-root\x00" {
		t.Errorf("name at 48 = %q", got)
	}
	if !bytes.Equal(b[176:], make([]byte, 312-176)) || ne.Uint64(b[40:]) != 0 {
		t.Error("dev, uuid or data not zero")
	}

	long := strings.Repeat("n", 127)
	if b, err := packIoctl(long, 0, nil); err != nil || b[48+126] != 'n' || b[48+127] != 0 {
		t.Errorf("127-byte name: %v", err)
	}
	for _, bad := range []string{"", long + "n", "a/b", ".", ".."} {
		if _, err := packIoctl(bad, 0, nil); err == nil {
			t.Errorf("packIoctl(%q): no error", bad)
		}
	}
}

func TestPackTableLoad(t *testing.T) {
	tgt := verityTarget("/dev/loop0", 53248, testParams(), testRoot)
	for _, params := range []string{tgt.Params, "", "1234567", "12345678"} {
		tgt := tgt
		tgt.Params = params
		b, err := packIoctl("root", dmReadOnlyFlag, []target{tgt})
		if err != nil {
			t.Fatal(err)
		}
		ne := binary.NativeEndian
		next := 40 + (len(params)+1+7)/8*8
		if len(b) != 312+next || len(b)%8 != 0 {
			t.Errorf("params of %d bytes: buffer of %d bytes, want %d (8-aligned)", len(params), len(b), 312+next)
		}
		if ne.Uint32(b[12:]) != uint32(len(b)) || ne.Uint32(b[16:]) != 312 || ne.Uint32(b[20:]) != 1 || ne.Uint32(b[28:]) != 1 {
			t.Errorf("header: data_size %d, data_start %d, target_count %d, flags %d", ne.Uint32(b[12:]), ne.Uint32(b[16:]), ne.Uint32(b[20:]), ne.Uint32(b[28:]))
		}
		s := b[312:]
		if ne.Uint64(s[0:]) != 0 || ne.Uint64(s[8:]) != 104 || ne.Uint32(s[16:]) != 0 || ne.Uint32(s[20:]) != uint32(next) || next%8 != 0 {
			t.Errorf("spec: start %d, length %d, status %d, next %d", ne.Uint64(s[0:]), ne.Uint64(s[8:]), ne.Uint32(s[16:]), ne.Uint32(s[20:]))
		}
		if got := string(s[24:40]); got != "verity"+strings.Repeat("\x00", 10) {
			t.Errorf("target_type = %q", got)
		}
		if got := string(s[40:]); got != params+strings.Repeat("\x00", next-40-len(params)) {
			t.Errorf("params = %q, want %q and NULs", got, params)
		}
	}
	if _, err := packIoctl("root", 0, []target{{Type: "a-very-long-target-type"}}); err == nil {
		t.Error("17-byte target type: no error")
	}
}

func TestReplyDev(t *testing.T) {
	// huge_encode_dev: minor's low 8 bits, major's 12, minor's high 12.
	enc := func(major, minor uint64) uint64 { return minor&0xff | (major&0xfff)<<8 | (minor&^0xff)<<12 }
	for _, d := range [][2]uint32{{253, 0}, {253, 7}, {253, 300}, {259, 1<<20 - 1}, {4095, 255}} {
		b := make([]byte, dmHeaderSize)
		binary.NativeEndian.PutUint64(b[dmDevOff:], enc(uint64(d[0]), uint64(d[1])))
		if ma, mi := replyDev(b); ma != d[0] || mi != d[1] {
			t.Errorf("replyDev(%d:%d) = %d:%d", d[0], d[1], ma, mi)
		}
	}
}

// TestVeritysetup checks the reader and the table against a real
// `veritysetup format` (no root needed on a regular file).
func TestVeritysetup(t *testing.T) {
	veritysetup, err1 := exec.LookPath("veritysetup")
	mksquashfs, err2 := exec.LookPath("mksquashfs")
	if err1 != nil || err2 != nil {
		t.Skip("veritysetup or mksquashfs not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	// Over 128 blocks of incompressible data: a two-level hash tree
	// (128 sha256 digests fill a 4096-byte hash block), whose root block
	// veritysetup puts first.
	data := make([]byte, 600<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
	}
	os.WriteFile(filepath.Join(src, "a"), data, 0o644)
	os.WriteFile(filepath.Join(src, "b"), []byte("hello\n"), 0o644)
	img := filepath.Join(dir, "img")
	if out, err := exec.Command(mksquashfs, src, img, "-noappend", "-quiet", "-no-progress", "-noI", "-noD").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, out)
	}

	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	typ, size, err := DataSize(f)
	f.Close()
	if err != nil || typ != "squashfs" {
		t.Fatalf("DataSize = %q, %d, %v", typ, size, err)
	}
	st, _ := os.Stat(img)
	off := HashOffset(size)
	if off != st.Size() {
		t.Fatalf("HashOffset(%d) = %d, but mksquashfs padded the image to %d", size, off, st.Size())
	}

	out, err := exec.Command(veritysetup, "format", "--hash-offset="+strconv.FormatInt(off, 10), img, img).CombinedOutput()
	if err != nil {
		t.Fatalf("veritysetup format: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^Root hash:\s+([0-9a-f]+)$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no root hash in:\n%s", out)
	}
	root := string(m[1])
	dump, err := exec.Command(veritysetup, "dump", "--hash-offset="+strconv.FormatInt(off, 10), img).CombinedOutput()
	if err != nil {
		t.Fatalf("veritysetup dump: %v\n%s", err, dump)
	}
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+(\S+)$`).FindSubmatch(dump)
		if m == nil {
			t.Fatalf("no %s in:\n%s", name, dump)
		}
		return string(m[1])
	}

	f, err = os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := ReadSuperblock(f, off)
	if err != nil {
		t.Fatalf("ReadSuperblock: %v", err)
	}
	for _, c := range [][2]string{
		{"Data blocks", strconv.FormatUint(p.DataBlocks, 10)},
		{"Data block size", strconv.FormatUint(uint64(p.DataBlockSize), 10)},
		{"Hash block size", strconv.FormatUint(uint64(p.HashBlockSize), 10)},
		{"Hash type", strconv.FormatUint(uint64(p.HashType), 10)},
		{"Hash algorithm", p.Algorithm},
		{"Salt", hex.EncodeToString(p.Salt)},
	} {
		if got := field(c[0]); got != c[1] {
			t.Errorf("veritysetup dump says %s %s, ReadSuperblock %s", c[0], got, c[1])
		}
	}
	if err := CheckRootHash(root, p); err != nil {
		t.Errorf("CheckRootHash(%s): %v", root, err)
	}
	if err := checkLayout(size, off, p); err != nil {
		t.Errorf("checkLayout: %v", err)
	}

	table := Table("/dev/loop0", off, p, root)
	want := fmt.Sprintf("0 %d verity 1 /dev/loop0 /dev/loop0 4096 4096 %d %d sha256 %s %s",
		st.Size()/512, st.Size()/4096, st.Size()/4096+1, root, hex.EncodeToString(p.Salt))
	if table != want {
		t.Errorf("Table =\n%s\nwant\n%s", table, want)
	}
	if p.DataBlocks <= 128 {
		t.Fatalf("%d data blocks: the tree has one level, the test wants two", p.DataBlocks)
	}

	// The root block is where the table says: for format 1 the root
	// hash is sha256(salt || the block at HASHSTART).
	block := make([]byte, p.HashBlockSize)
	if _, err := f.ReadAt(block, int64(hashStart(off, p.HashBlockSize))*int64(p.HashBlockSize)); err != nil {
		t.Fatalf("reading the root block: %v", err)
	}
	sum := sha256.Sum256(append(append([]byte(nil), p.Salt...), block...))
	if hex.EncodeToString(sum[:]) != root {
		t.Errorf("sha256(salt || block %d) = %x, not the root hash %s", hashStart(off, p.HashBlockSize), sum, root)
	}
}
