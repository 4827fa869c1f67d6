package clock

import (
	"context"
	"testing"
	"time"
)

func TestReal(t *testing.T) {
	var c Clock = Real{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep on an ended context = %v, want context.Canceled", err)
	}
	start := c.Now()
	if err := c.Sleep(context.Background(), time.Millisecond); err != nil || c.Now().Sub(start) < time.Millisecond {
		t.Errorf("Sleep(1ms) = %v after %v", err, c.Now().Sub(start))
	}
	tick, stop := c.Ticker(time.Millisecond)
	defer stop()
	select {
	case <-tick:
	case <-time.After(5 * time.Second):
		t.Errorf("no tick")
	}
}
