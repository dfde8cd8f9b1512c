package connect

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"

	"github.com/linkd-dev/linkd"
)

// Binding a flow to the browser that started it. Without it, a consent URL
// handed to someone else (or leaked) lands their grant on the account that
// asked for it. Where the customer's browser starts the flow at linkd (the
// hosted page's Connect button), linkd gives that browser a random secret in
// a cookie, stores its hash with the state, and the callback completes only
// in a browser that presents it.
//
// Each flow has a cookie of its own, named after the secret's hash, so two
// flows started in two tabs do not undo each other. The cookie is sent to
// the callback only (its path), expires with the state, is out of reach of
// scripts, and is SameSite=Lax: the provider's redirect back is a top-level
// navigation, which carries it; a cross-site subrequest does not.

// browserCookiePrefix starts the name of every binding cookie.
const browserCookiePrefix = "linkd_oauth_"

func browserHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// browserCookieName names the cookie of the flow whose secret hashes to h.
func browserCookieName(h []byte) string {
	return browserCookiePrefix + hex.EncodeToString(h[:8])
}

// BrowserCookie returns a new secret for AuthRequest.Browser and the cookie
// that gives it to the browser starting the flow; the caller sets the
// cookie on the response that sends the browser to the provider.
func (s *Service) BrowserCookie() (secret string, c *http.Cookie) {
	var b [32]byte
	rand.Read(b[:])
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	c = s.browserCookie(browserHash(secret))
	c.Value = secret
	c.MaxAge = int(linkd.OAuthStateTTL.Seconds())
	return secret, c
}

// expiredBrowserCookie deletes the cookie of the flow whose secret hashes
// to h: the callback spends it with the state.
func (s *Service) expiredBrowserCookie(h []byte) *http.Cookie {
	c := s.browserCookie(h)
	c.MaxAge = -1
	return c
}

func (s *Service) browserCookie(h []byte) *http.Cookie {
	path := "/oauth/callback"
	secure := false
	if u, err := url.Parse(s.RedirectURL()); err == nil {
		path, secure = u.Path, u.Scheme == "https"
	}
	return &http.Cookie{Name: browserCookieName(h), Path: path, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
}

// browserPresent reports whether cookies hold the flow's secret (whose
// hash is h), compared in constant time.
func browserPresent(h []byte, cookies []*http.Cookie) bool {
	name := browserCookieName(h)
	for _, c := range cookies {
		if c.Name == name && strings.HasPrefix(c.Name, browserCookiePrefix) && subtle.ConstantTimeCompare(browserHash(c.Value), h) == 1 {
			return true
		}
	}
	return false
}
