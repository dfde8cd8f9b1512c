package outbound

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  , ,", nil},
		{"127.0.0.0/8", []string{"127.0.0.0/8"}},
		{"127.0.0.0/8,::1", []string{"127.0.0.0/8", "::1/128"}},
		{"10.0.0.0/8, 192.168.1.7\tfd00::/8\n", []string{"10.0.0.0/8", "192.168.1.7/32", "fd00::/8"}},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}},
		{"::ffff:10.0.0.0/104", []string{"::ffff:10.0.0.0/104"}},
	}
	for _, tt := range tests {
		got, err := ParsePrefixes(tt.in)
		if err != nil {
			t.Errorf("ParsePrefixes(%q): %v", tt.in, err)
			continue
		}
		var gs []string
		for _, p := range got {
			gs = append(gs, p.String())
		}
		if !slices.Equal(gs, tt.want) {
			t.Errorf("ParsePrefixes(%q) = %v, want %v", tt.in, gs, tt.want)
		}
	}
}

func TestParsePrefixesErrors(t *testing.T) {
	for _, in := range []string{
		"10.0.0.0/33",
		"127.0.0.0/8, localhost",
		"10.0.0/8",
		"fe80::1%eth0",
		"1.2.3.4/",
		"::1/129",
	} {
		_, err := ParsePrefixes(in)
		if err == nil {
			t.Errorf("ParsePrefixes(%q): no error", in)
			continue
		}
		bad := strings.TrimSpace(in[strings.LastIndex(in, ",")+1:])
		if !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("ParsePrefixes(%q) error %q does not name %q", in, err, bad)
		}
	}
}

func TestSplitPrefixesMapsIPv4(t *testing.T) {
	v4, v6 := splitPrefixes([]netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::ffff:10.0.0.0/104"),
		netip.MustParsePrefix("fd00::/8"),
	})
	wantV4 := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	wantV6 := []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104"), netip.MustParsePrefix("::ffff:10.0.0.0/104"), netip.MustParsePrefix("fd00::/8")}
	if !slices.Equal(v4, wantV4) || !slices.Equal(v6, wantV6) {
		t.Errorf("splitPrefixes = %v %v, want %v %v", v4, v6, wantV4, wantV6)
	}
}
