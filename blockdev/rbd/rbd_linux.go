package rbd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const (
	sysRBD     = "/sys/bus/rbd"
	addSingle  = sysRBD + "/add_single_major" // present when single_major=Y, the default
	addLegacy  = sysRBD + "/add"              // refuses (EINVAL) when single_major=Y
	sysDevices = sysRBD + "/devices"
	pollEvery  = 50 * time.Millisecond
	devPrefix  = "/dev/rbd"
)

func classify(err error) failure {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return failOther
	}
	switch errno {
	case unix.ENOENT:
		return failNotFound
	case unix.EACCES, unix.EPERM, unix.EKEYREJECTED:
		return failRefused
	case unix.ETIMEDOUT, unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH:
		return failUnreachable
	case unix.EINVAL:
		return failInvalid
	}
	return failOther
}

// addFile returns the sysfs file to write the add line to.
func addFile() (string, error) {
	if _, err := os.Stat(addSingle); err == nil {
		return addSingle, nil
	}
	if _, err := os.Stat(addLegacy); err == nil {
		return addLegacy, nil
	}
	if _, err := os.Stat(sysRBD); err != nil {
		return "", fmt.Errorf("%s missing: is the rbd module loaded (initramfs packed with -m rbd)?: %w", sysRBD, err)
	}
	return "", fmt.Errorf("neither %s nor %s exists: is this kernel's rbd module usable?", addSingle, addLegacy)
}

// write writes line to path in one write(2), as sysfs wants it. Its
// error is a *os.PathError with the errno: it never holds line.
func write(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte(line))
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// Map maps s's snapshot with the kernel RBD client and returns its node,
// "/dev/rbdN". It writes AddLine to /sys/bus/rbd/add_single_major (or to
// /sys/bus/rbd/add on a kernel whose rbd module has single_major=N),
// finds the new device under /sys/bus/rbd/devices, then waits up to
// timeout, polling every 50 ms, for devtmpfs to create /dev/rbdN.
//
// The write blocks until the cluster answers (or libceph's own ~60 s
// mount timeout): it runs in a goroutine so that ctx's cancellation
// returns at once, but the kernel finishes it regardless, so a device
// may still appear after a cancelled Map. The errors say whether the
// snapshot, the cephx user or the monitors are at fault; none holds the
// key.
func Map(ctx context.Context, s Spec, timeout time.Duration) (dev string, err error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	path, err := addFile()
	if err != nil {
		return "", fmt.Errorf("%s: %w", s, err)
	}
	devices := os.DirFS(sysDevices)
	var before []string
	if devs, err := listDevices(devices); err == nil {
		before = matching(devs, s)
	}

	done := make(chan error, 1) // buffered: the goroutine never blocks after a cancel
	go func() { done <- write(path, s.AddLine()) }()
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("%s: gave up waiting for the cluster: %w", s, ctx.Err())
	case err := <-done:
		if err != nil {
			return "", addError(classify(err), s, err)
		}
	}

	devs, err := listDevices(devices)
	if err != nil {
		return "", fmt.Errorf("%s: mapped, but listing %s: %w", s, sysDevices, err)
	}
	id := newDevice(before, matching(devs, s))
	if id == "" {
		_, err := FindDevice(devices, s)
		return "", fmt.Errorf("%s: the kernel accepted the map request but: %w", s, err)
	}
	dev = devPrefix + id

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if _, err := os.Stat(dev); err == nil {
			return dev, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s: mapped as rbd%s, waiting for %s: %w", s, id, dev, ctx.Err())
		case <-deadline.C:
			return "", fmt.Errorf("%s: mapped as rbd%s, but %s did not appear within %v: is devtmpfs mounted on /dev?", s, id, dev, timeout)
		case <-tick.C:
		}
	}
}
