package outbound

import "testing"

// FuzzParsePrefixes: LINKD_ALLOW_PRIVATE_NETWORKS parses into valid,
// masked prefixes or fails; it never panics.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"", "127.0.0.1/32", "10.0.0.0/8, 192.168.0.0/16", "::1/128", "127.0.0.1", "10.0.0.1/8", "300.0.0.0/8", "fe80::1%eth0/64", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePrefixes(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("ParsePrefixes(%q) gave %v", s, p)
			}
		}
	})
}
