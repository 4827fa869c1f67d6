package lab

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The host kernel may have no 802.1Q support (no 8021q, no bridge VLAN
// filtering), so a lab that tests a node's VLAN ends the VLAN in user
// space: VLANForward copies the frames of VLAN vid seen on the bridge,
// untagged, to a tap device of the lab's own, and the frames sent on that
// tap back to the bridge, tagged. Servers bound to the tap's address see
// only that VLAN.

// VLANForwardArg is the argument that makes a test binary run
// VLANForward instead of its tests (see VLANEndpoint and RunVLANForward).
const VLANForwardArg = "-sidus.lab.vlanforward="

// VLANEndpoint starts, in the lab, the forwarder of VLAN vid between the
// bridge and a tap named dev with address cidr (e.g. 192.168.78.1/24),
// using self (a test binary whose TestMain calls RunVLANForward), and
// waits until dev is up.
func (l *Lab) VLANEndpoint(self string, vid int, dev, cidr string) error {
	arg := fmt.Sprintf("%s%s,%d,%s", VLANForwardArg, Bridge, vid, dev)
	if _, err := l.Run("vlan"+strconv.Itoa(vid), self, arg); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := l.Exec(l.ctx, "ip", "link", "show", dev); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vlan %d: no tap %s after 10 s (see the vlan%d log in %s)", vid, dev, vid, l.Dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range [][]string{{"ip", "addr", "add", cidr, "dev", dev}, {"ip", "link", "set", dev, "up"}} {
		if _, err := l.Exec(l.ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

// RunVLANForward runs the forwarder if args hold VLANForwardArg: it never
// returns then. A test binary's TestMain calls it first.
func RunVLANForward(args []string) {
	for _, a := range args {
		v, ok := strings.CutPrefix(a, VLANForwardArg)
		if !ok {
			continue
		}
		f := strings.Split(v, ",")
		vid, err := strconv.Atoi(f[1])
		if err == nil && len(f) == 3 {
			err = vlanForward(f[0], vid, f[2])
		}
		fmt.Fprintf(os.Stderr, "vlan forwarder %s: %v\n", v, err)
		os.Exit(1)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// vnetLen is the size of struct virtio_net_hdr (little-endian fields:
// flags, gso_type, hdr_len, gso_size, csum_start, csum_offset).
const vnetLen = 10

// shiftVnet moves the offsets of a virtio-net header by d bytes, for a
// tag added (4) or taken out (-4) after the MAC addresses.
func shiftVnet(h []byte, d int) {
	const needsCsum = 1
	if h[0]&needsCsum != 0 {
		binary.LittleEndian.PutUint16(h[6:], uint16(int(binary.LittleEndian.Uint16(h[6:]))+d))
	}
	if hl := binary.LittleEndian.Uint16(h[2:]); hl != 0 {
		binary.LittleEndian.PutUint16(h[2:], uint16(int(hl)+d))
	}
}

func vlanForward(bridge string, vid int, dev string) error {
	br, err := net.InterfaceByName(bridge)
	if err != nil {
		return err
	}
	ps, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.Bind(ps, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: br.Index}); err != nil {
		return fmt.Errorf("bind to %s: %w", bridge, err)
	}
	// Unicast frames for the tap's MAC are not the bridge's: see them all.
	mr := unix.PacketMreq{Ifindex: int32(br.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(ps, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
		return fmt.Errorf("promiscuous %s: %w", bridge, err)
	}
	// The kernel takes the tag off into the packet's auxiliary data. The
	// guests' frames come with checksums left to the hardware (and TCP
	// segmentation): a virtio-net header in front of each frame carries
	// that to the tap and back (PACKET_VNET_HDR, IFF_VNET_HDR).
	if err := unix.SetsockoptInt(ps, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("PACKET_AUXDATA: %w", err)
	}
	if err := unix.SetsockoptInt(ps, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fmt.Errorf("PACKET_VNET_HDR: %w", err)
	}
	// A raw, blocking descriptor read and written with plain syscalls, as
	// the packet socket is: an *os.File registers it with Go's poller at
	// open, before TUNSETIFF, when a tun device polls as an error, and its
	// reads may then fail with "not pollable".
	tun, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(dev)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(tun, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF %s: %w", dev, err)
	}
	errc := make(chan error, 2)
	go func() { // bridge → tap: frames of VLAN vid, untagged
		buf := make([]byte, 65536)
		oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
		for {
			n, oobn, _, from, err := unix.Recvmsg(ps, buf, oob, 0)
			if err != nil {
				errc <- fmt.Errorf("read %s: %w", bridge, err)
				return
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if n < vnetLen+14 {
				continue
			}
			hdr, frame, tagged := buf[:vnetLen], buf[vnetLen:n], false
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, m := range msgs {
					if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
						aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
						if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 && int(aux.Vlan_tci&0xfff) == vid {
							tagged = true
						}
					}
				}
			}
			if !tagged && len(frame) >= 18 && binary.BigEndian.Uint16(frame[12:]) == unix.ETH_P_8021Q &&
				int(binary.BigEndian.Uint16(frame[14:])&0xfff) == vid { // a tag left in the data
				frame = append(append([]byte(nil), frame[:12]...), frame[16:]...)
				shiftVnet(hdr, -4)
				tagged = true
			}
			frame = append(append([]byte(nil), hdr...), frame...)
			if tagged {
				if _, err := unix.Write(tun, frame); err != nil {
					errc <- fmt.Errorf("write %s: %w", dev, err)
					return
				}
			}
		}
	}()
	go func() { // tap → bridge: tagged with vid
		buf := make([]byte, 65536)
		to := &unix.SockaddrLinklayer{Ifindex: br.Index, Halen: 6}
		for {
			n, err := unix.Read(tun, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				errc <- fmt.Errorf("read %s: %w", dev, err)
				return
			}
			if n < vnetLen+14 {
				continue
			}
			hdr := append([]byte(nil), buf[:vnetLen]...)
			shiftVnet(hdr, 4)
			f := buf[vnetLen:n]
			out := make([]byte, 0, n+4)
			out = append(out, hdr...)
			out = append(out, f[:12]...)
			out = binary.BigEndian.AppendUint16(out, unix.ETH_P_8021Q)
			out = binary.BigEndian.AppendUint16(out, uint16(vid))
			out = append(out, f[12:]...)
			copy(to.Addr[:], f[:6])
			if err := unix.Sendto(ps, out, 0, to); err != nil {
				fmt.Fprintf(os.Stderr, "send on %s: %v\n", bridge, err)
			}
		}
	}()
	return <-errc
}
