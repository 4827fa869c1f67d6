package boot

import (
	"errors"

	"golang.org/x/sys/unix"
)

// exchange swaps a and b atomically (renameat2 RENAME_EXCHANGE), falling
// back to renames on filesystems without it.
func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return exchangeByRename(a, b)
	}
	return err
}
