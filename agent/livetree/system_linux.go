package livetree

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// kernelSystem is System on the running kernel. It makes the system calls
// itself (no os.File, no poller): on a hard NFS mount each one may block
// until the server answers, and only the poll's goroutine waits.
type kernelSystem struct{}

// DefaultSystem is the System of the running kernel.
func DefaultSystem() System { return kernelSystem{} }

func (kernelSystem) StatOpen(path string, max int) (FileID, []byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return FileID{}, nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return FileID{}, nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	id := FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: st.Size,
		MtimeNS: unix.TimespecToNsec(st.Mtim), CtimeNS: unix.TimespecToNsec(st.Ctim)}
	if max <= 0 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return id, nil, nil
	}
	buf := make([]byte, max)
	n := 0
	for n < max {
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return id, nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return id, buf[:n], nil
}

func (kernelSystem) DropCaches() error {
	fd, err := unix.Open(DropCachesPath, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Write(fd, []byte("2\n"))
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("write 2 to %s: %w", DropCachesPath, err)
	}
	return nil
}
