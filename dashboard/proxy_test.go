package dashboard

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

// TestClientIP: behind trusted proxies the client is the right-most
// X-Forwarded-For address that is not a proxy; the left-most, which the
// client writes, is never believed, and an untrusted peer's headers are
// ignored altogether.
func TestClientIP(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.1 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		proxies *TrustedProxies
		peer    string
		xff     []string
		want    string
	}{
		{"no proxies: the peer", nil, "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"untrusted peer's header ignored", proxies, "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"one proxy", proxies, "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed left-most entry", proxies, "10.1.2.3:4000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"two proxies", proxies, "10.1.2.3:4000", []string{"6.6.6.6, 198.51.100.1, 192.168.1.1"}, "198.51.100.1"},
		{"split over two headers", proxies, "10.1.2.3:4000", []string{"6.6.6.6", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"IPv6 client", proxies, "[2001:db8::1]:4000", []string{"6.6.6.6, 2001:db9::7"}, "2001:db9::7"},
		{"all trusted: the peer", proxies, "10.1.2.3:4000", []string{"10.0.0.7"}, "10.1.2.3"},
		{"no header: the peer", proxies, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"garbage right-most: the peer", proxies, "10.1.2.3:4000", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.proxies.ClientIP(r); got != tt.want {
				t.Fatalf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Fatal("a bad range was accepted")
	}
	if p, err := ParseTrustedProxies(" "); p != nil || err != nil {
		t.Fatalf("empty list = %v, %v", p, err)
	}
}

// TestHTTPS: X-Forwarded-Proto counts only from a trusted peer.
func TestHTTPS(t *testing.T) {
	proxies, _ := ParseTrustedProxies("10.0.0.0/8")
	for _, tt := range []struct {
		name  string
		peer  string
		tls   bool
		proto string
		want  bool
	}{
		{"plain", "10.1.1.1:1", false, "", false},
		{"tls", "203.0.113.1:1", true, "", true},
		{"trusted proxy says https", "10.1.1.1:1", false, "https", true},
		{"trusted proxy says http", "10.1.1.1:1", false, "http", false},
		{"untrusted peer says https", "203.0.113.1:1", false, "https", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			if got := proxies.HTTPS(r); got != tt.want {
				t.Fatalf("HTTPS = %v, want %v", got, tt.want)
			}
		})
	}
}
