// Package rbd maps a Ceph RBD snapshot with the kernel's own RBD client
// (the rbd module) through sysfs, as the rbd tool does, but without it:
// one line written to /sys/bus/rbd/add_single_major (see the kernel's
// Documentation/ABI/testing/sysfs-bus-rbd), then the device found under
// /sys/bus/rbd/devices and its /dev/rbdN node. The cephx key comes from a
// keyring in Ceph's format (ParseKeyring).
//
// The key is a secret: only AddLine holds it, and nothing here logs it or
// puts it in an error; String and GoString leave it out.
package rbd

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Spec names an RBD snapshot and how to reach it.
type Spec struct {
	// Mons are the monitors, "ip:port" each (e.g. "10.0.0.1:6789").
	Mons []string
	// User is the cephx name without "client." (e.g. "sidus"), Key its
	// base64 secret (the "key =" of the keyring). Key is a secret.
	User, Key string
	// Pool, Image and Snap name the snapshot to map (read-only, as the
	// kernel maps every snapshot).
	Pool, Image, Snap string
}

// badName says what is wrong with a pool, image, snapshot or user name
// for the add line, whose fields are separated by spaces; "" if nothing.
func badName(v string) string {
	switch {
	case v == "":
		return "is empty"
	case strings.ContainsAny(v, " \t\n/"):
		return "contains a space or a slash"
	}
	return ""
}

// Validate checks that s can be written as an add line: monitors given,
// pool, image and snapshot non-empty without spaces or slashes, a user
// and a base64 key. Its errors never hold the key.
func (s Spec) Validate() error {
	if len(s.Mons) == 0 {
		return errors.New("rbd: no monitor: check sidus.ceph.mon=")
	}
	for _, m := range s.Mons {
		if m == "" || strings.ContainsAny(m, " \t\n,/") {
			return fmt.Errorf("rbd: monitor %q is not ip:port: check sidus.ceph.mon=", m)
		}
	}
	for _, f := range []struct{ what, v string }{{"pool", s.Pool}, {"image", s.Image}, {"snapshot", s.Snap}} {
		if p := badName(f.v); p != "" {
			return fmt.Errorf("rbd: %s name %q %s: check root=rbd:POOL/IMAGE@SNAP", f.what, f.v, p)
		}
	}
	if p := badName(s.User); p != "" || strings.ContainsAny(s.User, ",=") {
		return fmt.Errorf("rbd: cephx user %q is not a name: check sidus.ceph.user= and the keyring's [client.NAME] section", s.User)
	}
	if strings.HasPrefix(s.User, "client.") {
		return fmt.Errorf("rbd: cephx user %q: give it without \"client.\" (sidus.ceph.user=)", s.User)
	}
	if s.Key == "" {
		return fmt.Errorf("rbd: no cephx key for client.%s: check the keyring packed with --ceph-keyring", s.User)
	}
	if _, err := base64.StdEncoding.DecodeString(s.Key); err != nil || strings.ContainsAny(s.Key, " ,") {
		// The error of DecodeString names only an offset; the key stays out.
		return fmt.Errorf("rbd: the cephx key of client.%s is not base64: check the keyring packed with --ceph-keyring", s.User)
	}
	return nil
}

// AddLine is the line written to /sys/bus/rbd/add_single_major:
//
//	MON1,MON2 name=USER,secret=KEY POOL IMAGE SNAP
//
// It holds the cephx secret: never log it, print it or put it in an
// error (String is the loggable form).
func (s Spec) AddLine() string {
	return fmt.Sprintf("%s name=%s,secret=%s %s %s %s", strings.Join(s.Mons, ","), s.User, s.Key, s.Pool, s.Image, s.Snap)
}

// String describes s for logs, without the secret:
// "rbd POOL/IMAGE@SNAP via MON1,MON2 as client.USER".
func (s Spec) String() string {
	return fmt.Sprintf("rbd %s/%s@%s via %s as client.%s", s.Pool, s.Image, s.Snap, strings.Join(s.Mons, ","), s.User)
}

// GoString is String, so that %#v does not print the secret either.
func (s Spec) GoString() string { return s.String() }

// ParseKeyring returns the cephx user and key of a Ceph keyring:
//
//	[client.NAME]
//		key = BASE64
//		caps mon = "profile rbd"
//
// user "" takes the first client. section, else the section client.USER.
// name is the user without "client.", ready for Spec.User. Comments (#
// or ;), blank lines and other keys are skipped. The errors say what the
// file lacks, by line number, and never quote a line (it may be the key).
func ParseKeyring(data []byte, user string) (name, key string, err error) {
	user = strings.TrimPrefix(user, "client.")
	var (
		section  string // current section, "" before the first
		found    bool   // in the wanted section
		sections []string
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return "", "", fmt.Errorf("keyring line %d: section header without ']': check the file given to --ceph-keyring", n)
			}
			if found { // the wanted section ended without a key
				break
			}
			section = strings.TrimSpace(line[1:end])
			sections = append(sections, section)
			if u, ok := strings.CutPrefix(section, "client."); ok && u != "" && (user == "" || u == user) {
				found, name = true, u
			}
			continue
		}
		if !found {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return "", "", fmt.Errorf("keyring line %d in [%s]: not \"name = value\": check the file given to --ceph-keyring", n, section)
		}
		if strings.TrimSpace(k) != "key" {
			continue // caps and the like
		}
		v = strings.TrimSpace(v)
		if i := strings.IndexAny(v, "#;"); i >= 0 { // inline comment: not base64
			v = strings.TrimSpace(v[:i])
		}
		if v == "" {
			return "", "", fmt.Errorf("keyring line %d: [%s] has an empty key: check the file given to --ceph-keyring", n, section)
		}
		if _, err := base64.StdEncoding.DecodeString(v); err != nil {
			return "", "", fmt.Errorf("keyring line %d: the key of [%s] is not base64: check the file given to --ceph-keyring", n, section)
		}
		return name, v, nil
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("reading keyring: %w", err)
	}
	if found {
		return "", "", fmt.Errorf("keyring section [client.%s] has no \"key =\" line: check the file given to --ceph-keyring", name)
	}
	have := "none"
	if len(sections) > 0 {
		have = "[" + strings.Join(sections, "], [") + "]"
	}
	if user == "" {
		return "", "", fmt.Errorf("keyring has no [client.NAME] section (sections: %s): check the file given to --ceph-keyring", have)
	}
	return "", "", fmt.Errorf("keyring has no [client.%s] section (sections: %s): check sidus.ceph.user= and --ceph-keyring", user, have)
}

// device is what sysfs says of one mapped device.
type device struct{ id, pool, image, snap string }

func (d device) String() string { return fmt.Sprintf("%s (%s/%s@%s)", d.id, d.pool, d.image, d.snap) }

func readAttr(devices fs.FS, id, attr string) (string, error) {
	b, err := fs.ReadFile(devices, id+"/"+attr)
	return strings.TrimRight(string(b), "\n"), err
}

// listDevices reads every device dir of devices (rooted at
// /sys/bus/rbd/devices), sorted by numeric id; dirs without the
// attributes are skipped.
func listDevices(devices fs.FS) ([]device, error) {
	ents, err := fs.ReadDir(devices, ".")
	if err != nil {
		return nil, err
	}
	var out []device
	for _, e := range ents {
		d := device{id: e.Name()}
		var errs [3]error
		d.pool, errs[0] = readAttr(devices, d.id, "pool")
		d.image, errs[1] = readAttr(devices, d.id, "name")
		d.snap, errs[2] = readAttr(devices, d.id, "current_snap")
		if errs[0] != nil || errs[1] != nil || errs[2] != nil {
			continue
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		a, errA := strconv.Atoi(out[i].id)
		b, errB := strconv.Atoi(out[j].id)
		if errA != nil || errB != nil {
			return out[i].id < out[j].id
		}
		return a < b
	})
	return out, nil
}

func (d device) matches(s Spec) bool {
	return d.pool == s.Pool && d.image == s.Image && d.snap == s.Snap
}

// matching returns the ids of the devices that map s, lowest first.
func matching(devs []device, s Spec) []string {
	var ids []string
	for _, d := range devs {
		if d.matches(s) {
			ids = append(ids, d.id)
		}
	}
	return ids
}

// FindDevice returns the id (the dir name, e.g. "0": /dev/rbd0) of the
// device that maps s's snapshot, from devices, an fs.FS rooted at
// /sys/bus/rbd/devices whose dirs hold the files pool, name and
// current_snap. If several do, the lowest id. If none does, the error
// lists what is mapped.
func FindDevice(devices fs.FS, s Spec) (id string, err error) {
	devs, err := listDevices(devices)
	if err != nil {
		return "", fmt.Errorf("listing /sys/bus/rbd/devices: %w: is the rbd module loaded (-m rbd)?", err)
	}
	if ids := matching(devs, s); len(ids) > 0 {
		return ids[0], nil
	}
	seen := "none"
	if len(devs) > 0 {
		var l []string
		for _, d := range devs {
			l = append(l, d.String())
		}
		seen = strings.Join(l, ", ")
	}
	return "", fmt.Errorf("no rbd device maps %s/%s@%s; mapped: %s", s.Pool, s.Image, s.Snap, seen)
}

// newDevice picks the device the last add created: a match of s not in
// before, else the lowest match.
func newDevice(before, after []string) string {
	old := map[string]bool{}
	for _, id := range before {
		old[id] = true
	}
	for _, id := range after {
		if !old[id] {
			return id
		}
	}
	if len(after) > 0 {
		return after[0]
	}
	return ""
}

// failure classifies the errno of a failed add write.
type failure int

const (
	failOther       failure = iota
	failNotFound            // ENOENT
	failRefused             // EACCES, EPERM, EKEYREJECTED
	failUnreachable         // ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH
	failInvalid             // EINVAL
)

// addError explains a failed add write of s, err being the write's
// error (an errno: it never holds the line, so never the key).
func addError(kind failure, s Spec, err error) error {
	what := s.String()
	switch kind {
	case failNotFound:
		return fmt.Errorf("%s: pool/image/snap not found: check `rbd snap ls %s/%s`: %w", what, s.Pool, s.Image, err)
	case failRefused:
		return fmt.Errorf("%s: cephx refused client.%s: check the keyring packed with --ceph-keyring and its caps (profile rbd-read-only): %w", what, s.User, err)
	case failUnreachable:
		return fmt.Errorf("%s: no monitor answered at %s: check sidus.ceph.mon=: %w", what, strings.Join(s.Mons, ","), err)
	case failInvalid:
		return fmt.Errorf("%s: the kernel rejected the map request: check the monitor addresses (sidus.ceph.mon=) and dmesg (libceph, rbd): %w", what, err)
	}
	return fmt.Errorf("%s: mapping failed: check dmesg (libceph, rbd): %w", what, err)
}
