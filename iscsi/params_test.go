package iscsi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseParams(t *testing.T) {
	for _, tt := range []struct {
		name    string
		kv      map[string]string
		want    Params
		wantErr string
	}{
		{"seed", map[string]string{KeyTargetIP: "", KeyInitiator: "iqn.2013-04.zone.sidus.target:default"},
			Params{Initiator: "iqn.2013-04.zone.sidus.target:default", Port: 3260, LUN: -1}, ""},
		{"full", map[string]string{KeyTargetIP: "10.0.0.1, 10.0.0.2:3261 [fd00::1]:3262", KeyTargetPort: "3270", KeyTargetName: "iqn.2000-01.a:b",
			KeyTargetGroup: "1", KeyUsername: "u", KeyPassword: "p p", KeyInUsername: "iu", KeyInPassword: "ip", KeyLUN: "1"},
			Params{TargetName: "iqn.2000-01.a:b", Portals: []string{"10.0.0.1", "10.0.0.2:3261", "[fd00::1]:3262"}, Port: 3270, Group: "1",
				Username: "u", Password: "p p", InUsername: "iu", InPassword: "ip", LUN: 1}, ""},
		{"bad port", map[string]string{KeyTargetPort: "99999"}, Params{}, "ISCSI_TARGET_PORT=\"99999\": expected a TCP port number"},
		{"bad portal", map[string]string{KeyTargetIP: "10.0.0.1:x"}, Params{}, "ISCSI_TARGET_IP=\"10.0.0.1:x\": expected"},
		{"bad initiator", map[string]string{KeyInitiator: "node1"}, Params{}, "ISCSI_INITIATOR=\"node1\": expected an iSCSI name"},
		{"bad group", map[string]string{KeyTargetGroup: "x"}, Params{}, "ISCSI_TARGET_GROUP"},
		{"bad lun", map[string]string{KeyLUN: "-2"}, Params{}, "ISCSI_LUN"},
		{"user without password", map[string]string{KeyUsername: "u"}, Params{}, "ISCSI_PASSWORD: expected a CHAP secret"},
		{"password without user", map[string]string{KeyPassword: "s3cr3t-value"}, Params{}, "ISCSI_USERNAME: expected a CHAP name"},
		{"mutual without one-way", map[string]string{KeyInUsername: "iu", KeyInPassword: "s3cr3t-value"}, Params{}, "mutual CHAP"},
		{"in user without password", map[string]string{KeyUsername: "u", KeyPassword: "s3cr3t-value", KeyInUsername: "iu"}, Params{}, "ISCSI_IN_PASSWORD"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseParams(tt.kv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var pe *ParamError
				if !errors.As(err, &pe) {
					t.Errorf("not a *ParamError: %T", err)
				}
				if strings.Contains(err.Error(), "s3cr3t-value") {
					t.Errorf("error leaks secret: %v", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseParams = %#v, %v\nwant %#v", got, err, tt.want)
			}
		})
	}
}

func TestPortalAddrs(t *testing.T) {
	p := Params{Portals: []string{"10.0.0.1", "10.0.0.2:3261", "[fd00::1]:3262", "fd00::2", "[fd00::3]", "srv"}, Port: 3270}
	want := []string{"10.0.0.1:3270", "10.0.0.2:3261", "[fd00::1]:3262", "[fd00::2]:3270", "[fd00::3]:3270", "srv:3270"}
	if got := p.PortalAddrs(); !reflect.DeepEqual(got, want) {
		t.Errorf("PortalAddrs = %v", got)
	}
}

func TestExpand(t *testing.T) {
	p := Params{TargetName: "iqn.2013-04.zone.sidus.target:%i", Port: 3260}
	got := p.Expand("10.0.2.15", "node1", "52:54:00:12:34:56")
	if got.TargetName != "iqn.2013-04.zone.sidus.target:10.0.2.15" || got.Initiator != "iqn.2013-04.zone.sidus:525400123456" || got.ClientIP != "10.0.2.15" {
		t.Errorf("Expand = %v", got)
	}
	p = Params{TargetName: "iqn.x:%h-%m-%%", Initiator: "iqn.2013-04.zone.sidus:%h"}
	got = p.Expand("10.0.2.15", "node1", "52:54:00:AB:34:56")
	if got.TargetName != "iqn.x:node1-525400ab3456-%" || got.Initiator != "iqn.2013-04.zone.sidus:node1" {
		t.Errorf("Expand = %v", got)
	}
	if got := (Params{}).Expand("1.2.3.4", "", ""); got.Initiator != "" {
		t.Errorf("initiator derived without MAC: %q", got.Initiator)
	}
	if got := (Params{}).WithDefaultPortal("10.0.2.2"); !reflect.DeepEqual(got.Portals, []string{"10.0.2.2"}) {
		t.Errorf("WithDefaultPortal = %v", got.Portals)
	}
	if got := (Params{Portals: []string{"a"}}).WithDefaultPortal("10.0.2.2"); !reflect.DeepEqual(got.Portals, []string{"a"}) {
		t.Errorf("WithDefaultPortal overrode %v", got.Portals)
	}
}

func TestCanonicalize(t *testing.T) {
	for _, tt := range []struct{ key, value, want string }{
		{"ISCSI_INITIATOR", "", KeyInitiator},
		{"iscsi_initiator", "", KeyInitiator},
		{"iscsi_target_ip", "", KeyTargetIP},
		{"rd.iscsi.initiator", "", KeyInitiator},
		{"rd.iscsi.target.name", "", KeyTargetName},
		{"rd.iscsi.target.ip", "", KeyTargetIP},
		{"rd.iscsi.target.port", "", KeyTargetPort},
		{"rd.iscsi.target.group", "", KeyTargetGroup},
		{"rd.iscsi.username", "", KeyUsername},
		{"rd.iscsi.password", "", KeyPassword},
		{"rd.iscsi.in.username", "", KeyInUsername},
		{"rd.iscsi.in.password", "", KeyInPassword},
		{"Iscsi_Initiator", "", ""},
		{"ip", "dhcp", ""},
		{"rd.iscsi.firmware", "1", ""},
	} {
		got, ok := Canonicalize(tt.key)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("Canonicalize(%q) = %q, %v; want %q", tt.key, got, ok, tt.want)
		}
	}
}

func TestIsSecret(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"ISCSI_PASSWORD", true},
		{"iscsi_password", true},
		{"rd.iscsi.password", true},
		{"RD.ISCSI.PASSWORD", true}, // Canonicalize folds the case of dracut names
		{"ISCSI_IN_PASSWORD", true},
		{"iscsi_in_password", true},
		{"rd.iscsi.in.password", true},
		{"ISCSI_USERNAME", false},
		{"ISCSI_IN_USERNAME", false},
		{"rd.iscsi.username", false},
		{"ISCSI_TARGET_NAME", false},
		{"ISCSI_PASSWORD_X", false},
		{"PASSWORD", false},
		{"ISCSI_PASSWORD=", false}, // a key, not an environment entry
		{"", false},
	} {
		if got := IsSecret(tt.name); got != tt.want {
			t.Errorf("IsSecret(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, k := range SecretKeys {
		if c, ok := Canonicalize(k); !ok || c != k || !IsSecret(k) {
			t.Errorf("SecretKeys entry %q is not a canonical key", k)
		}
	}
	// A key added later that holds a password must be listed too.
	for k := range canonical {
		if IsSecret(k) != strings.HasSuffix(k, "PASSWORD") {
			t.Errorf("IsSecret(%q) = %v: update SecretKeys", k, IsSecret(k))
		}
	}
}

func TestReadConf(t *testing.T) {
	in := `# /etc/iscsi.initramfs
ISCSI_INITIATOR=iqn.2013-04.zone.sidus:node
export ISCSI_TARGET_NAME="iqn.2000-01.a:b"
ISCSI_TARGET_IP='10.0.0.1 10.0.0.2'   # two portals
ISCSI_TARGET_PORT=3260 # comment

ISCSI_PASSWORD="a \"quoted\" pass"
ISCSI_USERNAME=
`
	got, err := ReadConf(strings.NewReader(in))
	want := map[string]string{
		KeyInitiator: "iqn.2013-04.zone.sidus:node", KeyTargetName: "iqn.2000-01.a:b", KeyTargetIP: "10.0.0.1 10.0.0.2",
		KeyTargetPort: "3260", KeyPassword: `a "quoted" pass`, KeyUsername: "",
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ReadConf = %v, %v", got, err)
	}
	for _, bad := range []string{"NOEQUALS\n", "1KEY=x\n", "K=\"unterminated\n", "K='x\n", "K=a b\n"} {
		if _, err := ReadConf(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ReadConf(%q) err = %v", bad, err)
		}
	}
}

// TestNoSecretsInOutput checks String, %v, %+v, %#v and errors for secrets.
func TestNoSecretsInOutput(t *testing.T) {
	p := Params{Initiator: tInit, TargetName: tName, Portals: []string{"10.0.0.1"}, Port: 3260,
		Username: "node", Password: secret, InUsername: "tgt", InPassword: inSec, LUN: -1}
	for _, s := range []string{p.String(), fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, p)} {
		noSecrets(t, s)
		if !strings.Contains(s, "<redacted>") || !strings.Contains(s, "node") {
			t.Errorf("String() = %q", s)
		}
	}
	if s := (Params{}).String(); !strings.Contains(s, "password=<unset>") {
		t.Errorf("String() = %q", s)
	}
	// Login errors through the fake target, including mutual failures.
	f := fakeTarget{targets: []string{tName}, user: "node", pass: "x"}
	_, err := loginFake(t, &f, LoginOptions{TargetName: tName, Username: "node", Password: secret, InUsername: "tgt", InPassword: inSec})
	if err == nil {
		t.Fatal("login succeeded")
	}
	noSecrets(t, err.Error())
	// Kernel Login error path: the whole Params is in the message.
	le := &LoginError{Class: 2, Detail: 1, Target: tName, Portal: "p"}
	noSecrets(t, le.Error())
	// State file.
	dir := t.TempDir()
	s := &Session{Target: tName, Portal: "10.0.0.1:3260", Initiator: tInit, SID: 1, Host: 2, Devices: []string{"/dev/sda", "/dev/sda1"}, Auth: "CHAP"}
	if err := s.WriteState(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	noSecrets(t, string(b))
	for _, want := range []string{"ISCSI_TARGET_NAME='" + tName + "'", "ISCSI_PORTAL='10.0.0.1:3260'", "ISCSI_SID=1", "ISCSI_HOST=2", "ISCSI_DEVICES='/dev/sda /dev/sda1'", "ISCSI_INITIATOR='" + tInit + "'"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("state file lacks %s:\n%s", want, b)
		}
	}
}
