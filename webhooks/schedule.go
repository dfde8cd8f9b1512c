package webhooks

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// DefaultSchedule is LINKD_WEBHOOK_RETRY_SCHEDULE's default, close to
// Svix's: eight attempts over about a day and a half.
const DefaultSchedule = "0s,5s,5m,30m,2h,5h,10h,10h"

// ParseSchedule reads a retry schedule: comma-separated Go durations, each
// the wait before one attempt, counted from the failure of the one before.
// The first attempt always goes out at once, so a schedule that starts with
// 0s names it and one that does not lists retries only: "5s,5m,30m" is the
// compatible API's first attempt and three retries.
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 || d > 7*24*time.Hour {
			return nil, fmt.Errorf("retry schedule: %q is not a duration between 0s and 168h", f)
		}
		out = append(out, d)
	}
	if len(out) > 50 {
		return nil, fmt.Errorf("retry schedule: %d attempts; at most 50", len(out))
	}
	if out[0] != 0 {
		out = append([]time.Duration{0}, out...)
	}
	return out, nil
}

// jitter spreads d by up to ±20 %, so that the deliveries of an outage do
// not all come back at the same second.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	spread := d / 5
	return d - spread + rand.N(2*spread+1)
}
