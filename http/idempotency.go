package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/linkd-dev/linkd"
)

// bodyHandler handles a request whose JSON body has been read already.
type bodyHandler func(w http.ResponseWriter, r *http.Request, body []byte) error

// withIdempotency reads the body and, when the request carries an
// Idempotency-Key, makes retries safe: the first request's response is stored
// in the database and replayed to every retry with the same key and body,
// on any instance. A retry while the first is still running gets 409; the same
// key with a different body gets 400.
func (s *Server) withIdempotency(h bodyHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, err := readBody(w, r)
		if err != nil {
			return err
		}
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			return h(w, r, body)
		}
		if !saneToken(key, 255) {
			return linkd.FieldError("Idempotency-Key", "Idempotency-Key must be 1 to 255 visible ASCII characters")
		}
		t := tenant(r)
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
		prev, err := s.store.ClaimIdempotencyKey(r.Context(), t, key, hex.EncodeToString(sum[:]), s.now().UTC())
		if err != nil {
			return err
		}
		if prev != nil {
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(prev.Status)
			w.Write(prev.Body)
			return nil
		}
		rec := &bufferedWriter{header: w.Header()}
		if err := h(rec, r, body); err != nil {
			s.writeError(rec, r, err)
		}
		// Record the outcome even if the client has gone: the retry it will
		// send must see this answer. Server errors are not recorded, so the
		// retry acts again (nothing was written: writes are transactional).
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if rec.status >= 500 {
			err = s.store.ReleaseIdempotencyKey(ctx, t, key)
		} else {
			err = s.store.CompleteIdempotencyKey(ctx, t, key, rec.status, rec.body.Bytes())
		}
		if err != nil {
			s.logger.ErrorContext(r.Context(), "record idempotent response", "err", err, "request_id", requestID(r.Context()))
		}
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
		return nil
	}
}

// bufferedWriter holds a response so that it can be stored before it is sent.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
