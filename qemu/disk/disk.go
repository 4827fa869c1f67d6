// Package disk makes and checks the raw disk images of the tests: ext4
// images to export as iSCSI LUNs, their checksums, e2fsck and debugfs.
package disk

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// MakeExt4 creates path as a sizeMB MiB raw image holding an empty
// ext4 filesystem labelled label (mkfs.ext4 -L), to export as an iSCSI LUN.
func MakeExt4(path string, sizeMB int, label string) error {
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

// SHA256 returns the hex SHA-256 of a file (e.g. a LUN's image).
func SHA256(path string) (string, error) {
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
