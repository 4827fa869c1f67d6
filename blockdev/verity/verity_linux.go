package verity

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// x/sys's request numbers are _IOWR(0xfd, cmd, struct dm_ioctl): these
// fail to compile unless their size field is the header packIoctl builds
// and their command numbers are dm-ioctl.h's.
const (
	_ = uint(dmHeaderSize-(unix.DM_DEV_CREATE>>16)&0x1fff) + uint((unix.DM_DEV_CREATE>>16)&0x1fff-dmHeaderSize)
	_ = uint(unix.DM_DEV_CREATE&0xffff-0xfd03) + uint(0xfd03-unix.DM_DEV_CREATE&0xffff)
	_ = uint(unix.DM_DEV_REMOVE&0xffff-0xfd04) + uint(0xfd04-unix.DM_DEV_REMOVE&0xffff)
	_ = uint(unix.DM_DEV_SUSPEND&0xffff-0xfd06) + uint(0xfd06-unix.DM_DEV_SUSPEND&0xffff)
	_ = uint(unix.DM_TABLE_LOAD&0xffff-0xfd09) + uint(0xfd09-unix.DM_TABLE_LOAD&0xffff)
	_ = uint(unix.DM_READONLY_FLAG-dmReadOnlyFlag) + uint(dmReadOnlyFlag-unix.DM_READONLY_FLAG)
)

const (
	controlPath  = "/dev/mapper/control"
	controlMajor = 10
	controlMinor = 236 // MAPPER_CTRL_MINOR
	nodeWait     = time.Second
	pollEvery    = 50 * time.Millisecond
)

// Open maps dev (a block device or image holding a filesystem, then
// verity's superblock and hash tree at its HashOffset) as the read-only
// dm-verity device name, checked against rootHash, and returns its node:
// /dev/dm-N, or /dev/mapper/NAME made with mknod if devtmpfs did not
// create that. It reads DataSize, HashOffset and ReadSuperblock from
// dev, builds the Table and issues DM_DEV_CREATE, DM_TABLE_LOAD and
// DM_DEV_SUSPEND (resume) on /dev/mapper/control (made, char 10:236, if
// missing); on a failure after the create it removes the device again.
//
// A wrong root hash or a tampered image is not seen here: the kernel
// checks blocks as they are read, so the mapped device returns EIO on
// the first bad block (and the kernel logs "device-mapper: verity: ...
// data block N is corrupted").
func Open(dev, name, rootHash string) (mapped string, err error) {
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("verity: %w", err)
	}
	if dev == "" || strings.ContainsAny(dev, " \t\n") {
		return "", fmt.Errorf("verity: device %q cannot go in a dm table", dev)
	}
	f, err := os.Open(dev)
	if err != nil {
		return "", fmt.Errorf("verity: %w", err)
	}
	defer f.Close()
	fstype, size, err := DataSize(f)
	if err != nil {
		return "", fmt.Errorf("verity: %s: %w", dev, err)
	}
	off := HashOffset(size)
	p, err := ReadSuperblock(f, off)
	if err != nil {
		return "", fmt.Errorf("verity: %s (%s of %d bytes): %w", dev, fstype, size, err)
	}
	if err := CheckRootHash(rootHash, p); err != nil {
		return "", fmt.Errorf("verity: %s: %w", dev, err)
	}
	if err := checkLayout(size, off, p); err != nil {
		return "", fmt.Errorf("verity: %s: %w", dev, err)
	}
	t := verityTarget(dev, off, p, rootHash)

	ctl, err := openControl()
	if err != nil {
		return "", err
	}
	defer unix.Close(ctl)

	reply, err := dmIoctl(ctl, unix.DM_DEV_CREATE, name, dmReadOnlyFlag, nil)
	if err != nil {
		hint := "is the dm_mod module loaded?"
		if err == unix.EBUSY {
			hint = "a device-mapper device of that name exists already"
		}
		return "", fmt.Errorf("verity: creating device-mapper device %s: %w: %s", name, err, hint)
	}
	major, minor := replyDev(reply)
	defer func() {
		if err != nil {
			dmIoctl(ctl, unix.DM_DEV_REMOVE, name, 0, nil)
		}
	}()
	if _, err = dmIoctl(ctl, unix.DM_TABLE_LOAD, name, dmReadOnlyFlag, []target{t}); err != nil {
		return "", fmt.Errorf("verity: loading the table %q into %s: %w: check dmesg (device-mapper: verity) and that dm_verity is loaded (-m dm_verity)", t.String(), name, err)
	}
	if _, err = dmIoctl(ctl, unix.DM_DEV_SUSPEND, name, 0, nil); err != nil {
		return "", fmt.Errorf("verity: resuming %s: %w: check dmesg", name, err)
	}
	mapped, err = node(name, major, minor)
	return mapped, err
}

// openControl opens /dev/mapper/control, making it if devtmpfs has not.
func openControl() (int, error) {
	fd, err := unix.Open(controlPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		if err := os.MkdirAll("/dev/mapper", 0o755); err != nil {
			return -1, fmt.Errorf("verity: %w: is /dev writable?", err)
		}
		if err := unix.Mknod(controlPath, unix.S_IFCHR|0o600, int(unix.Mkdev(controlMajor, controlMinor))); err != nil && err != unix.EEXIST {
			return -1, fmt.Errorf("verity: making %s (char %d:%d): %w: is /dev writable?", controlPath, controlMajor, controlMinor, err)
		}
		fd, err = unix.Open(controlPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, fmt.Errorf("verity: opening %s: %w: is the dm_mod module loaded?", controlPath, err)
	}
	return fd, nil
}

// dmIoctl issues one DM ioctl and returns the kernel's reply buffer.
func dmIoctl(ctl int, req uint, name string, flags uint32, targets []target) ([]byte, error) {
	b, err := packIoctl(name, flags, targets)
	if err != nil {
		return nil, err
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(ctl), uintptr(req), uintptr(unsafe.Pointer(&b[0]))); e != 0 {
		return nil, e
	}
	return b, nil
}

// node returns the device's node: /dev/dm-MINOR from devtmpfs if it is
// this device, else /dev/mapper/NAME made with mknod.
func node(name string, major, minor uint32) (string, error) {
	want := unix.Mkdev(major, minor)
	dm := fmt.Sprintf("/dev/dm-%d", minor)
	for end := time.Now().Add(nodeWait); ; time.Sleep(pollEvery) {
		var st unix.Stat_t
		if err := unix.Stat(dm, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && uint64(st.Rdev) == want {
			return dm, nil
		}
		if time.Now().After(end) {
			break
		}
	}
	path := "/dev/mapper/" + name
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("verity: replacing %s: %w", path, err)
	}
	if err := unix.Mknod(path, unix.S_IFBLK|0o600, int(want)); err != nil {
		return "", fmt.Errorf("verity: %s did not appear and making %s (block %d:%d): %w: is devtmpfs mounted on /dev?", dm, path, major, minor, err)
	}
	return path, nil
}
