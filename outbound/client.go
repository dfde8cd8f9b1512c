package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// Options configures the outbound client. The zero value is the safe
// default: no private destinations, no client-wide timeout.
type Options struct {
	// AllowPrivate lists the ranges the guard lets through although they are
	// loopback, private, link-local and so on (LINKD_ALLOW_PRIVATE_NETWORKS).
	// Each IPv4 prefix also allows its IPv4-mapped IPv6 form.
	AllowPrivate []netip.Prefix
	// Timeout bounds a whole request including reading the body (see
	// http.Client.Timeout). Zero means none: callers bound calls with their
	// request context, which is the only way to give a 1 GiB stream and a
	// token refresh different limits through one client.
	Timeout time.Duration
	// DialTimeout bounds establishing a TCP connection; zero means 10s, so an
	// unreachable host fails fast even when the caller's context is long.
	DialTimeout time.Duration
}

// MaxHeaderBytes bounds the headers of an answer read by a transport built
// here.
const MaxHeaderBytes = 1 << 20

// ErrRefused is matched (errors.Is) by every error caused by the guard
// refusing a destination. Use IsRefused.
var ErrRefused = errors.New("outbound: destination refused")

// IsRefused reports whether err, as returned by a client or transport built
// here, means the SSRF guard refused the destination, as opposed to the
// destination being down, slow or unknown. Callers answer differently: a
// refused destination is a configuration or abuse problem (403-like), not an
// upstream outage (502) to be retried.
func IsRefused(err error) bool {
	return errors.Is(err, ErrRefused)
}

// guard builds the dial-time check from o.
func guard(o Options) func(network, address string, c syscall.RawConn) error {
	v4, v6 := splitPrefixes(o.AllowPrivate)
	g := ssrf.New(
		ssrf.WithAnyPort(), // the guard is about addresses; apps and tests use any port
		ssrf.WithAllowedV4Prefixes(v4...),
		ssrf.WithAllowedV6Prefixes(v6...),
	)
	return func(network, address string, c syscall.RawConn) error {
		if err := g.Safe(network, address, c); err != nil {
			// Both errors stay matchable: ErrRefused for callers, the
			// library's ErrProhibitedIP etc. for detail.
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return nil
	}
}

// NewTransport returns a transport whose every connection passes the guard.
// It returns the concrete *http.Transport so a caller with special needs can
// adjust it (the proxy may set DisableCompression to pass bodies through
// byte for byte); it must not replace DialContext, DialTLSContext or Proxy,
// which would bypass the guard.
//
// Proxy is nil on purpose: with an HTTP(S)_PROXY from the environment the
// dial would go to the proxy, and the guard would check the proxy's address
// instead of the destination's. ResponseHeaderTimeout is unset because a
// slow upstream is bounded by the caller's context. MaxResponseHeaderBytes
// is 1 MiB (MaxHeaderBytes), not Go's 10 MiB: no API answers with more,
// and a server that sends headers without end would otherwise make linkd
// read and hold 10 MiB for every attempt.
func NewTransport(o Options) *http.Transport {
	dt := o.DialTimeout
	if dt <= 0 {
		dt = 10 * time.Second
	}
	d := &net.Dialer{
		Timeout:   dt,
		KeepAlive: 30 * time.Second,
		Control:   guard(o),
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: MaxHeaderBytes,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
	}
}

// NewClient returns a client over NewTransport that does not follow
// redirects: it hands the 3xx response back. Following a redirect would let
// the upstream send linkd, with the credentials it injected, to another
// host; the caller decides whether and where to go (the proxy passes 3xx
// through, webhooks count them as failures).
func NewClient(o Options) *http.Client {
	return &http.Client{
		Transport: NewTransport(o),
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
