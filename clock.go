package linkd

import "time"

// StoreTime is t as both engines store it: UTC, to the microsecond. Every
// time linkd writes passes through it, so that what is read back compares
// equal to what was written, on either engine.
func StoreTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// NowOf is the clock rule of every service and job: the injected clock, or
// the time now, as StoreTime.
func NowOf(clock func() time.Time) time.Time {
	if clock != nil {
		return StoreTime(clock())
	}
	return StoreTime(time.Now())
}
