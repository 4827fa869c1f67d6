package agent

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestShutdownOrder(t *testing.T) {
	var calls []string
	rec := func(f string, a ...any) { calls = append(calls, fmt.Sprintf(f, a...)) }
	s := &Shutdown{
		Verb:      "poweroff",
		Mountinfo: func() (string, error) { return exitrdMountinfo, nil },
		AgentPID:  func() (int, error) { return 321, nil },
		Kill:      func(pid int) error { rec("kill %d", pid); return nil },
		Sync:      func() { rec("sync") },
		Remount:   func(p string) error { rec("remount-ro %s", p); return nil },
		Unmount: func(p string, detach bool) error {
			if p == "/oldroot" && !detach {
				rec("umount %s busy", p)
				return errors.New("busy")
			}
			rec("umount %s detach=%v", p, detach)
			return nil
		},
		Logout: func() error { rec("logout"); return nil },
		Reboot: func(v string) error { rec("reboot %s", v); return errors.New("test: no reboot") },
		Logf:   func(string, ...any) {},
		Now:    time.Now,
	}
	if err := s.Run(); err == nil {
		t.Fatal("Run returned nil after a failed reboot")
	}
	want := []string{
		"kill 321", "sync",
		"remount-ro /oldroot/rw",
		"umount /oldroot/mnt/with space detach=false",
		"umount /oldroot/rw detach=false",
		"umount /oldroot/ro detach=false",
		"umount /oldroot busy", "umount /oldroot detach=true",
		"sync", "logout", "reboot poweroff",
	}
	if !reflect.DeepEqual(calls, want) {
		t.Fatalf("calls:\n%q\nwant:\n%q", calls, want)
	}
}

func TestParsePID(t *testing.T) {
	if p, err := ParsePID([]byte("42\n")); err != nil || p != 42 {
		t.Fatalf("ParsePID = %d, %v", p, err)
	}
	for _, bad := range []string{"", "x", "-1", "0"} {
		if _, err := ParsePID([]byte(bad)); err == nil {
			t.Errorf("ParsePID(%q) accepted", bad)
		}
	}
}
