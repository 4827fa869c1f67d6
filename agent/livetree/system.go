package livetree

import (
	"context"
	"time"
)

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

// Clock is the watcher's time.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
	// Ticker ticks every d until stop is called.
	Ticker(d time.Duration) (c <-chan time.Time, stop func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
func (realClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
