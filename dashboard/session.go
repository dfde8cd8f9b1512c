package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/linkd-dev/linkd"
)

// sessionCookie holds the session's secret; only its hash is stored.
const sessionCookie = "linkd_session"

// Current is the signed-in user's request state: the session (user,
// organization, environment) and the organization. Handlers get it with
// current(r); Tenant is what every store call is scoped by.
type Current struct {
	Session *linkd.DashboardSession
	Org     *linkd.Org
}

// Tenant is the organization in the environment the user is looking at.
func (c *Current) Tenant() linkd.Tenant { return c.Session.Tenant() }

// Actor names the user in audit entries.
func (c *Current) Actor() string { return "user:" + c.Session.UserID }

type currentKey struct{}

// current returns the signed-in state of a request that passed
// requireSession, or nil.
func current(r *http.Request) *Current {
	c, _ := r.Context().Value(currentKey{}).(*Current)
	return c
}

// requireSession runs fn for a request with a live session; otherwise it
// sends the browser to sign in (or to first-run setup) and back here.
func (h *Handler) requireSession(fn handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := h.lookupSession(r)
		if err != nil {
			return err
		}
		if c == nil {
			if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
				h.clearSessionCookie(w, r)
			}
			target := "/login"
			if setup, err := h.needsSetup(r.Context()); err != nil {
				return err
			} else if setup {
				target = "/setup"
			}
			if r.Method == http.MethodGet && r.URL.Path != "/" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return nil
		}
		// Errors render here, with the session, so error pages keep the
		// signed-in layout.
		r = r.WithContext(context.WithValue(r.Context(), currentKey{}, c))
		if err := fn(w, r); err != nil {
			h.renderError(w, r, err)
		}
		return nil
	}
}

// optionalSession runs fn with the session when there is one (so that a
// page open to all, like "not found", still shows the signed-in layout).
func (h *Handler) optionalSession(fn handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if c, err := h.lookupSession(r); err == nil && c != nil {
			r = r.WithContext(context.WithValue(r.Context(), currentKey{}, c))
		}
		if err := fn(w, r); err != nil {
			h.renderError(w, r, err)
		}
		return nil
	}
}

// lookupSession returns the request's live session, or nil. The service
// reads the database every time, so a session ended or a user disabled on
// any instance is refused here at once.
func (h *Handler) lookupSession(r *http.Request) (*Current, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || !strings.HasPrefix(ck.Value, "ds_") || len(ck.Value) > 100 {
		return nil, nil
	}
	s, err := h.users.Session(r.Context(), ck.Value)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	org, err := h.org(r.Context(), s.OrgID)
	if err != nil {
		return nil, err
	}
	return &Current{Session: s, Org: org}, nil
}

// org finds an organization by id.
func (h *Handler) org(ctx context.Context, id string) (*linkd.Org, error) {
	return h.store.OrgByID(ctx, id)
}

// needsSetup reports whether some organization has no user yet, so the
// first-run page is where a visitor without a session belongs.
func (h *Handler) needsSetup(ctx context.Context) (bool, error) {
	orgs, err := h.store.Orgs(ctx)
	if err != nil {
		return false, err
	}
	for _, o := range orgs {
		n, err := h.store.CountUsers(ctx, o.ID)
		if err != nil {
			return false, err
		}
		if n == 0 {
			return true, nil
		}
	}
	return false, nil
}

// setSessionCookie gives the browser a session's secret.
func (h *Handler) setSessionCookie(w http.ResponseWriter, r *http.Request, secret string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: h.https(r), MaxAge: int(linkd.DashboardSessionTTL.Seconds())})
}

func (h *Handler) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: h.https(r), MaxAge: -1})
}

// https reports whether the browser reaches us over https: the public URL
// says so, or the request came over TLS (directly or through a trusted
// proxy). Cookies are Secure and HSTS is sent then.
func (h *Handler) https(r *http.Request) bool {
	return h.publicHTTPS || h.cfg.TrustedProxies.HTTPS(r)
}
