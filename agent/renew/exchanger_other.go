//go:build !linux

package renew

import (
	"context"
	"errors"
	"net"
	"time"
)

// UDPExchanger is Linux only.
type UDPExchanger struct{}

// NewUDPExchanger fails: the exchanger needs Linux (SO_BINDTODEVICE).
func NewUDPExchanger(iface string, mac net.HardwareAddr) (*UDPExchanger, error) {
	return nil, errors.New("renew: the DHCP exchanger is Linux only")
}

// Exchange implements Exchanger.
func (*UDPExchanger) Exchange(context.Context, Request, time.Duration) (*Reply, error) {
	return nil, errors.New("renew: the DHCP exchanger is Linux only")
}
