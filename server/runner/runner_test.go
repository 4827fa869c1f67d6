package runner

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestCmdString(t *testing.T) {
	c := Cmd{Args: []string{"tgtadm", "--password", "s3cret", "a b", ""}, Env: []string{"X=1"}, Chroot: "/srv/t", Redact: []string{"s3cret"}}
	if got := c.String(); got != "chroot /srv/t X=1 tgtadm --password <redacted> 'a b' ''" {
		t.Errorf("String = %s", got)
	}
}

func TestExecDryRun(t *testing.T) {
	var seen []string
	e := &Exec{DryRunCB: func(c Cmd) { seen = append(seen, c.String()) }}
	if err := e.Run(context.Background(), Cmd{Args: []string{"false"}}); err != nil {
		t.Errorf("dry run ran the command: %v", err)
	}
	out, err := Output(context.Background(), e, Cmd{Args: []string{"echo", "read-only"}, ReadOnly: true})
	if err != nil || string(out) != "read-only\n" {
		t.Errorf("a read-only command must run in dry-run mode: %q, %v", out, err)
	}
	if len(seen) != 1 || seen[0] != "false" {
		t.Errorf("reported %v", seen)
	}
}

func TestExecErrors(t *testing.T) {
	e := &Exec{}
	err := e.Run(context.Background(), Cmd{Args: []string{"sh", "-c", "echo oops s3cret >&2; exit 4"}, Redact: []string{"s3cret"}})
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "oops <redacted>") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v", err)
	}
	if err := e.Run(context.Background(), Cmd{Args: []string{"no-such-program-sidus"}}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing program: %v", err)
	}
}

func TestFake(t *testing.T) {
	f := &Fake{Respond: func(c Cmd) (string, error) { return "out", nil }}
	out, _ := Output(context.Background(), f, Cmd{Args: []string{"a", "b"}})
	if string(out) != "out" || f.Lines()[0] != "a b" {
		t.Errorf("fake: %q %v", out, f.Lines())
	}
}
