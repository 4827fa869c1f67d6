package livetree

import "github.com/sidus-go/sidus/agent/clock"

// FileID is what one poll records of a file, from an fstat of the open
// descriptor: any difference between two polls is a change.
type FileID struct {
	Dev, Ino uint64
	Size     int64
	MtimeNS  int64 // modification time, Unix nanoseconds
	CtimeNS  int64 // inode change time, Unix nanoseconds
}

// System is the watcher's seam to the kernel.
type System interface {
	// StatOpen opens path read-only, fstats the open descriptor (the open
	// is what makes NFS revalidate: close-to-open), reads at most max
	// bytes from its start (0: none) and closes it. A missing path gives
	// an error that matches fs.ErrNotExist.
	StatOpen(path string, max int) (FileID, []byte, error)
	// DropCaches writes "2" to /proc/sys/vm/drop_caches: the kernel frees
	// its unused dentries and inodes, overlayfs' and NFS' among them, so
	// the next lookups are fresh.
	DropCaches() error
}

// DropCachesPath is the kernel's knob that DropCaches writes.
const DropCachesPath = "/proc/sys/vm/drop_caches"

// Clock is the watcher's time (package agent/clock).
type Clock = clock.Clock
