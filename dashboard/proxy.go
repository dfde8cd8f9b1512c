package dashboard

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/realclientip/realclientip-go"
)

// TrustedProxies are the reverse proxies whose forwarding headers the
// dashboard believes: the client address (for the sign-in limits) and the
// scheme (for Secure cookies and HSTS). Only a request whose peer is one of
// them is read this way, and then the client is the right-most
// X-Forwarded-For address that is not a trusted proxy: every proxy appends
// the address it got the request from, so the entries on the left are
// whatever the client chose to send. The nil *TrustedProxies trusts
// nobody.
type TrustedProxies struct {
	ranges []net.IPNet
	xff    realclientip.RightmostTrustedRangeStrategy
	list   string
}

// ParseTrustedProxies reads a comma- or space-separated list of CIDR
// ranges or single addresses (LINKD_TRUSTED_PROXIES). The empty list is
// nil: no proxy is trusted.
func ParseTrustedProxies(s string) (*TrustedProxies, error) {
	items := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(items) == 0 {
		return nil, nil
	}
	ranges, err := realclientip.AddressesAndRangesToIPNets(items...)
	if err != nil {
		return nil, fmt.Errorf("trusted proxies %q: each must be a CIDR range like 10.0.0.0/8 or an address: %w", s, err)
	}
	xff, err := realclientip.NewRightmostTrustedRangeStrategy("X-Forwarded-For", ranges)
	if err != nil {
		return nil, err
	}
	return &TrustedProxies{ranges: ranges, xff: xff, list: strings.Join(items, ",")}, nil
}

// String lists the ranges, for the log.
func (p *TrustedProxies) String() string {
	if p == nil {
		return ""
	}
	return p.list
}

// peerTrusted reports whether the request came straight from a trusted
// proxy.
func (p *TrustedProxies) peerTrusted(r *http.Request) bool {
	if p == nil {
		return false
	}
	ip := net.ParseIP(peerAddr(r))
	if ip == nil {
		return false
	}
	for _, n := range p.ranges {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientIP is the address of the browser behind the request: the
// right-most untrusted X-Forwarded-For address when the peer is a trusted
// proxy (the peer itself when the header names nobody usable), else the
// peer.
func (p *TrustedProxies) ClientIP(r *http.Request) string {
	if p.peerTrusted(r) {
		if ip := p.xff.ClientIP(r.Header, r.RemoteAddr); ip != "" {
			return ip
		}
	}
	return peerAddr(r)
}

// HTTPS reports whether the browser reached us over TLS: directly, or
// through a trusted proxy whose X-Forwarded-Proto says so.
func (p *TrustedProxies) HTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return p.peerTrusted(r) && strings.EqualFold(strings.TrimSpace(lastItem(r.Header.Get("X-Forwarded-Proto"))), "https")
}

// lastItem is the right-most entry of a comma-separated header value:
// the one the nearest proxy wrote.
func lastItem(s string) string {
	if i := strings.LastIndexByte(s, ','); i >= 0 {
		return s[i+1:]
	}
	return s
}

func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
