package http

import "time"

// timeFormat is how the compatible API writes times: UTC, milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

// wireTime writes t as timeFormat does. A list page writes six times per
// account, and time.Format, which interprets its layout at every call, was
// an eighth of a list's CPU; appendWireTime writes the digits straight.
func wireTime(t time.Time) string {
	var b [24]byte
	return string(appendWireTime(b[:0], t))
}

// appendWireTime appends wireTime(t) to b. Years outside 0–9999 (which the
// stores never hold) go through time.Format.
func appendWireTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeFormat)
	}
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendDigits appends v in exactly n decimal digits.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, "0000"[:n]...)
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// optTime is wireTime of an optional time: null when it is unset.
func optTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := wireTime(*t)
	return &s
}
