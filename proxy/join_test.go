package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestJoinPath(t *testing.T) {
	base, _ := url.Parse("https://api.example.com/v1")
	for _, c := range []struct{ path, want string }{
		{"", "https://api.example.com/v1"},
		{"/", "https://api.example.com/v1/"},
		{"/items", "https://api.example.com/v1/items"},
		{"items/a%2Fb", "https://api.example.com/v1/items/a%2Fb"},
		{"/a%20b/c", "https://api.example.com/v1/a%20b/c"},
		{"/@evil.example", "https://api.example.com/v1/@evil.example"},
	} {
		u, err := JoinPath(base, c.path, "")
		if err != nil || u.String() != c.want {
			t.Errorf("%q: %v, %v; want %s", c.path, u, err, c.want)
		}
	}
	for _, p := range []string{"/..", "/../x", "/a/../../x", "/%2e%2e/x", "/%2E%2e", "/.", "/a/%2e/b", "/a\\b", "/a%5cb",
		"//evil.example", "/http://evil.example/x", "/a//b", "/%0d%0aHost:x", "/a%00", "/%zz"} {
		if u, err := JoinPath(base, p, ""); err == nil {
			t.Errorf("%q: joined to %s", p, u)
		}
	}
}

// FuzzJoinPath: whatever the caller's path, the result stays on the base's
// host and under its path.
func FuzzJoinPath(f *testing.F) {
	for _, s := range []string{"/items", "/../x", "/%2e%2e", "//evil", "/@evil", "/a\\b", "/http://x", "/%2F%2F", "?x", "#f", "/a/./b"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://api.example.com/v1")
	f.Fuzz(func(t *testing.T, path string) {
		u, err := JoinPath(base, path, "q=1")
		if err != nil {
			return
		}
		if u.Scheme != "https" || u.Host != "api.example.com" || u.User != nil {
			t.Fatalf("%q left the host: %s", path, u)
		}
		if p := u.EscapedPath(); p != "/v1" && !strings.HasPrefix(p, "/v1/") {
			t.Fatalf("%q left the base path: %s", path, p)
		}
		// What goes on the wire parses back to the same place.
		back, err := url.Parse(u.String())
		if err != nil || back.Host != u.Host || back.EscapedPath() != u.EscapedPath() {
			t.Fatalf("%q: %s does not parse back (%v)", path, u, err)
		}
		for _, seg := range strings.Split(back.Path, "/") {
			if seg == ".." {
				t.Fatalf("%q: a .. segment reaches the app: %s", path, u)
			}
		}
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false}, {"3", 3 * time.Second, true}, {"-5", 0, true}, {"99999999999", 24 * time.Hour, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true}, {"soon", 0, false},
	} {
		h := http.Header{}
		if c.v != "" {
			h.Set("Retry-After", c.v)
		}
		if got, ok := retryAfter(h, now); got != c.want || ok != c.ok {
			t.Errorf("%q: %v %v, want %v %v", c.v, got, ok, c.want, c.ok)
		}
	}
}
