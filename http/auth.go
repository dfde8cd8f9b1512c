package http

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
)

// touchEvery bounds how often a key's last-used time is written: once a
// minute is precise enough for "last used" and keeps a write off every call.
const touchEvery = time.Minute

func apiKeyFrom(ctx context.Context) *linkd.APIKey {
	k, _ := ctx.Value(apiKeyKey).(*linkd.APIKey)
	return k
}

// tenant returns the tenant of the authenticated request.
func tenant(r *http.Request) linkd.Tenant { return apiKeyFrom(r.Context()).Tenant() }

// actor names the authenticated caller in audit entries.
func actor(r *http.Request) string { return "api_key:" + apiKeyFrom(r.Context()).ID }

// withAPIKey authenticates the request by its x-api-key header and applies the
// key's rate limit. The key is looked up on every request (by hash, one
// indexed read), so a revocation takes effect at once on every instance.
func (s *Server) withAPIKey(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		secret := r.Header.Get("x-api-key")
		if secret == "" {
			return &linkd.Error{Code: linkd.EUNAUTHORIZED, Field: "x-api-key", Message: "Missing x-api-key header"}
		}
		invalid := &linkd.Error{Code: linkd.EUNAUTHORIZED, Field: "x-api-key", Message: "Invalid Credentials"}
		if !linkd.LooksLikeAPIKey(secret) {
			return invalid
		}
		key, err := s.store.APIKeyByHash(r.Context(), linkd.HashAPIKey(secret))
		if linkd.ErrorCode(err) == linkd.ENOTFOUND {
			return invalid
		} else if err != nil {
			return err
		}
		if key.RevokedAt != nil {
			return &linkd.Error{Code: linkd.EUNAUTHORIZED, Field: "x-api-key", Message: "Invalid Credentials: this API key was revoked"}
		}
		if ok, wait := s.limiter.allow(key.ID); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			return linkd.Errorf(linkd.ERATELIMITED, "Rate limit exceeded for this API key; retry after %s", wait.Round(time.Millisecond))
		}
		s.touch(key)
		r = r.WithContext(context.WithValue(r.Context(), apiKeyKey, key))
		// The log middleware outside reads the key from its own request
		// value, so hand it up through the shared holder as well.
		if kh, ok := r.Context().Value(keyHolderKey).(*keyHolder); ok {
			kh.key = key
		}
		return h(w, r)
	}
}

// touch records the key's use at most once per touchEvery per instance, in
// the background: last-used is informational and must not slow the call.
func (s *Server) touch(k *linkd.APIKey) {
	now := s.now()
	s.touchMu.Lock()
	last, ok := s.touched[k.ID]
	due := !ok || now.Sub(last) >= touchEvery
	if due {
		s.touched[k.ID] = now
	}
	s.touchMu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.store.TouchAPIKey(ctx, k.ID, now.UTC().Truncate(time.Microsecond)); err != nil {
			s.logger.Warn("record api key use", "api_key_id", k.ID, "err", err)
		}
	}()
}
