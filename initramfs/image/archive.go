package image

import (
	"fmt"
	"io"
	"path"
	"slices"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/u-root/mkuimage/cpio"
)

// zstdWindow is the zstd window size. Linux's initramfs unpacker
// (lib/decompress_unzstd.c) decodes in streaming mode and allocates a
// workspace of about the window size before anything else is up; it accepts
// windows up to 128 MiB, but a small window keeps that early allocation
// modest on small nodes. Modules compress almost as well with 1 MiB as with
// 8 MiB, the encoder's default for its best level: on the Debian 6.1 cloud
// kernel's default set, 7.59 MB vs 7.48 MB (1.5%). Decoders can be checked
// with `zstd -t --memory=1MB initrd.img-Sidus`.
const zstdWindow = 1 << 20

// imageTree collects the records of an image by name.
type imageTree struct {
	mtime uint64
	recs  map[string]cpio.Record
}

func newTree(mtime uint64) *imageTree {
	return &imageTree{mtime: mtime, recs: map[string]cpio.Record{}}
}

func (t *imageTree) has(name string) bool { _, ok := t.recs[name]; return ok }

func (t *imageTree) add(r cpio.Record) {
	r.Name = cpio.Normalize(r.Name)
	r.MTime = t.mtime
	r.UID, r.GID, r.Ino, r.Major, r.Minor, r.Dev = 0, 0, 0, 0, 0, 0
	if r.NLink == 0 {
		r.NLink = 1
	}
	t.recs[r.Name] = r
	for d := path.Dir(r.Name); d != "." && d != "/"; d = path.Dir(d) {
		if !t.has(d) {
			t.dir(d)
		}
	}
}

func (t *imageTree) file(name string, perm uint64, data []byte) {
	t.add(cpio.StaticRecord(data, cpio.Info{Name: name, Mode: cpio.S_IFREG | perm}))
}

func (t *imageTree) symlink(name, target string) { t.add(cpio.Symlink(name, target)) }

func (t *imageTree) dir(name string) {
	r := cpio.Directory(name, 0o755)
	r.NLink = 2
	t.add(r)
}

func (t *imageTree) charDev(name string, perm, major, minor uint64) {
	t.add(cpio.CharDev(name, perm, major, minor))
}

// write writes the records sorted by name (parents before children) and the
// trailer through the compressor, and returns the cpio and output sizes.
func (t *imageTree) write(w io.Writer, compression string) (raw, out int64, err error) {
	outc := &counter{w: w}
	zw, err := compressor(outc, compression)
	if err != nil {
		return 0, 0, err
	}
	rawc := &counter{w: zw}
	cw := cpio.Newc.Writer(rawc)
	names := make([]string, 0, len(t.recs))
	for n := range t.recs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := cw.WriteRecord(t.recs[n]); err != nil {
			return 0, 0, fmt.Errorf("writing %s: %w", n, err)
		}
	}
	if err := cpio.WriteTrailer(cw); err != nil {
		return 0, 0, fmt.Errorf("writing cpio trailer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", compression, err)
	}
	return rawc.n, outc.n, nil
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// compressor returns a deterministic compressing writer for name.
func compressor(w io.Writer, name string) (io.WriteCloser, error) {
	switch name {
	case Zstd:
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedBestCompression),
			zstd.WithEncoderConcurrency(1), // one goroutine: same bytes every time
			zstd.WithWindowSize(zstdWindow),
			zstd.WithEncoderCRC(true),
		)
	case Gzip:
		// Zero header: no name, no mtime; the OS byte is a constant.
		return gzip.NewWriterLevel(w, gzip.BestCompression)
	case None:
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("compression %q: want zstd, gzip or none", name)
}

// Decompress returns a reader of the cpio inside an image written with the
// given compression (for tests and inspection).
func Decompress(r io.Reader, compression string) (io.ReadCloser, error) {
	switch compression {
	case Zstd, "":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdWindow))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case Gzip:
		return gzip.NewReader(r)
	case None:
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("compression %q: want zstd, gzip or none", compression)
}
