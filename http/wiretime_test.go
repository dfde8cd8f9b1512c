package http

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestWireTimeMatchesFormat: wireTime writes what time.Format with
// timeFormat writes, for times in any zone from year 0 to 9999 (and past it,
// through the fallback), milliseconds truncated as Format truncates them.
func TestWireTimeMatchesFormat(t *testing.T) {
	zone := time.FixedZone("east", 5*3600+30*60)
	cases := []time.Time{
		time.Unix(0, 0), time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999_500_000, zone), time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 1_000_000, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC), {},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		cases = append(cases, time.Unix(rng.Int64N(253402300800), rng.Int64N(1e9)).In(zone))
	}
	for _, tm := range cases {
		if got, want := wireTime(tm), tm.UTC().Format(timeFormat); got != want {
			t.Fatalf("wireTime(%v) = %q, want %q", tm, got, want)
		}
	}
	if optTime(nil) != nil {
		t.Fatal("optTime(nil) is not nil")
	}
	if tm := cases[1]; *optTime(&tm) != tm.UTC().Format(timeFormat) {
		t.Fatal("optTime differs from wireTime")
	}
}

// BenchmarkWireTime: against time.Format, which a list page called six
// times per account.
func BenchmarkWireTime(b *testing.B) {
	tm := time.Date(2026, 12, 7, 21, 59, 12, 345_678_901, time.UTC)
	b.Run("wireTime", func(b *testing.B) {
		for b.Loop() {
			_ = wireTime(tm)
		}
	})
	b.Run("Format", func(b *testing.B) {
		for b.Loop() {
			_ = tm.UTC().Format(timeFormat)
		}
	})
}
