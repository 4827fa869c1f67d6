package check

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// TFTPProbe asks a TFTP server (host:port) for file and returns the size
// of the first DATA block (512 bytes unless the file is shorter), then
// aborts the transfer: enough to know the server serves the file, as a
// node's PXE firmware would ask for it (RFC 1350, octet mode).
func TFTPProbe(server, file string, timeout time.Duration) (int, error) {
	raddr, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		return 0, err
	}
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	rrq := append([]byte{0, 1}, []byte(file+"\x00octet\x00")...)
	if _, err := conn.WriteToUDP(rrq, raddr); err != nil {
		return 0, err
	}
	conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 1024)
	n, from, err := conn.ReadFromUDP(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, fmt.Errorf("no answer from %s in %s", server, timeout)
		}
		return 0, err
	}
	if n < 4 {
		return 0, fmt.Errorf("short TFTP packet from %s", from)
	}
	switch binary.BigEndian.Uint16(buf) {
	case 3: // DATA
		// Abort politely: ERROR 0 to the transfer's port.
		conn.WriteToUDP(append([]byte{0, 5, 0, 0}, "probe done\x00"...), from)
		return n - 4, nil
	case 5: // ERROR
		msg := buf[4:n]
		if i := bytes.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		return 0, fmt.Errorf("TFTP error %d: %s", binary.BigEndian.Uint16(buf[2:]), msg)
	default:
		return 0, fmt.Errorf("unexpected TFTP opcode %d from %s", binary.BigEndian.Uint16(buf), from)
	}
}
