package initramfs

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sidus-go/sidus/blockdev/format"
	"github.com/sidus-go/sidus/blockdev/fslabel"
	"github.com/sidus-go/sidus/initramfs/cmdline"
)

// fakeDisks is a DiskStage over in-memory superblocks; a device appears in
// the fake's /sys/class/block once the fake clock reaches its time.
type fakeDisks struct {
	f        *fakeSys
	info     map[string]fslabel.Info // by /dev path; Type "" = no filesystem
	appear   map[string]time.Time
	formats  []string
	notEmpty bool
}

func (d *fakeDisks) sync() {
	for dev := range d.info {
		name := strings.TrimPrefix(dev, "/dev/")
		if t, ok := d.appear[dev]; !ok || !d.f.now.Before(t) {
			d.f.files["/sys/class/block/"+name+"/dev"] = "254:0\n"
		}
	}
}

func (d *fakeDisks) stage() Options {
	return Options{Disk: DiskStage{
		Probe: func(dev string) (fslabel.Info, error) {
			in, ok := d.info[dev]
			if !ok {
				return fslabel.Info{}, fs.ErrNotExist
			}
			if in.Type == "" {
				return in, fslabel.ErrUnknown
			}
			return in, nil
		},
		FormatExt4: func(dev, label string, _ [16]byte) error {
			d.formats = append(d.formats, dev)
			if d.notEmpty {
				return fmt.Errorf("refused: %w", format.ErrNotEmpty)
			}
			return nil
		},
	}}
}

// clockedFake is fakeSys whose /sys follows its clock (fakeDisks.appear).
type clockedFake struct {
	*fakeSys
	d *fakeDisks
}

func (c clockedFake) DirFS(dir string) fs.FS { c.d.sync(); return c.fakeSys.DirFS(dir) }

func bootDisks(t *testing.T, f *fakeSys, d *fakeDisks, line string, log io.Writer) error {
	t.Helper()
	cfg, err := cmdline.Parse(line, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.f = f
	_, err = Boot(t.Context(), cfg, clockedFake{f, d}, f, NewLogger(log, nil, f.Now), d.stage())
	return err
}

func TestBlockDevices(t *testing.T) {
	sys := fstest.MapFS{}
	for _, n := range []string{"vda", "vda1", "loop0", "ram0", "sr0", "nvme0n1p2", "sda", "zram0", "srx"} {
		sys["class/block/"+n+"/dev"] = &fstest.MapFile{Data: []byte("1:1\n")}
	}
	want := []string{"/dev/nvme0n1p2", "/dev/sda", "/dev/srx", "/dev/vda", "/dev/vda1"}
	if got := blockDevices(sys); !slices.Equal(got, want) {
		t.Errorf("blockDevices = %q, want %q", got, want)
	}
	if got := blockDevices(fstest.MapFS{}); got != nil {
		t.Errorf("no /sys/class/block: %q", got)
	}
}

func TestFindDisk(t *testing.T) {
	info := map[string]fslabel.Info{
		"/dev/vda1": {Type: "ext4", Label: "root", UUID: "11111111-2222-3333-4444-555555555555"},
		"/dev/vdb":  {Type: "xfs", Label: "scratch", UUID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
		"/dev/vdc":  {Type: "ext4", Label: "scratch"},
		"/dev/vdd":  {},
	}
	probe := func(d string) (fslabel.Info, error) {
		in, ok := info[d]
		switch {
		case !ok:
			return in, fs.ErrNotExist
		case in.Type == "":
			return in, fslabel.ErrUnknown
		}
		return in, nil
	}
	devs := []string{"/dev/vda1", "/dev/vdb", "/dev/vdc", "/dev/vdd"}
	for _, tc := range []struct {
		want, dev, fstype string
		more              []string
	}{
		{"LABEL=scratch", "/dev/vdb", "xfs", []string{"/dev/vdc"}},
		{"LABEL=root", "/dev/vda1", "ext4", nil},
		{"LABEL=Root", "", "", nil}, // labels are case-sensitive
		{"UUID=AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee", "/dev/vdb", "xfs", nil},
		{"/dev/vdc", "/dev/vdc", "ext4", nil},
		{"/dev/vdd", "/dev/vdd", "", nil}, // there, without a filesystem
		{"/dev/vde", "", "", nil},
		{"/dev/disk/by-label/x", "", "", nil},
	} {
		dev, in, seen, more := findDisk(tc.want, devs, probe)
		if dev != tc.dev || in.Type != tc.fstype || !slices.Equal(more, tc.more) {
			t.Errorf("findDisk(%s) = %q %q more %q (seen %q), want %q %q more %q", tc.want, dev, in.Type, more, seen, tc.dev, tc.fstype, tc.more)
		}
	}
}

// overlayroot=device:dev=LABEL=scratch: the disk shows up late, is waited
// for with progress lines and mounted at /rw; the union then makes its
// upper and work directories there, as on the iSCSI LUN.
func TestBootDeviceUpperByLabel(t *testing.T) {
	f := newFake()
	d := &fakeDisks{info: map[string]fslabel.Info{
		"/dev/vda": {Type: "ext4", Label: "other"},
		"/dev/vdb": {Type: "ext4", Label: "scratch", UUID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}},
		appear: map[string]time.Time{"/dev/vdb": f.now.Add(8 * time.Second)}}
	var log strings.Builder
	err := bootDisks(t, f, d, "root=nfs:10.0.0.2:/srv/sidus ip=eth0:dhcp overlayroot=device:dev=LABEL=scratch", &log)
	if err == nil || !strings.Contains(err.Error(), "exec stopped by test") {
		t.Fatalf("Boot: %v\n%s", err, log.String())
	}
	i, j := has(f.calls, "mount /dev/vdb /rw ext4 0x0 "), has(f.calls, "mount overlay /aufs overlay 0x0 lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work")
	if i < 0 || j < i || has(f.calls, "mount tmpfs /rw") >= 0 {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
	if !strings.Contains(log.String(), "waiting for overlayroot=device:dev=LABEL=scratch (5s of 30s); block devices: /dev/vda (ext4, label \"other\"") ||
		!strings.Contains(log.String(), `mounted /dev/vdb (ext4, LABEL="scratch", UUID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee) at /rw`) {
		t.Errorf("log:\n%s", log.String())
	}
	if r := f.files[ReportPath]; !strings.Contains(r, `"kind": "device"`) || !strings.Contains(r, `"device": "/dev/vdb"`) {
		t.Errorf("boot report:\n%s", r)
	}
}

// A device that never shows up: the wait ends after timeout= (or 30 s)
// with an error that lists what is there and what to check.
func TestBootDeviceUpperTimeout(t *testing.T) {
	for _, tc := range []struct {
		opt  string
		wait time.Duration
	}{{"", diskWait}, {",timeout=5", 5 * time.Second}} {
		f := newFake()
		d := &fakeDisks{info: map[string]fslabel.Info{"/dev/vda": {Type: "xfs", Label: "data"}}}
		start := f.now
		err := bootDisks(t, f, d, cmdline.SeedTmpfs+" overlayroot=device:dev=UUID=0000-1111"+tc.opt, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "overlayroot=device:dev=UUID=0000-1111: not found after "+tc.wait.String()+`; block devices: /dev/vda (xfs, label "data", UUID )`) ||
			!strings.Contains(err.Error(), "raise timeout=") {
			t.Errorf("%q: err = %v", tc.opt, err)
		}
		if w := f.now.Sub(start); w < tc.wait || w > tc.wait+time.Second {
			t.Errorf("%q: waited %s, want %s", tc.opt, w, tc.wait)
		}
		if has(f.calls, "mount tmpfs /rw") >= 0 || f.switched != "" {
			t.Errorf("%q: booted without the disk", tc.opt)
		}
	}
}

// A named device without a filesystem: an error, or with mkfs=1 (=
// sidus.format=empty) a format, refused if the disk holds data.
func TestBootDeviceUpperEmpty(t *testing.T) {
	f := newFake()
	d := &fakeDisks{info: map[string]fslabel.Info{"/dev/sdb": {}}}
	err := bootDisks(t, f, d, cmdline.SeedTmpfs+" overlayroot=device:dev=sdb", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "/dev/sdb holds no ext2/3/4, xfs or btrfs filesystem; format it (mkfs.ext4 -L scratch /dev/sdb) or add mkfs=1") || len(d.formats) != 0 {
		t.Errorf("err = %v, formats %v", err, d.formats)
	}
	f = newFake()
	d = &fakeDisks{info: map[string]fslabel.Info{"/dev/sdb": {}}}
	_ = bootDisks(t, f, d, cmdline.SeedTmpfs+" overlayroot=device:dev=/dev/sdb,mkfs=1", io.Discard)
	if !slices.Equal(d.formats, []string{"/dev/sdb"}) || has(f.calls, "mount /dev/sdb /rw ext4") < 0 {
		t.Errorf("mkfs=1: formats %v, calls:\n%s", d.formats, strings.Join(f.calls, "\n"))
	}
	f = newFake()
	d = &fakeDisks{info: map[string]fslabel.Info{"/dev/sdb": {}}, notEmpty: true}
	err = bootDisks(t, f, d, cmdline.SeedTmpfs+" overlayroot=device:dev=/dev/sdb,mkfs=1", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "/dev/sdb holds data but no filesystem this init knows; refusing to format it") {
		t.Errorf("format failure: %v", err)
	}
}

func TestBootDeviceUpperWithoutStage(t *testing.T) {
	f := newFake()
	_, err := boot(t, f, cmdline.SeedTmpfs+" overlayroot=/dev/vdb")
	if err == nil || !strings.Contains(err.Error(), "stage premount: overlayroot=device:dev=/dev/vdb: this init was built without the local-disk stage") {
		t.Errorf("err = %v", err)
	}
}
