package http

import (
	"context"
	"net/http"
	"strings"

	"github.com/linkd-dev/linkd"
)

// CORS: the browser SDK calls the API from the customer's own web app with a
// session token. Which origins may do so is a per-tenant list (PUT
// /api/v2/public/org/allowed-origins); linkd's own origin is always allowed,
// and in the test environment so is any loopback origin (localhost,
// 127.0.0.1, [::1], any port), so that the SDK works out of the box on a
// developer's machine.
//
// A preflight (OPTIONS) carries no credential, so it cannot know the tenant:
// it only checks the shape of the request (an API route that exists with
// that method, and headers from corsAllowedHeaders, never x-api-key) and
// answers for any well-formed origin. The tenant's list is enforced on the
// request itself, in withSession, after the token is known and before the
// handler runs: a request from an origin the tenant does not allow is
// refused with 403 and changes nothing. Responses carry no
// Access-Control-Allow-Credentials: session tokens travel in a header, never
// in cookies.

// corsAllowedHeaders are the request headers a browser may send. x-api-key
// is deliberately absent: an organization's key must never be used from a
// browser.
var corsAllowedHeaders = []string{"Authorization", "Content-Type", "linked_account_id", "config_id", "slug", "Idempotency-Key", "X-Request-Id"}

// corsExposedHeaders are the response headers the SDK may read.
const corsExposedHeaders = "X-Request-Id, Retry-After, Idempotent-Replayed"

// corsMaxAge is how long (seconds) a browser may cache a preflight answer.
// It says nothing about origins, so it may be long-ish.
const corsMaxAge = "600"

// withCORS answers preflight requests to the API and marks every API
// response as varying by Origin (caches must not hand one origin's answer
// to another). The origin check itself is in withSession.
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin != "" && r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			s.preflight(w, r, origin)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight. A refusal has no CORS headers, which
// is how a browser is told no.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	method := r.Header.Get("Access-Control-Request-Method")
	probe := r.Clone(r.Context())
	probe.Method = method
	_, pattern := s.mux.Handler(probe)
	_, err := linkd.NormalizeOrigin("Origin", origin)
	if pattern == "" || err != nil || !corsHeadersAllowed(r.Header.Values("Access-Control-Request-Headers")) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", method)
	h.Set("Access-Control-Allow-Headers", strings.Join(corsAllowedHeaders, ", "))
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// corsHeadersAllowed reports whether every header a preflight asks for
// (comma-separated lists) is one the API lets browsers send.
func corsHeadersAllowed(lists []string) bool {
	for _, list := range lists {
		for _, name := range strings.Split(list, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			ok := false
			for _, a := range corsAllowedHeaders {
				ok = ok || strings.EqualFold(a, name)
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

// publicOrigin is linkd's own origin (of its PUBLIC_URL), always allowed.
func (s *Server) publicOrigin() string {
	if s.connections == nil {
		return ""
	}
	return linkd.OriginOf(s.connections.PublicURL)
}

// originAllowed reports whether a page at origin may act for tenant t.
func (s *Server) originAllowed(ctx context.Context, t linkd.Tenant, origin string) (bool, error) {
	o, err := linkd.NormalizeOrigin("Origin", origin)
	if err != nil {
		return false, nil
	}
	// The common cases need no database read.
	if o == s.publicOrigin() || (t.Env == linkd.EnvTest && linkd.IsLoopbackOrigin(o)) {
		return true, nil
	}
	allowed, err := s.store.AllowedOrigins(ctx, t)
	if err != nil {
		return false, err
	}
	return linkd.OriginAllowed(t, allowed, s.publicOrigin(), o), nil
}

// checkOrigin enforces the tenant's allowed origins on a request made with
// a session token: a browser request (one with an Origin header) from an
// origin the tenant does not allow is refused before the handler runs, and
// an allowed one gets the CORS headers that let the page read the answer.
func (s *Server) checkOrigin(w http.ResponseWriter, r *http.Request, t linkd.Tenant) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	ok, err := s.originAllowed(r.Context(), t, origin)
	if err != nil {
		return err
	}
	if !ok {
		return &linkd.Error{Code: linkd.EFORBIDDEN, Field: "Origin", Type: "ORIGIN_NOT_ALLOWED",
			Message: "Origin " + origin + " is not allowed for this organization's " + string(t.Env) +
				" environment; add it with PUT /api/v2/public/org/allowed-origins"}
	}
	exposeTo(w, origin)
	return nil
}

// exposeRefusal lets a page read why its session token was refused (401
// INVALID_TOKEN, so that the SDK can refresh it): the answer holds nothing
// of any tenant, so any well-formed origin may read it.
func exposeRefusal(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if _, err := linkd.NormalizeOrigin("Origin", origin); err == nil {
		exposeTo(w, origin)
	}
}

func exposeTo(w http.ResponseWriter, origin string) {
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Set("Access-Control-Expose-Headers", corsExposedHeaders)
}
