package initramfs

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/iscsi"
)

// fakeISCSI replaces the iSCSI stage's seams for one test.
func fakeISCSI(t *testing.T, login func(iscsi.Params) (*iscsi.Session, error), labels map[string]string) *[]iscsi.Params {
	t.Helper()
	var seen []iscsi.Params
	oldLogin, oldFind, oldType := iscsiLogin, findLabel, readFSType
	t.Cleanup(func() { iscsiLogin, findLabel, readFSType = oldLogin, oldFind, oldType })
	iscsiLogin = func(_ context.Context, p iscsi.Params, _ func(string, ...any)) (*iscsi.Session, error) {
		seen = append(seen, p)
		return login(p)
	}
	findLabel = func(devs []string, label string) (string, map[string]string, error) {
		for _, d := range devs {
			if labels[d] == label {
				return d, labels, nil
			}
		}
		return "", labels, errors.New("no such label")
	}
	readFSType = func(string) (string, error) { return "ext4", nil }
	return &seen
}

const seedISCSI = "console=tty1 root=/dev/nfs initrd=initrd.img-Sidus nfsroot=,rsize=8192,wsize=8192,tcp ip=dhcp aufs=iscsi ISCSI_TARGET_IP= ISCSI_INITIATOR=iqn.2013-04.zone.sidus.target:default root=LABEL=ISCSI "

func TestBootISCSISeedLine(t *testing.T) {
	f := newFake()
	f.files["/etc/iscsi.initramfs"] = "ISCSI_USERNAME=node5\nISCSI_PASSWORD='s3cret-123456'\n"
	seen := fakeISCSI(t, func(p iscsi.Params) (*iscsi.Session, error) {
		return &iscsi.Session{Target: "iqn.t:10.0.0.5", Portal: "10.0.0.2:3260", Devices: []string{"/dev/sda"}}, nil
	}, map[string]string{"/dev/sda": "ISCSI"})
	var log strings.Builder
	cfg, err := Parse(seedISCSI, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := Boot(context.Background(), cfg, f, f, NewLogger(&log, nil))
	if len(*seen) != 1 {
		t.Fatalf("logins: %d", len(*seen))
	}
	p := (*seen)[0]
	// Empty ISCSI_TARGET_IP: the DHCP next-server; the conf file's
	// credentials; the client IP for the per-client target.
	if strings.Join(p.Portals, ",") != "10.0.0.2" || p.Username != "node5" || p.Password != "s3cret-123456" ||
		p.Initiator != "iqn.2013-04.zone.sidus.target:default" || p.ClientIP != "10.0.0.5" {
		t.Errorf("params: %#v (portals %v, user %q, client %q)", p, p.Portals, p.Username, p.ClientIP)
	}
	if has(f.calls, "mount /dev/sda /rw ext4") < 0 || res.UpperDev != "/dev/sda iqn.t:10.0.0.5" {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
	if strings.Contains(log.String(), "s3cret") {
		t.Errorf("the password shows in the log")
	}
}

func TestBootISCSIFallbackTmpfs(t *testing.T) {
	f := newFake()
	fakeISCSI(t, func(iscsi.Params) (*iscsi.Session, error) { return nil, errors.New("connection refused") }, nil)
	var log strings.Builder
	cfg, _ := Parse(seedISCSI+" sidus.iscsi.fallback=tmpfs", nil)
	res, _ := Boot(context.Background(), cfg, f, f, NewLogger(&log, nil))
	if has(f.calls, "mount tmpfs /rw tmpfs") < 0 || res.Upper != UpperTmpfs || !strings.Contains(log.String(), "NOTHING WRITTEN ON THIS NODE WILL PERSIST") {
		t.Errorf("calls:\n%s\nlog:\n%s", strings.Join(f.calls, "\n"), log.String())
	}
}

// A wrong password is not retried: the target said no.
func TestBootISCSIAuthFailureIsFatal(t *testing.T) {
	f := newFake()
	seen := fakeISCSI(t, func(iscsi.Params) (*iscsi.Session, error) {
		return nil, &iscsi.LoginError{Class: 2, Detail: 1, Target: "iqn.t", Portal: "10.0.0.2:3260"}
	}, nil)
	cfg, _ := Parse(seedISCSI, nil)
	_, err := Boot(context.Background(), cfg, f, f, NewLogger(io.Discard, nil))
	if err == nil || !iscsi.IsAuthFailure(err) || len(*seen) != 1 || f.switched != "" {
		t.Errorf("err %v, logins %d, switched %q", err, len(*seen), f.switched)
	}
}

// The listing of the labels found comes from fslabel.Find (unit-tested
// there, and end to end in e2e); here the stage must name the label and
// the target and stop.
func TestBootISCSIWrongLabel(t *testing.T) {
	f := newFake()
	fakeISCSI(t, func(iscsi.Params) (*iscsi.Session, error) {
		return &iscsi.Session{Target: "iqn.t", Devices: []string{"/dev/sda"}}, nil
	}, map[string]string{"/dev/sda": "DATA"})
	cfg, _ := Parse(seedISCSI+" root=LABEL=NOPE", nil)
	_, err := Boot(context.Background(), cfg, f, f, NewLogger(io.Discard, nil))
	if err == nil || !strings.Contains(err.Error(), "root=LABEL=NOPE: on the LUN of iqn.t") || f.switched != "" {
		t.Errorf("err = %v", err)
	}
}
