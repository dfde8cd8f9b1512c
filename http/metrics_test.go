package http_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd/dbtest"
	linkdhttp "github.com/linkd-dev/linkd/http"
)

// series returns the lines of a /metrics page that are samples of the
// named metric (one per label set).
func series(page []byte, metric string) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(page))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), metric+"{") {
			out = append(out, sc.Text())
		}
	}
	return out
}

func randomWord() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TestMetricsLabelsBounded sends requests with invented methods and paths,
// as anyone on the network can: the number of series must not grow with
// them (each series is kept for the life of the process, so an unbounded
// label is a memory leak anyone can drive), and no label may carry what
// the client wrote.
func TestMetricsLabelsBounded(t *testing.T) {
	f := newFixture(t, dbtest.SQLite(t), 0)
	f.do("GET", "/healthz", "", nil)
	f.do("GET", la+"/someone", "a", nil)
	before := f.do("GET", "/metrics", "", nil)
	var sent []string
	for i := range 300 {
		method, path := "X"+strings.ToUpper(randomWord()), "/"+randomWord()
		switch i % 3 {
		case 1:
			method = "GET"
		case 2:
			path = la + "/" + randomWord() // a route that exists, with an invented method
		}
		if i%5 == 0 {
			path = "/api/v2/public/" + randomWord()
		}
		sent = append(sent, method, strings.TrimPrefix(path, la+"/"))
		f.do(method, path, "", nil)
	}
	// Methods are case-sensitive: "get" is not GET.
	f.do("get", "/healthz", "", nil)
	after := f.do("GET", "/metrics", "", nil)
	if after.status != 200 {
		t.Fatalf("/metrics: %d", after.status)
	}
	for _, m := range []string{"linkd_http_requests_total", "linkd_http_request_duration_seconds_count"} {
		b, a := series(before.raw, m), series(after.raw, m)
		// Allowed: one route "unmatched" and method "other", with the few
		// statuses the server answers (404, 405), and the /metrics call.
		if len(a) > len(b)+6 {
			t.Errorf("%s: %d series before, %d after 300 invented requests:\n%s", m, len(b), len(a), strings.Join(a, "\n"))
		}
	}
	for _, word := range sent {
		if word != "GET" && bytes.Contains(after.raw, []byte(word)) {
			t.Fatalf("a label holds %q, which the client wrote", word)
		}
	}
	if !bytes.Contains(after.raw, []byte(`method="other",route="unmatched"`)) {
		t.Errorf("no series for unknown methods on unknown routes:\n%s", strings.Join(series(after.raw, "linkd_http_requests_total"), "\n"))
	}
	if !bytes.Contains(after.raw, []byte(`linkd_http_requests_total{method="other",route="GET /healthz",status="`)) &&
		!bytes.Contains(after.raw, []byte(`linkd_http_requests_total{method="other",route="unmatched",status="405"}`)) {
		t.Errorf("the lower-case get is not counted as other:\n%s", strings.Join(series(after.raw, "linkd_http_requests_total"), "\n"))
	}
}

// TestMetricsToken checks /metrics behind a bearer token: refused without
// it or with a wrong one (including one that only shares a prefix), served
// with it.
func TestMetricsToken(t *testing.T) {
	const token = "m3trics-t0ken-long-enough"
	srv := linkdhttp.NewServer(linkdhttp.Config{Store: dbtest.SQLite(t), MetricsToken: token})
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	get := func(auth string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(res.Body)
		return res.StatusCode, res.Header.Get("WWW-Authenticate"), buf.String()
	}
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Bearer " + token[:10], "Bearer " + token + "x", "Basic " + token, token} {
		status, challenge, body := get(auth)
		if status != 401 || !strings.HasPrefix(challenge, "Bearer") || strings.Contains(body, "linkd_http_requests_total") {
			t.Fatalf("Authorization %q: %d (WWW-Authenticate %q)\n%s", auth, status, challenge, body)
		}
	}
	if status, _, body := get("Bearer " + token); status != 200 || !strings.Contains(body, "linkd_http_requests_total") {
		t.Fatalf("with the token: %d\n%s", status, body)
	}
	// The rest of the server does not ask for it.
	res, err := ts.Client().Get(ts.URL + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
}
