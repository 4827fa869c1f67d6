package initramfs

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/iscsi"
)

// fakeISCSI is an iSCSI stage whose logins call login and whose devices
// have the filesystem labels of labels; it records the logins' parameters.
type fakeISCSI struct {
	logins []iscsi.Params
}

func (fi *fakeISCSI) stage(login func(iscsi.Params) (*iscsi.Session, error), labels map[string]string) Options {
	return Options{ISCSI: ISCSIStage{
		Login: func(_ context.Context, p iscsi.Params, _ func(string, ...any)) (*iscsi.Session, error) {
			fi.logins = append(fi.logins, p)
			return login(p)
		},
		FindLabel: func(devs []string, label string) (string, error) {
			for _, d := range devs {
				if labels[d] == label {
					return d, nil
				}
			}
			return "", errors.New("no such label")
		},
		FSType:     func(string) (string, error) { return "ext4", nil },
		FormatExt4: func(string, string, [16]byte) error { return errors.New("the test formats nothing") },
	}}
}

func TestBootISCSISeedLine(t *testing.T) {
	f := newFake()
	f.files["/etc/iscsi.initramfs"] = "ISCSI_USERNAME=node5\nISCSI_PASSWORD='s3cret-123456'\n"
	var fi fakeISCSI
	sess := &iscsi.Session{Target: "iqn.t:10.0.0.5", Portal: "10.0.0.2:3260", Devices: []string{"/dev/sda"}}
	opts := fi.stage(func(p iscsi.Params) (*iscsi.Session, error) { return sess, nil }, map[string]string{"/dev/sda": "ISCSI"})
	var log strings.Builder
	res, _ := bootWith(t, f, cmdline.SeedISCSI, &log, opts)
	if len(fi.logins) != 1 {
		t.Fatalf("logins: %d", len(fi.logins))
	}
	p := fi.logins[0]
	// Empty ISCSI_TARGET_IP: the DHCP next-server; the conf file's
	// credentials; the client IP for the per-client target.
	if strings.Join(p.Portals, ",") != "10.0.0.2" || p.Username != "node5" || p.Password != "s3cret-123456" ||
		p.Initiator != "iqn.2013-04.zone.sidus.target:default" || p.ClientIP != "10.0.0.5" {
		t.Errorf("params: %#v (portals %v, user %q, client %q)", p, p.Portals, p.Username, p.ClientIP)
	}
	if has(f.calls, "mount /dev/sda /rw ext4") < 0 || res.UpperDev != "/dev/sda iqn.t:10.0.0.5" {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
	if st := f.files[StateDir+"/"+iscsi.StateFile]; !strings.Contains(st, "ISCSI_TARGET_NAME='iqn.t:10.0.0.5'") || !strings.Contains(st, "ISCSI_SID=") {
		t.Errorf("session state %q, want the session logged in", st)
	}
	if strings.Contains(log.String(), "s3cret") {
		t.Errorf("the password shows in the log")
	}
}

func TestBootISCSIFallbackTmpfs(t *testing.T) {
	f := newFake()
	var fi fakeISCSI
	opts := fi.stage(func(iscsi.Params) (*iscsi.Session, error) { return nil, errors.New("connection refused") }, nil)
	var log strings.Builder
	res, _ := bootWith(t, f, cmdline.SeedISCSI+" sidus.iscsi.fallback=tmpfs", &log, opts)
	if has(f.calls, "mount tmpfs /rw tmpfs") < 0 || res.Upper != cmdline.UpperTmpfs || !strings.Contains(log.String(), "NOTHING WRITTEN ON THIS NODE WILL PERSIST") {
		t.Errorf("calls:\n%s\nlog:\n%s", strings.Join(f.calls, "\n"), log.String())
	}
}

// A wrong password is not retried: the target said no.
func TestBootISCSIAuthFailureIsFatal(t *testing.T) {
	f := newFake()
	var fi fakeISCSI
	opts := fi.stage(func(iscsi.Params) (*iscsi.Session, error) {
		return nil, &iscsi.LoginError{Class: 2, Detail: 1, Target: "iqn.t", Portal: "10.0.0.2:3260"}
	}, nil)
	_, err := bootWith(t, f, cmdline.SeedISCSI, io.Discard, opts)
	if err == nil || !iscsi.IsAuthFailure(err) || len(fi.logins) != 1 || f.switched != "" {
		t.Errorf("err %v, logins %d, switched %q", err, len(fi.logins), f.switched)
	}
}

// The listing of the labels found comes from fslabel.Find (unit-tested
// there, and end to end in e2e); here the stage must name the label and
// the target and stop.
func TestBootISCSIWrongLabel(t *testing.T) {
	f := newFake()
	var fi fakeISCSI
	opts := fi.stage(func(iscsi.Params) (*iscsi.Session, error) {
		return &iscsi.Session{Target: "iqn.t", Devices: []string{"/dev/sda"}}, nil
	}, map[string]string{"/dev/sda": "DATA"})
	_, err := bootWith(t, f, cmdline.SeedISCSI+" root=LABEL=NOPE", io.Discard, opts)
	if err == nil || !strings.Contains(err.Error(), "root=LABEL=NOPE: on the LUN of iqn.t") || f.switched != "" {
		t.Errorf("err = %v", err)
	}
}

// Without Options.ISCSI, aufs=iscsi stops in premount and says so; nothing
// is logged in to or mounted at /rw.
func TestBootISCSIWithoutStage(t *testing.T) {
	f := newFake()
	_, err := boot(t, f, cmdline.SeedISCSI)
	if err == nil || !strings.Contains(err.Error(), "stage premount: aufs=iscsi") || has(f.calls, "mount tmpfs /rw") >= 0 {
		t.Errorf("err = %v, calls:\n%s", err, strings.Join(f.calls, "\n"))
	}
}
