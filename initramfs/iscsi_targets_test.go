package initramfs

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sidus-go/sidus/initramfs/cmdline"
	"github.com/sidus-go/sidus/iscsi"
)

const (
	tgtData = "iqn.2013-04.zone.sidus.target:data"
	tgtRW   = "iqn.2013-04.zone.sidus.target:rw"
)

// sessionsByTarget is a fake login: each target has its own session and disk.
func sessionsByTarget(devs map[string]string) func(iscsi.Params) (*iscsi.Session, error) {
	sid := 0
	return func(p iscsi.Params) (*iscsi.Session, error) {
		d, ok := devs[p.TargetName]
		if !ok {
			return nil, errors.New("no such target")
		}
		sid++
		return &iscsi.Session{Target: p.TargetName, Portal: p.Portals[0] + ":3260", SID: sid, Devices: []string{d}}, nil
	}
}

// Two netroot=iscsi targets: both logged in, each with its own portal,
// LUN and CHAP and the shared initiator; the labelled one is /rw (it is
// the second), the other is left to the root and described apart.
func TestBootISCSISeveralTargets(t *testing.T) {
	f := newFake()
	var fi fakeISCSI
	opts := fi.stage(sessionsByTarget(map[string]string{tgtData: "/dev/sda", tgtRW: "/dev/sdb"}), map[string]string{"/dev/sda": "DATA", "/dev/sdb": "ISCSI"})
	var log strings.Builder
	line := cmdline.SeedTmpfs + " aufs=iscsi root=LABEL=ISCSI ISCSI_INITIATOR=iqn.2013-04.zone.sidus:node5" +
		" netroot=iscsi:u1:p4ssw0rd-0001@10.0.0.7::3261:2:" + tgtData +
		" netroot=iscsi:10.0.0.8::::" + tgtRW
	res, err := bootWith(t, f, line, &log, opts)
	if err == nil || !strings.Contains(err.Error(), "exec stopped by test") {
		t.Fatalf("Boot: %v\n%s", err, log.String())
	}
	if len(fi.logins) != 2 {
		t.Fatalf("logins: %d", len(fi.logins))
	}
	a, b := fi.logins[0], fi.logins[1]
	if a.TargetName != tgtData || a.Portals[0] != "10.0.0.7" || a.Port != 3261 || a.LUN != 2 || a.Username != "u1" || a.Initiator != "iqn.2013-04.zone.sidus:node5" {
		t.Errorf("first target: %s (port %d, LUN %d)", a, a.Port, a.LUN)
	}
	if b.TargetName != tgtRW || b.Portals[0] != "10.0.0.8" || b.Port != 3260 || b.LUN != -1 || b.Username != "" || b.Password != "" || b.Initiator != a.Initiator {
		t.Errorf("second target took the first's values: %s (port %d, LUN %d)", b, b.Port, b.LUN)
	}
	if has(f.calls, "mount /dev/sdb /rw ext4") < 0 || has(f.calls, "mount /dev/sda") >= 0 || res.UpperDev != "/dev/sdb "+tgtRW {
		t.Errorf("upper %q, calls:\n%s", res.UpperDev, strings.Join(f.calls, "\n"))
	}
	if st := f.files[StateDir+"/"+iscsi.StateFile]; !strings.Contains(st, "ISCSI_TARGET_NAME='"+tgtRW+"'") {
		t.Errorf("session state of /rw: %q", st)
	}
	if st := f.files[StateDir+"/"+iscsi.StateFile+".1"]; !strings.Contains(st, "ISCSI_TARGET_NAME='"+tgtData+"'") {
		t.Errorf("session state of the other target: %q", st)
	}
	for _, want := range []string{"iSCSI: target 1 of 2:", "iSCSI: target 2 of 2:", "iSCSI: " + tgtData + " (session 1): devices [/dev/sda] left to the booted system", "iSCSI: /rw is on /dev/sdb of " + tgtRW} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	if strings.Contains(log.String(), "p4ssw0rd") || strings.Contains(log.String(), "every iSCSI target but the first") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestBootISCSISeveralTargetsNoLabel(t *testing.T) {
	f := newFake()
	var fi fakeISCSI
	opts := fi.stage(sessionsByTarget(map[string]string{tgtData: "/dev/sda", tgtRW: "/dev/sdb"}), map[string]string{"/dev/sda": "DATA"})
	_, err := bootWith(t, f, cmdline.SeedTmpfs+" aufs=iscsi netroot=iscsi:10.0.0.7::::"+tgtData+" netroot=iscsi:10.0.0.7::::"+tgtRW, io.Discard, opts)
	if err == nil || !strings.Contains(err.Error(), "root=LABEL=ISCSI: on the LUNs of "+tgtData+", "+tgtRW) || f.switched != "" {
		t.Errorf("err = %v", err)
	}
	f = newFake()
	_, err = bootWith(t, f, cmdline.SeedTmpfs+" aufs=iscsi sidus.format=empty netroot=iscsi:10.0.0.7::::"+tgtData+" netroot=iscsi:10.0.0.7::::"+tgtRW, io.Discard, opts)
	if err == nil || !strings.Contains(err.Error(), "sidus.format=empty with 2 iSCSI targets") {
		t.Errorf("format=empty: %v", err)
	}
}

// One netroot= target keeps the single-target path: one login, its
// messages.
func TestBootISCSIOneNetrootTarget(t *testing.T) {
	f := newFake()
	var fi fakeISCSI
	opts := fi.stage(sessionsByTarget(map[string]string{tgtRW: "/dev/sda"}), map[string]string{"/dev/sda": "ISCSI"})
	var log strings.Builder
	_, _ = bootWith(t, f, cmdline.SeedTmpfs+" aufs=iscsi netroot=iscsi:10.0.0.7::::"+tgtRW, &log, opts)
	if len(fi.logins) != 1 || strings.Contains(log.String(), "target 1 of") || !strings.Contains(log.String(), "mounted /dev/sda (ext4, LABEL=ISCSI) at /rw") {
		t.Errorf("logins %d, log:\n%s", len(fi.logins), log.String())
	}
}

// ibftFiles is a /sys/firmware/ibft with one target and one static NIC.
func ibftFiles(f *fakeSys) {
	for p, v := range map[string]string{
		"initiator/initiator-name": "iqn.2013-04.zone.sidus:fw-node",
		"target0/flags":            "3",
		"target0/ip-addr":          "10.0.0.3",
		"target0/port":             "3260",
		"target0/lun":              "00000000",
		"target0/target-name":      tgtRW,
		"target0/chap-type":        "1",
		"target0/chap-name":        "fwuser",
		"target0/chap-secret":      "fw-s3cret-0001",
		"ethernet0/flags":          "3",
		"ethernet0/mac":            "52:54:00:12:34:99",
		"ethernet0/ip-addr":        "10.0.0.44",
		"ethernet0/subnet-mask":    "255.255.255.0",
		"ethernet0/gateway":        "10.0.0.1",
		"ethernet0/origin":         "1",
	} {
		f.files[iscsi.IBFTDir+"/"+p] = v + "\n"
	}
}

// iscsi_auto: the target, its CHAP and the initiator from the iBFT, and
// the NIC it names (by MAC) configured as the firmware was.
func TestBootISCSIAutoFromIBFT(t *testing.T) {
	f := newFake()
	ibftFiles(f)
	f.links = append(f.links, Link{Name: "eth1", MAC: "52:54:00:12:34:99", Carrier: true, OperUp: true})
	var fi fakeISCSI
	opts := fi.stage(sessionsByTarget(map[string]string{tgtRW: "/dev/sda"}), map[string]string{"/dev/sda": "ISCSI"})
	var log strings.Builder
	_, _ = bootWith(t, f, "nfsroot=10.0.0.2:/srv/sidus aufs=iscsi iscsi_auto", &log, opts)
	if has(f.calls, "configure eth1 10.0.0.44") < 0 || has(f.calls, "dhcp") >= 0 {
		t.Errorf("the iBFT NIC is not configured statically:\n%s", strings.Join(f.calls, "\n"))
	}
	if len(fi.logins) != 1 {
		t.Fatalf("logins %d\n%s", len(fi.logins), log.String())
	}
	p := fi.logins[0]
	if p.TargetName != tgtRW || p.Portals[0] != "10.0.0.3" || p.LUN != 0 || p.Username != "fwuser" || p.Password != "fw-s3cret-0001" || p.Initiator != "iqn.2013-04.zone.sidus:fw-node" {
		t.Errorf("params %s (LUN %d)", p, p.LUN)
	}
	if strings.Contains(log.String(), "fw-s3cret") || strings.Contains(log.String(), "not acted on") {
		t.Errorf("log:\n%s", log.String())
	}
	// The command line wins over the firmware.
	f = newFake()
	ibftFiles(f)
	fi = fakeISCSI{}
	opts = fi.stage(sessionsByTarget(map[string]string{tgtRW: "/dev/sda"}), map[string]string{"/dev/sda": "ISCSI"})
	_, _ = bootWith(t, f, cmdline.SeedTmpfs+" aufs=iscsi rd.iscsi.firmware ISCSI_INITIATOR=iqn.2013-04.zone.sidus:cmdline", io.Discard, opts)
	if len(fi.logins) != 1 || fi.logins[0].Initiator != "iqn.2013-04.zone.sidus:cmdline" || has(f.calls, "dhcp eth0") < 0 {
		t.Errorf("logins %v, calls:\n%s", fi.logins, strings.Join(f.calls, "\n"))
	}
}

// Without an iBFT, rd.iscsi.firmware says so and the boot goes on with
// the command line.
func TestBootNoIBFT(t *testing.T) {
	f := newFake()
	var log strings.Builder
	_, _ = bootWith(t, f, "root=/dev/nfs nfsroot=10.0.0.2:/srv/sidus ip=ibft", &log, Options{})
	if !strings.Contains(log.String(), "warning: iBFT: ") || !strings.Contains(log.String(), "iscsi_ibft is packed") || has(f.calls, "dhcp eth0") < 0 {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestFatalPlan(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		panicSecs int
		shell     *bool
		want      FatalPlan
	}{
		{0, nil, FatalPlan{Shell: true}},
		{5, nil, FatalPlan{PanicSecs: 5, Reboot: true}},
		{-1, nil, FatalPlan{PanicSecs: -1, Reboot: true}},
		{0, &yes, FatalPlan{Shell: true}},
		{5, &yes, FatalPlan{PanicSecs: 5, ShellFirst: true, Reboot: true}},
		{0, &no, FatalPlan{}},
		{5, &no, FatalPlan{PanicSecs: 5, Reboot: true}},
	} {
		if got := fatalPlan(tc.panicSecs, tc.shell); got != tc.want {
			t.Errorf("fatalPlan(%d, %v) = %+v, want %+v", tc.panicSecs, tc.shell, got, tc.want)
		}
	}
}

// rd.break= opens the rescue shell before the stage its dracut name maps
// to, as break= does; rd.shell is no longer "not acted on".
func TestBootRdBreakAndShell(t *testing.T) {
	f := newFake()
	var log strings.Builder
	_, _ = bootWith(t, f, cmdline.SeedTmpfs+" rd.break=pre-mount rd.shell", &log, Options{})
	i, j := has(f.calls, "shell break=nfs"), has(f.calls, "mount 10.0.0.2:/srv/nfsroot/sidus /ro")
	if i < 0 || j < i {
		t.Errorf("calls:\n%s", strings.Join(f.calls, "\n"))
	}
	if strings.Contains(log.String(), "rd.shell is read but not acted on") {
		t.Errorf("log:\n%s", log.String())
	}
}
