package dashboard

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSecureCookie: the session cookie is Secure when the request came
// over TLS, or through a trusted proxy that says it did, and only then.
func TestSecureCookie(t *testing.T) {
	for _, tt := range []struct {
		name  string
		tls   bool
		proto string
		trust bool
		want  bool
	}{
		{"plain", false, "", false, false},
		{"tls", true, "", false, true},
		{"proxy untrusted", false, "https", false, false},
		{"proxy trusted", false, "https", true, true},
		{"proxy trusted http", false, "http", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			h := &Handler{cfg: Config{TrustProxy: tt.trust}}
			w := httptest.NewRecorder()
			h.clearSessionCookie(w, r)
			c := w.Result().Cookies()[0]
			if c.Secure != tt.want || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Fatalf("cookie = %+v, want Secure=%v", c, tt.want)
			}
		})
	}
}
