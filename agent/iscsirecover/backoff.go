package iscsirecover

import "time"

// backoff is the wait after the n-th failed login attempt (n >= 1) of a
// recovery: min doubled n-1 times, capped at max, with "equal jitter":
// the upper half is random (r in [0, 1)), so the wait is in [d/2, d].
// With 1 s and 30 s: [0.5,1], [1,2], [2,4], [4,8], [8,16], [15,30], ...
func backoff(n int, min, max time.Duration, r float64) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	if r < 0 || r >= 1 {
		r = 0
	}
	half := d / 2
	return half + time.Duration(r*float64(d-half))
}
