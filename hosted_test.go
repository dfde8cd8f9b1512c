package linkd_test

import (
	"testing"

	"github.com/linkd-dev/linkd"
)

func TestNormalizeOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://app.example.com":       "https://app.example.com",
		"https://App.Example.COM/":      "https://app.example.com",
		"HTTPS://app.example.com:443":   "https://app.example.com",
		"http://app.example.com:80":     "http://app.example.com",
		"http://localhost:3000":         "http://localhost:3000",
		"https://app.example.com:8443":  "https://app.example.com:8443",
		"http://127.0.0.1:5173":         "http://127.0.0.1:5173",
		"http://[::1]:8080":             "http://[::1]:8080",
		"http://[0:0:0:0:0:0:0:1]:8080": "http://[::1]:8080",
		"https://xn--bcher-kva.example": "https://xn--bcher-kva.example",
	} {
		got, err := linkd.NormalizeOrigin("o", in)
		if err != nil || got != want {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "null", "*", "app.example.com", "//app.example.com", "ftp://app.example.com", "javascript:alert(1)",
		"https://app.example.com/path", "https://app.example.com?q", "https://app.example.com#f", "https://app.example.com/#",
		"https://user:pw@app.example.com", "https://app.example.com:0", "https://app.example.com:70000", "https://app.example.com:",
		"https://*.example.com", "https://bücher.example", "https://app example.com", "https://[::zz]", "data:text/html,x",
	} {
		if got, err := linkd.NormalizeOrigin("allowed_origins[0]", in); err == nil || linkd.ErrorCode(err) != linkd.EINVALID {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want an EINVALID error", in, got, err)
		} else if e := err.(*linkd.Error); e.Field != "allowed_origins[0]" {
			t.Errorf("NormalizeOrigin(%q): field %q", in, e.Field)
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	test := linkd.Tenant{OrgID: "o", Env: linkd.EnvTest}
	prod := linkd.Tenant{OrgID: "o", Env: linkd.EnvProduction}
	allowed := []string{"https://app.example.com"}
	const public = "https://linkd.example.com"
	for _, c := range []struct {
		t      linkd.Tenant
		origin string
		want   bool
	}{
		{prod, "https://app.example.com", true},
		{prod, "https://APP.example.com:443", true},
		{prod, "https://linkd.example.com", true},
		{prod, "http://app.example.com", false},
		{prod, "https://app.example.com.evil.test", false},
		{prod, "http://localhost:3000", false},
		{test, "http://localhost:3000", true},
		{test, "http://127.0.0.1:5173", true},
		{test, "http://[::1]:1234", true},
		{test, "http://localhost.evil.test", false},
		{test, "http://127.0.0.1.evil.test", false},
		{test, "null", false},
		{test, "", false},
	} {
		if got := linkd.OriginAllowed(c.t, allowed, public, c.origin); got != c.want {
			t.Errorf("OriginAllowed(%s, %q) = %v, want %v", c.t.Env, c.origin, got, c.want)
		}
	}
}

// FuzzNormalizeOrigin checks that a normalized origin is a fixed point and
// never carries a path, query, fragment or user.
func FuzzNormalizeOrigin(f *testing.F) {
	for _, s := range []string{"https://a.example", "http://[::1]:80", "HTTP://X:080/", "https://a@b", "http://a/b?c#d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := linkd.NormalizeOrigin("o", s)
		if err != nil {
			return
		}
		again, err := linkd.NormalizeOrigin("o", o)
		if err != nil || again != o {
			t.Fatalf("%q → %q → %q, %v", s, o, again, err)
		}
		if linkd.OriginOf(o+"/x?y") != o {
			t.Fatalf("OriginOf(%q/x?y) = %q", o, linkd.OriginOf(o+"/x?y"))
		}
	})
}
