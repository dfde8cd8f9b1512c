package webhooks

import (
	"testing"
	"time"
)

// FuzzParseSchedule: a retry schedule from LINKD_WEBHOOK_RETRY_SCHEDULE is
// accepted only within its bounds, and always starts with the immediate
// first attempt.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{DefaultSchedule, "5s,5m,30m", "", ",", "-1s", "169h", "1e9h", "0s," + "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := ParseSchedule(s)
		if err != nil {
			return
		}
		if len(out) == 0 || out[0] != 0 || len(out) > 51 {
			t.Fatalf("ParseSchedule(%q) = %v", s, out)
		}
		for _, d := range out {
			if d < 0 || d > 7*24*time.Hour {
				t.Fatalf("ParseSchedule(%q) accepted %v", s, d)
			}
		}
	})
}

// FuzzParseRetryAfter: whatever a receiver puts in Retry-After, the wait
// read from it is between zero and a year (a huge number of seconds must
// not wrap around into a negative or arbitrary wait).
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "120", " 5 ", "-3", "Wed, 21 Oct 2026 07:28:00 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "99999999999999", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := parseRetryAfter(v, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v", v, d)
		}
	})
}
