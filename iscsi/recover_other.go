//go:build !linux

package iscsi

import (
	"context"
	"errors"
	"time"
)

var errNoKernel = errors.New("iscsi: kernel sessions are only supported on Linux")

// DefaultLogoutTimeout bounds LogoutSession when ctx has no deadline.
const DefaultLogoutTimeout = 5 * time.Second

// Relogin needs the Linux kernel's iscsi_tcp.
func Relogin(ctx context.Context, o ReloginOptions) (*ReloginResult, error) { return nil, errNoKernel }

// SetRecoveryTimeout needs the Linux kernel's iscsi_tcp.
func SetRecoveryTimeout(sid, cid uint32, seconds int) error { return errNoKernel }

// LogoutSession needs the Linux kernel's iscsi_tcp.
func LogoutSession(ctx context.Context, sid, cid uint32, logf func(string, ...any)) error {
	return errNoKernel
}
