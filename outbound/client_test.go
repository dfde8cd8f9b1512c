package outbound

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"code.dny.dev/ssrf"
)

// TestGuard runs the dial-time check over the ranges an attacker aims at
// (cloud metadata, loopback, private networks, their IPv4-mapped forms) and
// over public addresses, which must pass. Public addresses are checked
// through the guard only: nothing beyond loopback is reachable here.
func TestGuard(t *testing.T) {
	tests := []struct {
		addr    string
		refused bool
	}{
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"172.16.0.1", true},
		{"172.31.255.254", true},
		{"192.168.0.1", true},
		{"192.168.255.255", true},
		{"169.254.0.1", true},
		{"169.254.169.254", true}, // cloud metadata
		{"100.64.0.1", true},      // CGNAT
		{"100.127.255.254", true},
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"224.0.0.1", true}, // multicast
		{"239.255.255.250", true},
		{"255.255.255.255", true},
		{"::1", true},
		{"::", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"fe80::1", true},
		{"ff02::1", true}, // multicast
		{"::ffff:169.254.169.254", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:8.8.8.8", true}, // mapped forms are never dialled legitimately
		{"64:ff9b::7f00:1", true},
		// Public addresses pass.
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"172.32.0.1", false},
		{"100.128.0.1", false},
		{"2606:4700:4700::1111", false},
		{"2001:4860:4860::8888", false},
	}
	check := guard(Options{})
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		network := "tcp4"
		if a.Is6() {
			network = "tcp6"
		}
		err := check(network, netip.AddrPortFrom(a, 443).String(), nil)
		if got := err != nil; got != tt.refused {
			t.Errorf("guard(%s) = %v, want refused=%v", tt.addr, err, tt.refused)
			continue
		}
		if tt.refused {
			if !IsRefused(err) || !errors.Is(err, ssrf.ErrProhibitedIP) {
				t.Errorf("guard(%s) = %v: want IsRefused and ssrf.ErrProhibitedIP", tt.addr, err)
			}
		}
	}
}

// TestGuardAllowed checks that an allowed IPv4 prefix also allows its mapped
// IPv6 form, and that allowing one range leaves the others refused.
func TestGuardAllowed(t *testing.T) {
	allow, err := ParsePrefixes("127.0.0.0/8, 10.1.0.0/16, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	check := guard(Options{AllowPrivate: allow})
	tests := []struct {
		network, addr string
		refused       bool
	}{
		{"tcp4", "127.0.0.1:8080", false},
		{"tcp6", "[::ffff:127.0.0.1]:8080", false},
		{"tcp4", "10.1.2.3:1", false},
		{"tcp6", "[::ffff:10.1.2.3]:1", false},
		{"tcp4", "10.2.0.1:1", true},
		{"tcp6", "[::ffff:10.2.0.1]:1", true},
		{"tcp6", "[fd00::1]:443", false},
		{"tcp6", "[::1]:443", true},
		{"tcp4", "169.254.169.254:80", true},
		{"tcp6", "[::ffff:169.254.169.254]:80", true},
		{"udp4", "127.0.0.1:53", true}, // only TCP is dialled
	}
	for _, tt := range tests {
		err := check(tt.network, tt.addr, nil)
		if got := err != nil; got != tt.refused {
			t.Errorf("guard(%s %s) = %v, want refused=%v", tt.network, tt.addr, err, tt.refused)
		}
		if err != nil && !IsRefused(err) {
			t.Errorf("guard(%s %s) = %v: IsRefused false", tt.network, tt.addr, err)
		}
	}
}

// server starts an HTTP server on addr ("127.0.0.1:0" or "[::1]:0") that
// counts the requests it receives.
func server(t *testing.T, addr string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	var hits atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	}))
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s, &hits
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func TestClientRefusesLoopbackByDefault(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		s, hits := server(t, addr)
		_, err := get(t, NewClient(Options{}), s.URL)
		if err == nil {
			t.Fatalf("GET %s: no error", s.URL)
		}
		if !IsRefused(err) {
			t.Errorf("GET %s: %v: IsRefused false", s.URL, err)
		}
		if hits.Load() != 0 {
			t.Errorf("GET %s reached the server", s.URL)
		}
	}
}

func TestClientAllowsAllowedPrefix(t *testing.T) {
	for _, tt := range []struct{ listen, allow string }{
		{"127.0.0.1:0", "127.0.0.0/8"},
		{"127.0.0.1:0", "127.0.0.1"},
		{"[::1]:0", "::1"},
	} {
		s, hits := server(t, tt.listen)
		allow, err := ParsePrefixes(tt.allow)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := get(t, NewClient(Options{AllowPrivate: allow}), s.URL)
		if err != nil {
			t.Fatalf("GET %s allowing %s: %v", s.URL, tt.allow, err)
		}
		if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
			t.Errorf("GET %s allowing %s: status %d, hits %d", s.URL, tt.allow, resp.StatusCode, hits.Load())
		}
	}
}

// TestClientAllowsOnlyTheAllowedFamily: allowing IPv6 loopback does not
// open IPv4 loopback, and the other way round.
func TestClientAllowsOnlyTheAllowedFamily(t *testing.T) {
	s4, _ := server(t, "127.0.0.1:0")
	s6, _ := server(t, "[::1]:0")
	if _, err := get(t, NewClient(Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("::1/128")}}), s4.URL); !IsRefused(err) {
		t.Errorf("GET %s allowing ::1: %v, want refused", s4.URL, err)
	}
	if _, err := get(t, NewClient(Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}), s6.URL); !IsRefused(err) {
		t.Errorf("GET %s allowing 127/8: %v, want refused", s6.URL, err)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	s, hits := server(t, "127.0.0.1:0")
	c := NewClient(Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	resp, err := get(t, c, s.URL+"/redirect")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/elsewhere" {
		t.Errorf("status %d Location %q, want 302 /elsewhere", resp.StatusCode, resp.Header.Get("Location"))
	}
	if hits.Load() != 1 {
		t.Errorf("server saw %d requests, want 1", hits.Load())
	}
}

// TestClientRefusesLoopbackAliases: names and numeric forms that reach
// loopback through the resolver are refused (or fail to resolve); none of
// them may reach a server listening on loopback. With the pure Go resolver
// the numeric forms do not resolve; with the cgo resolver (getaddrinfo, as
// GODEBUG=netdns=cgo shows) they resolve to 127.0.0.1 and are refused.
func TestClientRefusesLoopbackAliases(t *testing.T) {
	s, hits := server(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	c := NewClient(Options{DialTimeout: 5 * time.Second})
	for _, host := range []string{
		"localhost",
		"foo.localhost",
		"2130706433", // 127.0.0.1 as one decimal number
		"0177.0.0.1", // 127.0.0.1 in octal
		"0x7f.0.0.1",
		"127.1",
		"[::ffff:127.0.0.1]",
		"[::ffff:7f00:1]",
		"0.0.0.0",
		"[::]",
	} {
		url := "http://" + host + ":" + port + "/"
		_, err := get(t, c, url)
		if err == nil {
			t.Errorf("GET %s: no error", url)
			continue
		}
		// A name that resolves must be refused; one that does not resolve
		// fails anyway, which is as safe.
		var dnsErr *net.DNSError
		if !IsRefused(err) && !errors.As(err, &dnsErr) {
			t.Errorf("GET %s: %v: neither refused nor unresolved", url, err)
		}
		t.Logf("GET %s: %v", url, err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("loopback server reached %d times", n)
	}
}

func TestTransportSettings(t *testing.T) {
	tr := NewTransport(Options{})
	if tr.Proxy != nil {
		t.Error("Proxy set: an environment proxy would bypass the guard")
	}
	if tr.MaxResponseHeaderBytes != MaxHeaderBytes {
		t.Errorf("MaxResponseHeaderBytes %d: a server sending headers without end would be read 10 MiB at a time", tr.MaxResponseHeaderBytes)
	}
	if tr.MaxIdleConnsPerHost < 32 || tr.IdleConnTimeout != 90*time.Second || tr.TLSHandshakeTimeout != 10*time.Second || !tr.ForceAttemptHTTP2 || tr.ResponseHeaderTimeout != 0 {
		t.Errorf("transport settings: %+v", tr)
	}
	c := NewClient(Options{Timeout: 3 * time.Second})
	if c.Timeout != 3*time.Second {
		t.Errorf("client timeout %v", c.Timeout)
	}
	if !strings.Contains(ErrRefused.Error(), "refused") {
		t.Error(ErrRefused)
	}
}
