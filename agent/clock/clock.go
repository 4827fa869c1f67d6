// Package clock is the time seam of the agent's duties: the real clock,
// and the interface their tests fake.
package clock

import (
	"context"
	"time"
)

// Clock is a duty's time.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
	// Ticker ticks every d until stop is called.
	Ticker(d time.Duration) (c <-chan time.Time, stop func())
}

// Real is the system's clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

func (Real) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (Real) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
