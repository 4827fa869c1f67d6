//go:build !linux

package iscsi

import (
	"context"
	"errors"
)

// Login needs the Linux kernel's iscsi_tcp.
func Login(ctx context.Context, p Params, logf func(string, ...any)) (*Session, error) {
	return nil, errors.New("iscsi: kernel sessions are only supported on Linux")
}
