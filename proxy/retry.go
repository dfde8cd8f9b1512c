package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryable reports whether a request may be sent again after a failure:
// methods that are idempotent by definition, and POST/PATCH that carry an
// Idempotency-Key (the app then knows a repeat when it sees one).
func retryable(method string, h http.Header) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	case http.MethodPost, http.MethodPatch:
		return h.Get("Idempotency-Key") != ""
	}
	return false
}

// retryStatus reports whether an answer is worth another attempt: the app
// is rate limiting or failing, not refusing the request.
func retryStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP-date, as
// a wait from now: 0 when absent or unreadable, never negative, at most a
// day (a larger value is as good as "not now").
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(max(n, 0), 86400)) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, 0), 24*time.Hour), true
}
