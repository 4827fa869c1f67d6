package lab

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TgtdPortal is the iSCSI portal of a lab started with Tgtd.
func (l *Lab) TgtdPortal() string { return l.ServerIP + ":3260" }

// startTgtd starts tgtd in the lab: its control socket is in the lab's
// private /var/run/tgtd, where the lab's tgtadm finds it.
func (l *Lab) startTgtd() error { return l.runTgtd(l.TgtdPortal()) }

func (l *Lab) runTgtd(portal string) error {
	d, err := l.Run("tgtd", "tgtd", "-f", "--iscsi", "portal="+portal)
	if err != nil {
		return err
	}
	return l.waitReady(d, 10*time.Second, func() error {
		_, err := l.Exec(l.ctx, "tgtadm", "--lld", "iscsi", "--op", "show", "--mode", "sys")
		return err
	})
}

// StartTgtd starts tgtd again (after Kill); the targets must be added
// again, as after a real restart of a target without its config.
func (l *Lab) StartTgtd() error { return l.startTgtd() }

// StartTgtdAt starts tgtd (after Kill) listening on portal (IP:PORT) only,
// e.g. a second address of the server, for a portal failover.
func (l *Lab) StartTgtdAt(portal string) error { return l.runTgtd(portal) }

// Tgtadm runs tgtadm --lld iscsi ARGS... in the lab (tgtd must run).
func (l *Lab) Tgtadm(args ...string) error {
	_, err := l.Exec(l.ctx, append([]string{"tgtadm", "--lld", "iscsi"}, args...)...)
	return err
}

// ISCSITarget describes one tgtd target for Lab.AddISCSITarget.
type ISCSITarget struct {
	TID   int    // target id (>= 1, unique in the lab)
	Name  string // IQN
	Image string // backing file of LUN 1
	// Username/Password, if set, is a CHAP account the initiator must log
	// in with (one-way CHAP); OutUsername/OutPassword, if set, is the
	// target's own account for mutual CHAP.
	Username, Password       string
	OutUsername, OutPassword string
}

// AddISCSITarget creates the target, its LUN 1 on Image, the CHAP accounts
// and binds it to all initiators (tgtd must run: Options.Tgtd).
func (l *Lab) AddISCSITarget(tg ISCSITarget) error {
	tid := strconv.Itoa(tg.TID)
	steps := [][]string{
		{"--op", "new", "--mode", "target", "--tid", tid, "-T", tg.Name},
		{"--op", "new", "--mode", "logicalunit", "--tid", tid, "--lun", "1", "-b", tg.Image},
		{"--op", "bind", "--mode", "target", "--tid", tid, "-I", "ALL"},
	}
	// Account names are global in tgtd; create each once.
	if tg.Username != "" {
		steps = append(steps,
			[]string{"--op", "new", "--mode", "account", "--user", tg.Username, "--password", tg.Password},
			[]string{"--op", "bind", "--mode", "account", "--tid", tid, "--user", tg.Username})
	}
	if tg.OutUsername != "" {
		steps = append(steps,
			[]string{"--op", "new", "--mode", "account", "--user", tg.OutUsername, "--password", tg.OutPassword},
			[]string{"--op", "bind", "--mode", "account", "--tid", tid, "--user", tg.OutUsername, "--outgoing"})
	}
	for _, s := range steps {
		if err := l.Tgtadm(s...); err != nil {
			return fmt.Errorf("target %s: %w", tg.Name, redact(err, tg.Password, tg.OutPassword))
		}
	}
	return nil
}

// RemoveISCSITarget deletes target tid and its LUNs (--force: even with
// sessions), e.g. to simulate a target that is down.
func (l *Lab) RemoveISCSITarget(tid int) error {
	return l.Tgtadm("--op", "delete", "--mode", "target", "--tid", strconv.Itoa(tid), "--force")
}

// ShowISCSITargets returns tgtadm --op show --mode target.
func (l *Lab) ShowISCSITargets() (string, error) {
	out, err := l.Exec(l.ctx, "tgtadm", "--lld", "iscsi", "--op", "show", "--mode", "target")
	return string(out), err
}

func redact(err error, secrets ...string) error {
	s := err.Error()
	for _, x := range secrets {
		if x != "" {
			s = strings.ReplaceAll(s, x, "<redacted>")
		}
	}
	return fmt.Errorf("%s", s)
}
