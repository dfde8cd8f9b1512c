package worker

import (
	"math/rand/v2"
	"time"
)

// Backoff is how long to wait before attempt number attempt+1 of something
// that failed attempt times: base doubled per failure, capped at max, with
// "equal jitter" (a random point in the upper half), so that many items
// failing together (a provider outage) do not retry in lockstep, while each
// still waits at least half its step.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	if attempt < 0 {
		attempt = 0
	}
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
