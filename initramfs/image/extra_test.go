package image

import (
	"bytes"
	"testing"

	"github.com/sidus-go/sidus/initramfs/image/imagetest"
	"github.com/sidus-go/sidus/initramfs/layout"
	"github.com/u-root/mkuimage/cpio"
	itest "github.com/u-root/mkuimage/uimage/initramfs/test"
)

// TestExtraInitrd: root-only files with their parents, each parent once,
// and the same bytes for the same files.
func TestExtraInitrd(t *testing.T) {
	files := []Secret{{layout.CephKeyring, []byte("[client.x]\n\tkey = K\n")}, {"etc/sidus/other", []byte("o")}, {layout.ISCSIConf, []byte("ISCSI_PASSWORD='s'\n")}}
	data, err := ExtraInitrd(files...)
	if err != nil {
		t.Fatal(err)
	}
	recs := imagetest.Records(t, bytes.NewReader(data))
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
	}
	want := []string{"etc", "etc/sidus", layout.CephKeyring, "etc/sidus/other", layout.ISCSIConf}
	if len(names) != len(want) {
		t.Fatalf("records %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("record %d is %q, want %q", i, names[i], want[i])
		}
	}
	arch, err := cpio.ArchiveFromRecords(recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []itest.ArchiveValidator{
		itest.HasContent{Path: layout.CephKeyring, Content: "[client.x]\n\tkey = K\n"},
		imagetest.HasMode{Path: layout.CephKeyring, Mode: cpio.S_IFREG | 0o600},
		imagetest.HasMode{Path: layout.ISCSIConf, Mode: cpio.S_IFREG | 0o600},
		itest.HasDir{Path: "etc/sidus"},
	} {
		if err := v.Validate(arch); err != nil {
			t.Error(err)
		}
	}
	again, _ := ExtraInitrd(files...)
	if !bytes.Equal(data, again) {
		t.Errorf("ExtraInitrd is not reproducible")
	}
}
