package renew

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"golang.org/x/sys/unix"
)

// UDPExchanger talks DHCP over a UDP socket on port 68 bound to one
// device (SO_BINDTODEVICE). The node has its address, so no raw socket is
// needed: renewals are unicast to the server from the lease's address;
// rebinding, INIT-REBOOT and DISCOVER are broadcast (SO_BROADCAST) out of
// the device, also from the lease's address. Each exchange opens its own
// socket, so nothing is held between renewals and a port 68 taken by
// someone else for a while only fails the attempts in that while.
type UDPExchanger struct {
	iface   string
	ifindex int
	mac     net.HardwareAddr
	// ports, overridden by tests
	client, server int
}

// NewUDPExchanger returns the exchanger for iface; mac defaults to the
// interface's.
func NewUDPExchanger(iface string, mac net.HardwareAddr) (*UDPExchanger, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	if len(mac) == 0 {
		mac = ifi.HardwareAddr
	}
	if len(mac) == 0 || len(mac) > 16 {
		return nil, fmt.Errorf("renew: %s has no usable hardware address", iface)
	}
	return &UDPExchanger{iface: iface, ifindex: ifi.Index, mac: mac, client: 68, server: 67}, nil
}

func (u *UDPExchanger) listen(ctx context.Context) (*net.UDPConn, error) {
	var serr error
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		err := c.Control(func(fd uintptr) {
			s := int(fd)
			if serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				return
			}
			serr = unix.SetsockoptString(s, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, u.iface)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	// The wildcard address: a socket bound to the client's address would
	// not get the broadcast replies to INIT-REBOOT and DISCOVER.
	pc, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", u.client))
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// Exchange implements Exchanger.
func (u *UDPExchanger) Exchange(ctx context.Context, req Request, timeout time.Duration) (*Reply, error) {
	conn, err := u.listen(ctx)
	if err != nil {
		return nil, fmt.Errorf("open DHCP socket on %s: %w", u.iface, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	dst := &net.UDPAddr{IP: net.IPv4bcast, Port: u.server}
	if req.Kind == KindRenew {
		dst.IP = req.ServerID.To4()
	}
	b := buildMessage(req, u.mac).ToBytes()
	// IP_PKTINFO: out of the device, from the lease's address (the kernel
	// would pick the device's primary one; they differ only with aliases).
	pi := &unix.Inet4Pktinfo{Ifindex: int32(u.ifindex)}
	if ip := req.ClientIP.To4(); ip != nil {
		copy(pi.Spec_dst[:], ip)
	}
	if _, _, err := conn.WriteMsgUDP(b, unix.PktInfo4(pi), dst); err != nil {
		// The address may have been removed by hand: let the kernel choose.
		if _, err2 := conn.WriteToUDP(b, dst); err2 != nil {
			return nil, fmt.Errorf("send %s to %s: %w", req.Kind, dst, err)
		}
	}
	buf := make([]byte, 65536)
	var other *Reply // an OFFER of another address, while we wait for ours
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			if other != nil {
				return other, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("%w in %v", ErrNoReply, timeout)
			}
			return nil, err
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			continue
		}
		rep := replyFor(m, req, u.mac)
		if rep == nil {
			continue
		}
		if rep.ServerID == nil {
			rep.ServerID = from.IP.To4()
		}
		if req.Kind == KindDiscover && !rep.YourIP.Equal(req.RequestedIP) {
			if other == nil {
				other = rep
			}
			continue
		}
		return rep, nil
	}
}
