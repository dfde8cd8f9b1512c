// Package outbound builds the one HTTP client linkd uses for every call to
// the outside world: the proxy to an app's API, token refreshes, and later
// webhook deliveries and workflow steps.
//
// The URLs linkd calls are chosen, directly or indirectly, by people who are
// not the operator: a catalog template filled from a token response, a
// customer's webhook endpoint, a DNS name whose answer can change between a
// check and the connection. A check on the URL before the request cannot see
// what the connection really reaches, so the guard runs at dial time, on the
// address the socket is about to connect to, after DNS has been resolved
// (code.dny.dev/ssrf as net.Dialer.Control). Loopback, private, link-local,
// CGNAT, multicast, reserved and IPv4-mapped IPv6 destinations are refused
// unless the operator allows a range (LINKD_ALLOW_PRIVATE_NETWORKS, parsed by
// ParsePrefixes), which tests and on-premise apps need.
package outbound
