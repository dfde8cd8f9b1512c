package http

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// touchEvery bounds how often a key's last-used time is written: once a
// minute is precise enough for "last used" and keeps a write off every call.
const touchEvery = time.Minute

// caller is who made an authenticated request: an organization's API key,
// or a session token acting for one linked account.
type caller struct {
	key     *linkd.APIKey
	session *linkd.SessionToken
}

func (c *caller) tenant() linkd.Tenant {
	if c.session != nil {
		return c.session.Tenant()
	}
	return c.key.Tenant()
}

func (c *caller) actor() string {
	if c.session != nil {
		return "session:" + c.session.ID
	}
	return "api_key:" + c.key.ID
}

func callerFrom(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey).(*caller)
	return c
}

// tenant returns the tenant of the authenticated request.
func tenant(r *http.Request) linkd.Tenant { return callerFrom(r.Context()).tenant() }

// actor names the authenticated caller in audit entries.
func actor(r *http.Request) string { return callerFrom(r.Context()).actor() }

// sessionAccount returns the linked account a session-token request acts
// for, or "" for an API-key request.
func sessionAccount(r *http.Request) string {
	if c := callerFrom(r.Context()); c != nil && c.session != nil {
		return c.session.AccountID
	}
	return ""
}

// withCaller runs h with the authenticated caller in the request, after the
// caller's rate limit. The caller is also handed to the log middleware.
func (s *Server) withCaller(w http.ResponseWriter, r *http.Request, c *caller, limitKey string, h handlerFunc) error {
	if ok, wait := s.limiter.Allow(limitKey); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return linkd.Errorf(linkd.ERATELIMITED, "Rate limit exceeded; retry after %s", wait.Round(time.Millisecond))
	}
	if kh, ok := r.Context().Value(keyHolderKey).(*keyHolder); ok {
		kh.caller = c
	}
	return h(w, r.WithContext(context.WithValue(r.Context(), callerKey, c)))
}

// withAPIKey authenticates the request by its x-api-key header and applies the
// key's rate limit. The key is looked up on every request (by hash, one
// indexed read), so a revocation takes effect at once on every instance.
func (s *Server) withAPIKey(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		secret := r.Header.Get("x-api-key")
		if secret == "" {
			if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
				return &linkd.Error{Code: linkd.EFORBIDDEN, Field: "Authorization",
					Message: "this route needs the organization's x-api-key; a session token may not use it"}
			}
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
		s.touch(key)
		return s.withCaller(w, r, &caller{key: key}, "key:"+key.ID, h)
	}
}

// withSession authenticates the request by a session token in its
// Authorization header (Bearer). The token is checked in the database on
// every request, so revocation and account deletion take effect at once.
// A browser request must come from an origin the token's tenant allows
// (checkOrigin, cors.go): every route that takes a session token passes here.
func (s *Server) withSession(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			exposeRefusal(w, r)
			return &linkd.Error{Code: linkd.EUNAUTHORIZED, Field: "Authorization", Type: "INVALID_TOKEN", Message: "Missing Authorization: Bearer <session token>"}
		}
		st, err := s.session(r.Context(), strings.TrimSpace(token))
		if err != nil {
			exposeRefusal(w, r)
			return err
		}
		if err := s.checkOrigin(w, r, st.Tenant()); err != nil {
			return err
		}
		return s.withCaller(w, r, &caller{session: st}, "session:"+st.AccountPK, h)
	}
}

// withKeyOrSession accepts either credential: routes the compatible API lets
// both call (the browser SDK updates its own account with a session token).
func (s *Server) withKeyOrSession(h handlerFunc) handlerFunc {
	key, session := s.withAPIKey(h), s.withSession(h)
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Header.Get("x-api-key") == "" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			return session(w, r)
		}
		return key(w, r)
	}
}

// session checks a session token.
func (s *Server) session(ctx context.Context, token string) (*linkd.SessionToken, error) {
	invalid := &linkd.Error{Code: linkd.EUNAUTHORIZED, Field: "Authorization", Type: "INVALID_TOKEN", Message: "Invalid or expired session token"}
	if !linkd.LooksLikeSessionToken(token, false) {
		return nil, invalid
	}
	st, err := s.store.SessionByHash(ctx, linkd.HashAPIKey(token), false)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return nil, invalid
	} else if err != nil {
		return nil, err
	}
	if st.RevokedAt != nil || !s.now().Before(st.ExpiresAt) {
		return nil, invalid
	}
	return st, nil
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
		if err := s.apiKeys.Touch(ctx, k, now); err != nil {
			s.logger.Warn("record api key use", "api_key_id", k.ID, "err", err)
		}
	}()
}
