package image

import (
	"bytes"
	"path"
	"slices"

	"github.com/u-root/mkuimage/cpio"
)

// Secret is one file of an ExtraInitrd: an image path (layout's) and its
// contents.
type Secret struct {
	Path string
	Data []byte
}

// ExtraInitrd is a small uncompressed newc archive of root-only files
// (mode 0600) and their parent directories (0755), loaded after
// initrd.img-Sidus (pxelinux's initrd=a,b): the kernel unpacks them all
// into the same rootfs, a later file replacing an earlier one. The
// server hands one node or one generation its secrets this way (a CHAP
// secret, a cephx key) without repacking the image. The bytes depend on
// files only.
func ExtraInitrd(files ...Secret) ([]byte, error) {
	var b bytes.Buffer
	w := cpio.Newc.Writer(&b)
	var recs []cpio.Record
	seen := map[string]bool{}
	for _, f := range files {
		var dirs []string
		for d := path.Dir(f.Path); d != "." && d != "/" && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			dirs = append(dirs, d)
		}
		slices.Reverse(dirs)
		for _, d := range dirs {
			recs = append(recs, cpio.Directory(d, 0o755))
		}
		recs = append(recs, cpio.StaticRecord(f.Data, cpio.Info{Name: f.Path, Mode: cpio.S_IFREG | 0o600}))
	}
	for _, r := range recs {
		if err := w.WriteRecord(r); err != nil {
			return nil, err
		}
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
