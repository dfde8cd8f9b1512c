package http

import "time"

// timeFormat is how the compatible API writes times: UTC, milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

// wireTime writes t as timeFormat does. A list page writes six times per
// account, and time.Format, which interprets its layout at every call, was
// an eighth of a list's CPU; this writes the digits straight. Years outside
// 0–9999 (which the stores never hold) go through time.Format.
func wireTime(t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Format(timeFormat)
	}
	hour, min, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	var b [24]byte
	put := func(i, v, digits int) {
		for j := i + digits - 1; j >= i; j-- {
			b[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, year, 4)
	b[4] = '-'
	put(5, int(month), 2)
	b[7] = '-'
	put(8, day, 2)
	b[10] = 'T'
	put(11, hour, 2)
	b[13] = ':'
	put(14, min, 2)
	b[16] = ':'
	put(17, sec, 2)
	b[19] = '.'
	put(20, ms, 3)
	b[23] = 'Z'
	return string(b[:])
}

// optTime is wireTime of an optional time: null when it is unset.
func optTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := wireTime(*t)
	return &s
}
