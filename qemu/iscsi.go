package qemu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// MakeExt4Image creates path as a sizeMB MiB raw image holding an empty
// ext4 filesystem labelled label (mkfs.ext4 -L), to export as an iSCSI LUN.
func MakeExt4Image(path string, sizeMB int, label string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(sizeMB) << 20); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// No lazy init: the guest would otherwise zero inode tables in the
	// background while the test measures it.
	args := []string{"-F", "-q", "-t", "ext4", "-E", "lazy_itable_init=0,lazy_journal_init=0"}
	if label != "" {
		args = append(args, "-L", label)
	}
	if out, err := exec.Command("mkfs.ext4", append(args, path)...).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w: %s", path, err, strings.TrimSpace(string(out)))
	}
	return nil
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
// and binds it to all initiators (tgtd must run: LabOptions.Tgtd).
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

// FileSHA256 returns the hex SHA-256 of a file (e.g. a LUN's image).
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Fsck runs e2fsck -fn on an image (read-only check, no repair) and
// returns its output; err is set if it found problems.
func Fsck(image string) (string, error) {
	out, err := exec.Command("e2fsck", "-fn", image).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("e2fsck -fn %s: %w", image, err)
	}
	return string(out), nil
}

// Debugfs runs debugfs -R request on an image (read-only) and returns
// its output.
func Debugfs(image, request string) (string, error) {
	out, err := exec.Command("debugfs", "-R", request, image).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("debugfs -R %q %s: %w", request, image, err)
	}
	return string(out), nil
}
