package initramfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// LinuxSystem is the real System.
type LinuxSystem struct{ net linuxNetwork }

var _ System = (*LinuxSystem)(nil)

func (s *LinuxSystem) Mount(source, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return &os.PathError{Op: "mount " + fstype, Path: target, Err: err}
	}
	return nil
}

func (s *LinuxSystem) MkdirAll(path string) error { return os.MkdirAll(path, 0o755) }

func (s *LinuxSystem) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (s *LinuxSystem) DirFS(dir string) fs.FS { return os.DirFS(dir) }

func (s *LinuxSystem) WriteFile(path string, data []byte, perm os.FileMode) error {
	return os.WriteFile(path, data, perm)
}

func (s *LinuxSystem) Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (s *LinuxSystem) Symlink(target, link string) error { return os.Symlink(target, link) }

func (s *LinuxSystem) LoadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}

func (s *LinuxSystem) Net() Network { return &s.net }

func (s *LinuxSystem) Now() time.Time { return time.Now() }

func (s *LinuxSystem) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
