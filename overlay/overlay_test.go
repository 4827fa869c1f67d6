package overlay

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		fs   string
		want Kind
		err  bool
	}{
		{"nodev\tsysfs\nnodev\ttmpfs\nnodev\toverlay\n\text4\n", Overlay, false},
		{"nodev\taufs\nnodev\toverlay\n", Overlay, false},
		{"nodev\taufs\n\text4\n", Aufs, false},
		{"nodev\ttmpfs\n", "", true},
		{"", "", true},
	} {
		got, err := Choose(tc.fs)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("Choose(%q) = %q, %v; want %q, error %v", tc.fs, got, err, tc.want, tc.err)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		kind   Kind
		safe   bool
		fstype string
		data   string
	}{
		{Overlay, false, "overlay", "lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work"},
		{Overlay, true, "overlay", "lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work,redirect_dir=off,index=off,metacopy=off,xino=off,nfs_export=off"},
		{Aufs, true, "aufs", "br:/rw/upper=rw:/ro=rr"},
	} {
		fstype, data := Options(tc.kind, Default, tc.safe)
		if fstype != tc.fstype || data != tc.data {
			t.Errorf("Options(%s, safe=%v) = %q %q; want %q %q", tc.kind, tc.safe, fstype, data, tc.fstype, tc.data)
		}
	}
}

type fakeMounter struct {
	calls []string
	fail  func(target, data string) error
}

func (f *fakeMounter) Mount(src, dst, fstype string, flags uintptr, data string) error {
	f.calls = append(f.calls, fmt.Sprintf("mount %s %s %s %#x %s", src, dst, fstype, flags, data))
	if f.fail != nil {
		return f.fail(dst, data)
	}
	return nil
}

func (f *fakeMounter) MkdirAll(p string) error {
	f.calls = append(f.calls, "mkdir "+p)
	return nil
}

func TestStack(t *testing.T) {
	m := &fakeMounter{}
	data, err := Stack(m, Overlay, Default)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"mkdir /rw/upper", "mkdir /rw/work", "mkdir /aufs",
		"mount overlay /aufs overlay 0x0 " + data,
		"mkdir /aufs/ro", "mount /ro /aufs/ro  0x2000 ",
		"mkdir /aufs/rw", "mount /rw /aufs/rw  0x2000 ",
	}
	if strings.Join(m.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(m.calls, "\n"), strings.Join(want, "\n"))
	}
}

// An older kernel that rejects a safety option still gets a union.
func TestStackFallsBackToPlainOptions(t *testing.T) {
	m := &fakeMounter{fail: func(target, data string) error {
		if strings.Contains(data, "nfs_export") {
			return errors.New("invalid argument")
		}
		return nil
	}}
	data, err := Stack(m, Overlay, Default)
	if err != nil || strings.Contains(data, "index=off") {
		t.Fatalf("Stack = %q, %v; want the plain options", data, err)
	}
}

func TestStackErrorSaysWhatToCheck(t *testing.T) {
	m := &fakeMounter{fail: func(target, data string) error {
		if target == "/aufs" {
			return errors.New("no such device")
		}
		return nil
	}}
	_, err := Stack(m, Overlay, Default)
	if err == nil || !strings.Contains(err.Error(), "is the overlay module loaded") {
		t.Fatalf("err = %v", err)
	}
}

func TestShare(t *testing.T) {
	m := &fakeMounter{}
	isDir := func(d string) bool { return d == "usr" || d == "opt" }
	got, err := Share(m, Default, []string{"usr", "bin", "opt", "lib64"}, isDir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"usr", "opt"}; !slices.Equal(got, want) {
		t.Errorf("shared %q, want %q", got, want)
	}
	want := []string{"mount /aufs/ro/usr /aufs/usr  0x1000 ", "mount /aufs/ro/opt /aufs/opt  0x1000 "}
	if !slices.Equal(m.calls, want) {
		t.Errorf("calls\n%q\nwant\n%q", m.calls, want)
	}
	m = &fakeMounter{fail: func(target, _ string) error {
		if target == "/aufs/opt" {
			return errors.New("no such device")
		}
		return nil
	}}
	if _, err := Share(m, Default, []string{"usr", "opt"}, isDir); err == nil || !strings.Contains(err.Error(), "sidus.shared=none") {
		t.Errorf("a failed bind: %v, want an error that names sidus.shared", err)
	}
}
