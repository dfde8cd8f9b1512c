package dashboard

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSecureCookie: the session cookie is Secure when the request came
// over TLS, through a trusted proxy that says it did, or whenever the
// public URL is https; HSTS is sent in exactly the same cases.
func TestSecureCookie(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		tls       bool
		proto     string
		trust     bool
		publicURL string
		want      bool
	}{
		{"plain", false, "", false, "", false},
		{"tls", true, "", false, "", true},
		{"proxy untrusted", false, "https", false, "", false},
		{"proxy trusted", false, "https", true, "", true},
		{"proxy trusted http", false, "http", true, "", false},
		{"public URL https", false, "", false, "https://linkd.example.com", true},
		{"public URL http", false, "", false, "http://127.0.0.1:8080", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "10.0.0.1:5555"
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			cfg := Config{PublicURL: tt.publicURL}
			if tt.trust {
				cfg.TrustedProxies = proxies
			}
			h := &Handler{cfg: cfg, publicHTTPS: tt.publicURL != "" && tt.publicURL[:8] == "https://"}
			w := httptest.NewRecorder()
			h.clearSessionCookie(w, r)
			c := w.Result().Cookies()[0]
			if c.Secure != tt.want || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Fatalf("cookie = %+v, want Secure=%v", c, tt.want)
			}
			w = httptest.NewRecorder()
			h.securityHeaders(http.NotFoundHandler()).ServeHTTP(w, r)
			if hsts := w.Header().Get("Strict-Transport-Security"); (hsts != "") != tt.want {
				t.Fatalf("Strict-Transport-Security = %q, want it %v", hsts, tt.want)
			}
		})
	}
}
