package rbd

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

const testKey = "AQBq8Q5nAAAAABAAk1c0Ygq6S1u1HhzXHbq9ZQ=="

func spec() Spec {
	return Spec{
		Mons: []string{"10.0.0.1:6789", "10.0.0.2:6789"},
		User: "sidus", Key: testKey,
		Pool: "images", Image: "rocky9", Snap: "v42",
	}
}

func TestAddLineAndString(t *testing.T) {
	s := spec()
	if got, want := s.AddLine(), "10.0.0.1:6789,10.0.0.2:6789 name=sidus,secret="+testKey+" images rocky9 v42"; got != want {
		t.Errorf("AddLine = %q, want %q", got, want)
	}
	want := "rbd images/rocky9@v42 via 10.0.0.1:6789,10.0.0.2:6789 as client.sidus"
	if got := s.String(); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		if got := fmt.Sprintf(verb, s); strings.Contains(got, testKey) {
			t.Errorf("Sprintf(%s) shows the key: %s", verb, got)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		modify func(*Spec)
		want   string // substring of the error; "" for none
	}{
		{"ok", func(*Spec) {}, ""},
		{"one mon", func(s *Spec) { s.Mons = s.Mons[:1] }, ""},
		{"no mons", func(s *Spec) { s.Mons = nil }, "sidus.ceph.mon="},
		{"empty mon", func(s *Spec) { s.Mons = []string{""} }, "sidus.ceph.mon="},
		{"mon with comma", func(s *Spec) { s.Mons = []string{"a:1,b:2"} }, "not ip:port"},
		{"empty pool", func(s *Spec) { s.Pool = "" }, "pool name"},
		{"pool with slash", func(s *Spec) { s.Pool = "a/b" }, "pool name"},
		{"image with space", func(s *Spec) { s.Image = "a b" }, "image name"},
		{"empty snap", func(s *Spec) { s.Snap = "" }, "snapshot name"},
		{"snap with slash", func(s *Spec) { s.Snap = "x/y" }, "snapshot name"},
		{"empty user", func(s *Spec) { s.User = "" }, "cephx user"},
		{"user with comma", func(s *Spec) { s.User = "a,b" }, "cephx user"},
		{"client. prefix", func(s *Spec) { s.User = "client.sidus" }, "without \"client.\""},
		{"empty key", func(s *Spec) { s.Key = "" }, "no cephx key"},
		{"bad key", func(s *Spec) { s.Key = "not*base64!" }, "not base64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := spec()
			tt.modify(&s)
			err := s.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate: nil, want error with %q", tt.want)
			case err != nil && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate: %v, want %q in it", err, tt.want)
			}
			if err != nil && s.Key != "" && strings.Contains(err.Error(), s.Key) {
				t.Errorf("error holds the key: %v", err)
			}
		})
	}
}

func TestParseKeyring(t *testing.T) {
	const two = `# sidus keyring
[client.admin]
	key = AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==
	caps mon = "allow *"
; the node's own
[client.sidus]
    caps osd = "profile rbd-read-only"
    key=` + testKey + `   # inline
`
	for _, tt := range []struct {
		name, data, user  string
		wantName, wantKey string
		wantErr           string
	}{
		{"first", two, "", "admin", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", ""},
		{"named", two, "sidus", "sidus", testKey, ""},
		{"named with prefix", two, "client.sidus", "sidus", testKey, ""},
		{"not found", two, "bob", "", "", "no [client.bob] section (sections: [client.admin], [client.sidus])"},
		{"skip non-client", "[mon.]\n key = " + testKey + "\n[client.x]\nkey = " + testKey + "\n", "", "x", testKey, ""},
		{"no client section", "[mon.]\n key = " + testKey + "\n", "", "", "", "no [client.NAME] section (sections: [mon.])"},
		{"empty", "", "", "", "", "sections: none"},
		{"missing key", "[client.sidus]\n caps mon = \"allow r\"\n[client.other]\nkey = " + testKey + "\n", "sidus", "", "", "[client.sidus] has no \"key =\" line"},
		{"missing key at end", "[client.sidus]\n caps mon = \"allow r\"\n", "", "", "", "[client.sidus] has no \"key =\" line"},
		{"empty key", "[client.sidus]\nkey =\n", "", "", "", "empty key"},
		{"bad key", "[client.sidus]\nkey = " + testKey[:10] + "*secret*\n", "", "", "", "line 2: the key of [client.sidus] is not base64"},
		{"garbage line", "[client.sidus]\nkey AQBq8Q5n\n", "", "", "", "line 2 in [client.sidus]: not \"name = value\""},
		{"bad header", "[client.sidus\nkey = " + testKey + "\n", "", "", "", "line 1: section header without ']'"},
		{"crlf", "[client.sidus]\r\n\tkey = " + testKey + "\r\n", "", "sidus", testKey, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name, key, err := ParseKeyring([]byte(tt.data), tt.user)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKeyring: %v, want error with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), testKey[:10]) {
					t.Errorf("error holds the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeyring: %v", err)
			}
			if name != tt.wantName || key != tt.wantKey {
				t.Errorf("ParseKeyring = %q, %q; want %q, %q", name, key, tt.wantName, tt.wantKey)
			}
		})
	}
}

func sysfs(devs ...device) fstest.MapFS {
	m := fstest.MapFS{}
	for _, d := range devs {
		m[d.id+"/pool"] = &fstest.MapFile{Data: []byte(d.pool + "\n")}
		m[d.id+"/name"] = &fstest.MapFile{Data: []byte(d.image + "\n")}
		m[d.id+"/current_snap"] = &fstest.MapFile{Data: []byte(d.snap + "\n")}
		m[d.id+"/size"] = &fstest.MapFile{Data: []byte("1073741824\n")}
	}
	return m
}

func TestFindDevice(t *testing.T) {
	s := spec()
	fsys := sysfs(
		device{"0", "images", "rocky9", "v41"},
		device{"10", "images", "rocky9", "v42"},
		device{"2", "images", "rocky9", "v42"},
		device{"3", "other", "rocky9", "v42"},
	)
	fsys["9/pool"] = &fstest.MapFile{Data: []byte("images\n")} // half a device: skipped
	if id, err := FindDevice(fsys, s); err != nil || id != "2" {
		t.Errorf("FindDevice = %q, %v; want 2 (the lowest match)", id, err)
	}

	s.Snap = "v43"
	_, err := FindDevice(fsys, s)
	if err == nil || !strings.Contains(err.Error(), "no rbd device maps images/rocky9@v43; mapped: 0 (images/rocky9@v41), 2 (images/rocky9@v42), 3 (other/rocky9@v42), 10 (images/rocky9@v42)") {
		t.Errorf("FindDevice: %v", err)
	}
	if _, err := FindDevice(fstest.MapFS{}, s); err == nil || !strings.Contains(err.Error(), "mapped: none") {
		t.Errorf("FindDevice on no devices: %v", err)
	}
}

func TestNewDevice(t *testing.T) {
	for _, tt := range []struct {
		before, after []string
		want          string
	}{
		{nil, []string{"0"}, "0"},
		{[]string{"0"}, []string{"0", "1"}, "1"},
		{[]string{"1"}, []string{"0", "1"}, "0"},
		{[]string{"0"}, []string{"0"}, "0"},
		{nil, nil, ""},
	} {
		if got := newDevice(tt.before, tt.after); got != tt.want {
			t.Errorf("newDevice(%v, %v) = %q, want %q", tt.before, tt.after, got, tt.want)
		}
	}
}

func TestAddError(t *testing.T) {
	s := spec()
	cause := errors.New("errno")
	for _, tt := range []struct {
		kind failure
		want string
	}{
		{failNotFound, "pool/image/snap not found: check `rbd snap ls images/rocky9`"},
		{failRefused, "cephx refused client.sidus: check the keyring packed with --ceph-keyring and its caps (profile rbd-read-only)"},
		{failUnreachable, "no monitor answered at 10.0.0.1:6789,10.0.0.2:6789: check sidus.ceph.mon="},
		{failInvalid, "the kernel rejected the map request"},
		{failOther, "mapping failed"},
	} {
		err := addError(tt.kind, s, cause)
		if !strings.Contains(err.Error(), tt.want) || !errors.Is(err, cause) || strings.Contains(err.Error(), testKey) {
			t.Errorf("addError(%d) = %v, want %q, wrapping the cause, no key", tt.kind, err, tt.want)
		}
	}
}
