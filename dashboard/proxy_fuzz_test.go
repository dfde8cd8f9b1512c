package dashboard

import (
	"net"
	"net/http"
	"testing"
)

// FuzzTrustedProxies: LINKD_TRUSTED_PROXIES parses or fails, and whatever
// X-Forwarded-For and X-Forwarded-Proto a request carries, the client
// address read from it is an IP address, and a request from a peer no range
// trusts is read as that peer whatever its headers say.
func FuzzTrustedProxies(f *testing.F) {
	for _, s := range [][4]string{
		{"10.0.0.0/8", "10.0.0.1:443", "203.0.113.7, 10.0.0.2", "https"},
		{"10.0.0.0/8,192.168.1.1", "192.168.1.1:1", "1.1.1.1,,2.2.2.2", "http, https"},
		{"", "198.51.100.1:80", "203.0.113.7", "https"},
		{"::1/128", "[::1]:8080", "[2001:db8::1]:443, ::1", "HTTPS"},
		{"0.0.0.0/0", "10.0.0.1:1", "unknown, _hidden", ""},
		{"bad", "x", "\x00", "\xff"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, ranges, remote, xff, proto string) {
		p, err := ParseTrustedProxies(ranges)
		if err != nil {
			return
		}
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}, "X-Forwarded-Proto": {proto}}}
		ip := p.ClientIP(r)
		p.HTTPS(r)
		if !p.peerTrusted(r) {
			if ip != peerAddr(r) {
				t.Fatalf("untrusted peer %q read as %q from X-Forwarded-For %q", remote, ip, xff)
			}
			return
		}
		if net.ParseIP(ip) == nil {
			t.Fatalf("client address %q (peer %q, X-Forwarded-For %q) is not an IP address", ip, remote, xff)
		}
	})
}
