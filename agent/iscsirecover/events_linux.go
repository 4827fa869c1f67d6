package iscsirecover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Listen subscribes to the kernel's iSCSI events: a NETLINK_ISCSI socket
// bound to ISCSI_NL_GRP_ISCSID, the group iscsid listens on (needs
// CAP_NET_ADMIN). The channel carries CONN_ERROR, CONN_LOGIN_STATE,
// UNBIND_SESSION and DESTROY_SESSION events of every session, and an
// Overrun event when some were lost; it is closed when ctx ends or the
// socket fails. iscsinl's ConnectNetlink subscribes to the same group,
// but its socket is for requests: it reads (and drops) events only while
// it waits for a reply.
func Listen(ctx context.Context) (<-chan Event, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ISCSI)
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) {
			return nil, fmt.Errorf("iscsi events: NETLINK_ISCSI is not available (is scsi_transport_iscsi loaded?): %w", err)
		}
		return nil, fmt.Errorf("iscsi events: %w", err)
	}
	// Login traffic (RECV_PDU) shares the group: make room.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (nlGroupISCSID - 1)}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("iscsi events: joining group ISCSI_NL_GRP_ISCSID: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink-iscsi")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("iscsi events: %w", err)
	}
	ch := make(chan Event, 64)
	stop := context.AfterFunc(ctx, func() { f.Close() })
	go func() {
		defer close(ch)
		defer stop()
		defer f.Close()
		buf := make([]byte, 64<<10)
		lost := false
		for {
			var n int
			var rerr error
			err := rc.Read(func(fd uintptr) bool {
				n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
				return rerr != unix.EAGAIN
			})
			if err != nil { // closed
				return
			}
			if errors.Is(rerr, unix.ENOBUFS) {
				lost = true
			} else if rerr != nil {
				if ctx.Err() == nil && !errors.Is(rerr, unix.EINTR) {
					time.Sleep(100 * time.Millisecond) // never spin on a broken socket
				}
				continue
			}
			var evs []Event
			if rerr == nil {
				evs, _ = ParseMessages(buf[:n])
			}
			now := time.Now()
			for _, e := range evs {
				if !forwarded(e.Type) {
					continue
				}
				e.At = now
				select {
				case ch <- e:
				default:
					lost = true
				}
			}
			if lost {
				select {
				case ch <- Event{Overrun: true, At: now}:
					lost = false
				default:
				}
			}
		}
	}()
	return ch, nil
}

func forwarded(t EventType) bool {
	switch t {
	case EventConnError, EventConnLoginState, EventUnbindSession, EventDestroySession:
		return true
	}
	return false
}
