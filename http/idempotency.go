package http

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/linkd-dev/linkd"
)

// bodyHandler handles a request whose JSON body has been read already.
type bodyHandler func(w http.ResponseWriter, r *http.Request, body []byte) error

// withIdempotency reads the body and, when the request carries an
// Idempotency-Key, makes retries safe: the first request's response is stored
// (sealed) in the database and replayed to every retry with the same key and
// body, on any instance. A key is the caller's own, per method and path
// (linkd.IdempotencyScope): another caller of the tenant sending the same key
// acts anew and never sees this caller's answer. A retry while the first is
// still running gets 409; the same key with a different body gets 422.
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
		sc := idempotencyScope(r, key)
		prev, err := s.idem.Claim(r.Context(), t, sc, body, s.now().UTC())
		if err != nil {
			return err
		}
		if prev != nil {
			w.Header().Set("Idempotent-Replayed", "true")
			setJSONHeaders(w)
			w.WriteHeader(prev.Status)
			w.Write(prev.Body)
			return nil
		}
		note := &idemNote{account: sessionAccount(r)}
		r = r.WithContext(context.WithValue(r.Context(), idemNoteKey, note))
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
			err = s.idem.Release(ctx, t, sc)
		} else {
			err = s.idem.Complete(ctx, t, sc, note.account, rec.status, rec.body.Bytes())
		}
		if err != nil {
			s.logger.ErrorContext(r.Context(), "record idempotent response", "err", err, "request_id", requestID(r.Context()))
		}
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
		return nil
	}
}

// idempotencyScope is whose the key is: the API key, or the session token's
// account (the account's tokens share its keys, so a retry with a refreshed
// token finds its answer), and the route.
func idempotencyScope(r *http.Request, key string) linkd.IdempotencyScope {
	sc := linkd.IdempotencyScope{Method: r.Method, Path: r.URL.Path, Key: key}
	if c := callerFrom(r.Context()); c.session != nil {
		sc.Caller = "account:" + c.session.AccountPK
	} else {
		sc.Caller = "api_key:" + c.key.ID
	}
	return sc
}

// idemNote is filled in by a handler behind withIdempotency with the linked
// account whose data its response holds, so that deleting the account
// deletes the stored response too.
type idemNote struct{ account string }

type idemNoteKeyType struct{}

var idemNoteKey idemNoteKeyType

// noteAccount records that the response to r holds data of the linked
// account id (a no-op outside withIdempotency).
func noteAccount(r *http.Request, id string) {
	if n, ok := r.Context().Value(idemNoteKey).(*idemNote); ok && id != "" {
		n.account = id
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
