package workflow

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNextLink(t *testing.T) {
	for v, want := range map[string]string{
		`<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=9>; rel="last"`: "https://api.github.com/x?page=2",
		`<https://a/x?page=1>; rel="prev first"`:                                                       "",
		`<https://a/x?page=3>; REL="Next"`:                                                             "https://a/x?page=3",
		`garbage`:                                                                                      "",
	} {
		if got := nextLink(http.Header{"Link": {v}}); got != want {
			t.Errorf("nextLink(%q) = %q, want %q", v, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{"120": 2 * time.Minute, "-5": 0, "99999999": MaxRetryWait, "": 0, "soon": 0,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second} {
		if got := retryAfter(http.Header{"Retry-After": {v}}, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

// FuzzLinkHeader: any Link header parses without panicking, and a next
// link found is one of the header's targets.
func FuzzLinkHeader(f *testing.F) {
	f.Add(`<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=9>; rel="last"`)
	f.Add(`<>; rel=next`)
	f.Add(`<a>;;;rel="next prev";`)
	f.Fuzz(func(t *testing.T, v string) {
		got := nextLink(http.Header{"Link": {v}})
		if got != "" && !strings.Contains(v, "<"+got+">") {
			t.Fatalf("nextLink(%q) = %q, not a target of the header", v, got)
		}
		retryAfter(http.Header{"Retry-After": {v}}, time.Now())
	})
}
