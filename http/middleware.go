package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	callerKey
	keyHolderKey
)

// keyHolder carries the authenticated caller out of the handler to the log
// middleware, which runs before authentication and so cannot see the
// request value that authentication derives.
type keyHolder struct{ caller *caller }

// requestID returns the request's id, set by withRequestID.
// RequestID is the id the server gave the request whose context this is
// ("" outside one): handlers mounted beside the API (the dashboard, the
// hosted pages) show it as a reference on error pages.
func RequestID(ctx context.Context) string { return requestID(ctx) }

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRequestID gives every request an id: the caller's X-Request-Id when it
// is sane (so ids can be followed across services), else a new one. It is
// echoed in the response, the error body and every log line.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneToken(id, 128) {
			var b [12]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// saneToken accepts 1–max bytes of visible ASCII.
func saneToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// withRecover turns a panic into a logged 500 instead of a dropped connection.
func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", p))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// responseWriter records the status for metrics and logs.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flushes
// for streamed responses).
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withMetricsAndLog counts and times every request by its route pattern (not
// its path, which would give one series per account id) and method, both
// reduced to a fixed set of values (metrics.go), and logs it.
func (s *Server) withMetricsAndLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()
		rw := &responseWriter{ResponseWriter: w}
		kh := &keyHolder{}
		r = r.WithContext(context.WithValue(r.Context(), keyHolderKey, kh))
		next.ServeHTTP(rw, r)
		route := routeLabel(r.Pattern) // set by the mux on this request
		d := time.Since(start)
		if rw.status == 0 {
			rw.status = http.StatusOK
		}
		s.metrics.observe(r.Pattern, r.Method, rw.status, d)
		level := slog.LevelInfo
		if rw.status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("request_id", requestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", rw.status),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.Int64("bytes", rw.bytes),
		}
		if c := kh.caller; c != nil {
			t := c.tenant()
			if c.key != nil {
				attrs = append(attrs, slog.String("api_key_id", c.key.ID))
			} else {
				attrs = append(attrs, slog.String("session_id", c.session.ID), slog.String("linked_account_id", c.session.AccountID))
			}
			attrs = append(attrs, slog.String("org_id", t.OrgID), slog.String("environment", string(t.Env)))
		}
		s.logger.LogAttrs(r.Context(), level, "request", attrs...)
	})
}
