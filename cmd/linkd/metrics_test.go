package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

// serveWithMetrics starts the server like serve, with /metrics on a
// listener of its own, and returns both base URLs and the logs.
func serveWithMetrics(t *testing.T, env testEnv) (main, metrics string, logs *syncWriter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	env["LINKD_ADDR"], env["LINKD_METRICS_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
	logs = &syncWriter{w: &bytes.Buffer{}}
	addrs := make(chan [2]string, 2)
	errc := make(chan error, 1)
	go func() {
		errc <- serveListeners(ctx, nil, env.get, io.Discard, logs, func(name, a string) { addrs <- [2]string{name, a} })
	}()
	got := map[string]string{}
	for len(got) < 2 {
		select {
		case a := <-addrs:
			got[a[0]] = "http://" + a[1]
		case err := <-errc:
			cancel()
			t.Fatalf("serve: %v\n%s", err, logs.w)
		}
	}
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	return got[mainListener], got[metricsListener], logs
}

func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestMetricsOwnListener runs the real server with LINKD_METRICS_ADDR and
// LINKD_METRICS_TOKEN: /metrics is served on its own listener only, behind
// the token, and the token never shows in the log.
func TestMetricsOwnListener(t *testing.T) {
	env := engines(t)["sqlite"]
	const token = "scrape-me-0123456789abcdef"
	env["LINKD_METRICS_TOKEN"] = token
	env["LINKD_LOG_LEVEL"] = "info"
	base, metrics, logs := serveWithMetrics(t, env)

	if status, _ := get(t, base+"/healthz", ""); status != 200 {
		t.Fatalf("healthz on the main listener: %d", status)
	}
	// The main listener no longer serves /metrics, with or without the token.
	for _, auth := range []string{"", "Bearer " + token} {
		if status, body := get(t, base+"/metrics", auth); status == 200 || strings.Contains(body, "linkd_http_requests_total") {
			t.Fatalf("the main listener still serves /metrics (auth %q): %d\n%s", auth, status, body)
		}
	}
	// The metrics listener asks for the token and serves nothing else.
	if status, body := get(t, metrics+"/metrics", ""); status != 401 || strings.Contains(body, "linkd_http_requests_total") {
		t.Fatalf("/metrics without the token: %d\n%s", status, body)
	}
	if status, _ := get(t, metrics+"/metrics", "Bearer not-"+token); status != 401 {
		t.Fatalf("/metrics with a wrong token: %d", status)
	}
	status, body := get(t, metrics+"/metrics", "Bearer "+token)
	if status != 200 || !strings.Contains(body, `linkd_http_requests_total{method="GET",route="GET /healthz",status="200"} 1`) ||
		!strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics with the token: %d\n%s", status, body)
	}
	if status, _ := get(t, metrics+"/healthz", "Bearer "+token); status != 404 {
		t.Fatalf("the metrics listener serves /healthz: %d", status)
	}
	logs.mu.Lock()
	text := logs.w.(*bytes.Buffer).String()
	logs.mu.Unlock()
	if strings.Contains(text, token) || !strings.Contains(text, "metrics_token=\"(set, masked)\"") {
		t.Fatalf("the log shows the metrics token, or not that it is set:\n%s", text)
	}
}

// TestMetricsTokenOnMainListener: without LINKD_METRICS_ADDR, /metrics
// stays on the main listener, behind the token when one is set.
func TestMetricsTokenOnMainListener(t *testing.T) {
	env := engines(t)["sqlite"]
	const token = "0123456789abcdef-main"
	env["LINKD_METRICS_TOKEN"] = token
	base, _ := serve(t, env)
	if status, _ := get(t, base+"/metrics", ""); status != 401 {
		t.Fatalf("/metrics without the token: %d", status)
	}
	if status, body := get(t, base+"/metrics", "Bearer "+token); status != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics with the token: %d\n%s", status, body)
	}
}

func TestMetricsSettingsChecked(t *testing.T) {
	env := engines(t)["sqlite"]
	for _, args := range [][]string{
		{"serve", "--metrics-token", "short"},
		{"serve", "--metrics-token", "has a space in it, long enough"},
		{"serve", "--metrics-addr", "nonsense"},
		{"serve", "--addr", "127.0.0.1:9999", "--metrics-addr", "127.0.0.1:9999"},
	} {
		if _, _, err := cli(t, env, args...); err == nil || !strings.Contains(err.Error(), "metrics") {
			t.Errorf("linkd %v: %v", args, err)
		}
	}
}

// TestJobBacklogMetrics: the job backlog gauges are exported for every
// kind on each engine, read from its database (0 on an idle server; the
// contract suite pins down what counts as waiting).
func TestJobBacklogMetrics(t *testing.T) {
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) {
			_, metrics, _ := serveWithMetrics(t, env)
			_, body := get(t, metrics+"/metrics", "")
			for _, kind := range linkd.JobKinds {
				for _, want := range []string{`linkd_jobs_waiting{kind="` + kind + `"} 0`, `linkd_job_wait_seconds{kind="` + kind + `"} 0`} {
					if !strings.Contains(body, "\n"+want+"\n") {
						t.Errorf("/metrics lacks %s", want)
					}
				}
			}
		})
	}
}
