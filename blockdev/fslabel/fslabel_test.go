package fslabel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buffers hand-built so the readers are always tested.
func extImage(label string, compat, incompat, rocompat uint32) []byte {
	b := make([]byte, 4096)
	sb := b[extSB:]
	binary.LittleEndian.PutUint16(sb[extMagicOff:], extMagic)
	binary.LittleEndian.PutUint32(sb[extCompatOff:], compat)
	binary.LittleEndian.PutUint32(sb[extIncompatOff:], incompat)
	binary.LittleEndian.PutUint32(sb[extROCompatOff:], rocompat)
	copy(sb[extLabelOff:extLabelOff+16], label)
	return b
}

func xfsImage(label string) []byte {
	b := make([]byte, 4096)
	copy(b, "XFSB")
	copy(b[xfsLabelOff:xfsLabelOff+xfsLabelLen], label)
	return b
}

func btrfsImage(label string) []byte {
	b := make([]byte, btrfsSB+4096)
	copy(b[btrfsSB+btrfsMagicOff:], btrfsMagic)
	copy(b[btrfsSB+btrfsLabelOff:], label)
	return b
}

func TestReadBuffers(t *testing.T) {
	for _, tt := range []struct {
		name     string
		img      []byte
		typ, lbl string
		unknown  bool
	}{
		{"ext2", extImage("ISCSI", 0, 0x2, 0x1), "ext2", "ISCSI", false},
		{"ext3", extImage("data", extHasJournal, 0x2, 0x3), "ext3", "data", false},
		{"ext4 extents", extImage("ISCSI", extHasJournal, 0x2|0x40, 0x3), "ext4", "ISCSI", false},
		{"ext4 huge_file", extImage("x", extHasJournal, 0x2, 0x8), "ext4", "x", false},
		{"ext full 16-byte label", extImage("0123456789abcdef", 0, 0, 0), "ext2", "0123456789abcdef", false},
		{"xfs", xfsImage("ISCSI"), "xfs", "ISCSI", false},
		{"xfs 12-byte label", xfsImage("abcdefghijkl"), "xfs", "abcdefghijkl", false},
		{"btrfs", btrfsImage("ISCSI"), "btrfs", "ISCSI", false},
		{"zeros", make([]byte, 1<<17), "", "", true},
		{"tiny", []byte{1, 2, 3}, "", "", true},
		{"empty", nil, "", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			typ, lbl, err := Read(bytes.NewReader(tt.img))
			if tt.unknown {
				if !errors.Is(err, ErrUnknown) {
					t.Fatalf("Read = %q, %q, %v; want ErrUnknown", typ, lbl, err)
				}
				return
			}
			if err != nil || typ != tt.typ || lbl != tt.lbl {
				t.Fatalf("Read = %q, %q, %v; want %q, %q", typ, lbl, err, tt.typ, tt.lbl)
			}
		})
	}
}

type errReader struct{}

func (errReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("I/O error") }

func TestReadIOError(t *testing.T) {
	if _, _, err := Read(errReader{}); err == nil || errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), "I/O error") {
		t.Fatalf("Read = %v, want the I/O error", err)
	}
}

func TestReadMkfs(t *testing.T) {
	for _, tt := range []struct {
		typ  string
		tool string
		args []string
		size int64
	}{
		{"ext4", "mkfs.ext4", []string{"-q", "-F", "-L", "ISCSI", "-U", mkfsUUID}, 8 << 20},
		{"ext3", "mkfs.ext3", []string{"-q", "-F", "-L", "ISCSI", "-U", mkfsUUID}, 8 << 20},
		{"ext2", "mkfs.ext2", []string{"-q", "-F", "-L", "ISCSI", "-U", mkfsUUID}, 8 << 20},
		{"xfs", "mkfs.xfs", []string{"-q", "-f", "-L", "ISCSI", "-m", "uuid=" + mkfsUUID}, 320 << 20},
		{"btrfs", "mkfs.btrfs", []string{"-q", "-f", "-L", "ISCSI", "-U", mkfsUUID}, 128 << 20},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			tool, err := exec.LookPath(tt.tool)
			if err != nil {
				if tool, err = exec.LookPath("/usr/sbin/" + tt.tool); err != nil {
					t.Skipf("%s not installed", tt.tool)
				}
			}
			img := filepath.Join(t.TempDir(), tt.typ+".img")
			if err := os.WriteFile(img, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, tt.size); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(tool, append(tt.args, img)...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tt.tool, err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			typ, lbl, err := Read(f)
			if err != nil || typ != tt.typ || lbl != "ISCSI" {
				t.Fatalf("Read(%s image) = %q, %q, %v", tt.tool, typ, lbl, err)
			}
			if in, err := Probe(f); err != nil || in != (Info{tt.typ, "ISCSI", mkfsUUID}) {
				t.Fatalf("Probe(%s image) = %+v, %v; want UUID %s", tt.tool, in, err, mkfsUUID)
			}
		})
	}
}

const mkfsUUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

func TestProbeUUID(t *testing.T) {
	raw := []byte{0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0}
	withUUID := func(img []byte, off int) []byte {
		copy(img[off:], raw)
		return img
	}
	for _, tt := range []struct {
		name string
		img  []byte
		want Info
	}{
		{"ext4", withUUID(extImage("ISCSI", extHasJournal, 0x40, 0), extSB+extUUIDOff), Info{"ext4", "ISCSI", mkfsUUID}},
		{"xfs", withUUID(xfsImage("data"), xfsUUIDOff), Info{"xfs", "data", mkfsUUID}},
		{"btrfs", withUUID(btrfsImage(""), btrfsSB+btrfsUUIDOff), Info{"btrfs", "", mkfsUUID}},
		{"zero uuid", extImage("ISCSI", 0, 0, 0), Info{"ext2", "ISCSI", ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Probe(bytes.NewReader(tt.img)); err != nil || got != tt.want {
				t.Fatalf("Probe = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if _, err := Probe(bytes.NewReader(make([]byte, 1<<17))); !errors.Is(err, ErrUnknown) {
		t.Errorf("Probe(zeros) = %v, want ErrUnknown", err)
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func TestFind(t *testing.T) {
	imgs := map[string][]byte{
		"/dev/sda":  make([]byte, 8192), // no filesystem (partitioned disk)
		"/dev/sda1": extImage("boot", 0, 0, 0),
		"/dev/sda2": xfsImage("ISCSI"),
		"/dev/sdb":  btrfsImage("other"),
	}
	open := func(d string) (io.ReaderAt, io.Closer, error) {
		b, ok := imgs[d]
		if !ok {
			return nil, nil, os.ErrNotExist
		}
		return bytes.NewReader(b), nopCloser{}, nil
	}
	dev, found, err := Find([]string{"/dev/sda", "/dev/sda1", "/dev/sda2", "/dev/sdb"}, "ISCSI", open)
	if err != nil || dev != "/dev/sda2" {
		t.Fatalf("Find = %q, %v", dev, err)
	}
	if found["/dev/sda1"] != "boot" || found["/dev/sdb"] != "other" || len(found) != 3 {
		t.Errorf("found = %v", found)
	}

	dev, found, err = Find([]string{"/dev/sda1", "/dev/sdb", "/dev/sdz"}, "ISCSI", open)
	if err == nil || dev != "" {
		t.Fatalf("Find = %q, %v; want error", dev, err)
	}
	for _, want := range []string{`"ISCSI"`, `/dev/sda1 (ext2, label "boot")`, `/dev/sdb (btrfs, label "other")`, "/dev/sdz"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if len(found) != 2 {
		t.Errorf("found = %v", found)
	}
	// Labels are case-sensitive, as with blkid.
	if _, _, err := Find([]string{"/dev/sda2"}, "iscsi", open); err == nil {
		t.Error("Find matched a label case-insensitively")
	}
}

func TestFindOpenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, extImage("ISCSI", extHasJournal, 0x40, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	dev, _, err := Find([]string{p}, "ISCSI", OpenFile)
	if err != nil || dev != p {
		t.Fatalf("Find = %q, %v", dev, err)
	}
}
