package loop

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The flags in loop.go are linux/loop.h's: these fail to compile if not.
const (
	_ = uint(flagReadOnly-unix.LO_FLAGS_READ_ONLY) + uint(unix.LO_FLAGS_READ_ONLY-flagReadOnly)
	_ = uint(flagAutoclear-unix.LO_FLAGS_AUTOCLEAR) + uint(unix.LO_FLAGS_AUTOCLEAR-flagAutoclear)
	_ = uint(fileNameSize-unix.LO_NAME_SIZE) + uint(unix.LO_NAME_SIZE-fileNameSize)
)

const (
	nodeWait  = 2 * time.Second
	pollEvery = 50 * time.Millisecond
	attempts  = 5 // LOOP_CTL_GET_FREE races with other attachers
)

// held keeps each attached device open: with LO_FLAGS_AUTOCLEAR the
// kernel detaches a loop device at its last close, so closing it before
// the caller mounts or maps it would undo Attach.
var held = struct {
	sync.Mutex
	m map[string]*os.File
}{m: map[string]*os.File{}}

// Attach attaches file to a free loop device and returns its node,
// "/dev/loopN": LOOP_CTL_GET_FREE on /dev/loop-control (made, char
// 10:237, if missing), then LOOP_CONFIGURE on /dev/loopN (waited for up
// to 2 s, then made from /sys/block/loopN/dev) with LO_FLAGS_AUTOCLEAR,
// and LO_FLAGS_READ_ONLY if readOnly. On a kernel older than 5.8,
// without LOOP_CONFIGURE, it falls back to LOOP_SET_FD and
// LOOP_SET_STATUS64.
//
// Autoclear detaches the device when its last user closes it, so no
// detach is ever needed: the device goes with the unmount (or the
// device-mapper table) that used it. Until then Attach keeps it open
// itself; the descriptor is close-on-exec, so exec'ing the real init
// drops it, and Release drops it earlier, once the device is mounted or
// mapped.
func Attach(file string, readOnly bool) (dev string, err error) {
	mode := unix.O_RDWR
	if readOnly {
		mode = unix.O_RDONLY
	}
	backing, err := unix.Open(file, mode|unix.O_CLOEXEC, 0)
	if err != nil {
		hint := "check that the image exists"
		if !readOnly && (err == unix.EROFS || err == unix.EACCES) {
			hint = "attach it read-only"
		}
		return "", fmt.Errorf("loop: opening image %s: %w: %s", file, err, hint)
	}
	defer unix.Close(backing) // the kernel holds its own reference once attached

	ctl, err := openControl()
	if err != nil {
		return "", err
	}
	defer unix.Close(ctl)

	for try := 1; ; try++ {
		n, err := unix.IoctlRetInt(ctl, unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", fmt.Errorf("loop: no free loop device (LOOP_CTL_GET_FREE on %s): %w: check the loop module's max_loop", controlPath, err)
		}
		dev = DevName(n)
		lo, err := openLoop(n, readOnly)
		if err != nil {
			return "", err
		}
		err = configure(lo, backing, file, readOnly)
		if err == nil {
			held.Lock()
			held.m[dev] = os.NewFile(uintptr(lo), dev)
			held.Unlock()
			return dev, nil
		}
		unix.Close(lo)
		if !errors.Is(err, unix.EBUSY) || try == attempts {
			return "", fmt.Errorf("loop: attaching %s to %s: %w", file, dev, err)
		}
	}
}

// Release closes the descriptor Attach keeps on dev, so that autoclear
// detaches it at its last close. Call it once dev is mounted or mapped
// (device-mapper holds it then); before that it detaches dev at once.
func Release(dev string) error {
	held.Lock()
	f, ok := held.m[dev]
	delete(held.m, dev)
	held.Unlock()
	if !ok {
		return fmt.Errorf("loop: %s was not attached by Attach, or already released", dev)
	}
	return f.Close()
}

// openControl opens /dev/loop-control, making the node if devtmpfs has not.
func openControl() (int, error) {
	fd, err := unix.Open(controlPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		if err := unix.Mknod(controlPath, unix.S_IFCHR|0o600, int(unix.Mkdev(controlMajor, controlMinor))); err != nil && err != unix.EEXIST {
			return -1, fmt.Errorf("loop: making %s (char %d:%d): %w: is /dev writable?", controlPath, controlMajor, controlMinor, err)
		}
		fd, err = unix.Open(controlPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, fmt.Errorf("loop: opening %s: %w: is the loop module loaded?", controlPath, err)
	}
	return fd, nil
}

// openLoop opens /dev/loopN, waiting for devtmpfs to create it and
// making it if it does not.
func openLoop(n int, readOnly bool) (int, error) {
	dev := DevName(n)
	if err := waitNode(dev, n); err != nil {
		return -1, err
	}
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if readOnly && (err == unix.EROFS || err == unix.EACCES) {
		fd, err = unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, fmt.Errorf("loop: opening %s: %w", dev, err)
	}
	return fd, nil
}

func waitNode(dev string, n int) error {
	for end := time.Now().Add(nodeWait); ; time.Sleep(pollEvery) {
		if _, err := os.Stat(dev); err == nil {
			return nil
		}
		if time.Now().After(end) {
			break
		}
	}
	major, minor := uint32(loopMajor), uint32(n) // loop's default max_part=0
	sys := fmt.Sprintf(sysBlockPattern, n)
	if b, err := os.ReadFile(sys); err == nil {
		if ma, mi, err := parseDevT(string(b)); err == nil {
			major, minor = ma, mi
		}
	}
	if err := unix.Mknod(dev, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil && err != unix.EEXIST {
		return fmt.Errorf("loop: %s did not appear within %v and making it (block %d:%d): %w: is devtmpfs mounted on /dev?", dev, nodeWait, major, minor, err)
	}
	return nil
}

// configure binds backing to the loop device lo.
func configure(lo, backing int, file string, readOnly bool) error {
	cfg := unix.LoopConfig{
		Fd:   uint32(backing),
		Info: unix.LoopInfo64{Flags: flags(readOnly), File_name: fileName(file)},
	}
	err := unix.IoctlLoopConfigure(lo, &cfg)
	if err != unix.EINVAL && err != unix.ENOTTY {
		return err
	}
	// Before Linux 5.8: no LOOP_CONFIGURE. The read-only flag follows
	// backing's open mode there; autoclear is set afterwards.
	if err := unix.IoctlSetInt(lo, unix.LOOP_SET_FD, backing); err != nil {
		return fmt.Errorf("LOOP_SET_FD: %w", err)
	}
	info := unix.LoopInfo64{Flags: flagAutoclear, File_name: fileName(file)}
	if err := unix.IoctlLoopSetStatus64(lo, &info); err != nil {
		unix.IoctlSetInt(lo, unix.LOOP_CLR_FD, 0)
		return fmt.Errorf("LOOP_SET_STATUS64: %w", err)
	}
	return nil
}
