//go:build !linux

package iscsirecover

import (
	"context"
	"errors"
)

// Listen needs Linux's NETLINK_ISCSI.
func Listen(ctx context.Context) (<-chan Event, error) {
	return nil, errors.New("iscsi events: NETLINK_ISCSI is Linux only")
}
