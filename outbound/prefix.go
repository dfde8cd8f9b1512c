package outbound

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParsePrefixes parses an operator's allow-list such as the value of
// LINKD_ALLOW_PRIVATE_NETWORKS: CIDR prefixes separated by commas and/or
// white space ("127.0.0.0/8, ::1"). A bare address stands for itself (/32 or
// /128), because "allow 10.1.2.3" is what an operator means when they write
// it. Host bits are cleared (10.1.2.3/8 becomes 10.0.0.0/8) so the prefixes
// print as they act. An empty string is an empty list. The first bad entry
// is named in the error, so a typo in the environment fails at start rather
// than silently allowing nothing.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	var out []netip.Prefix
	for _, f := range fields {
		p, err := parsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("outbound: allowed network %q: %w", f, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(f string) (netip.Prefix, error) {
	if strings.Contains(f, "/") {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR prefix (want e.g. 10.0.0.0/8 or fd00::/8)")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(f)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR prefix (want e.g. 10.1.2.3 or 10.0.0.0/8)")
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("an address with a zone cannot be allowed; give the address without %%%s", a.Zone())
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// splitPrefixes sorts allowed prefixes into the IPv4 and IPv6 lists the
// guard wants. The guard treats an IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) as IPv6 and refuses it because it lies outside 2000::/3,
// so an allowed IPv4 prefix is also allowed in its mapped form; otherwise
// allowing 127.0.0.0/8 would still refuse a dial that the system delivers as
// ::ffff:127.0.0.1. The converse holds too: an allowed mapped prefix also
// allows the plain IPv4 range it names, because both reach the same hosts.
func splitPrefixes(ps []netip.Prefix) (v4, v6 []netip.Prefix) {
	for _, p := range ps {
		a := p.Addr()
		switch {
		case a.Is4():
			v4 = append(v4, p)
			v6 = append(v6, netip.PrefixFrom(netip.AddrFrom16(a.As16()), p.Bits()+96))
		case a.Is4In6() && p.Bits() >= 96:
			v6 = append(v6, p)
			v4 = append(v4, netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked())
		default:
			v6 = append(v6, p)
		}
	}
	return v4, v6
}
