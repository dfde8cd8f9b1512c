package http_test

import (
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// waitCalls polls the call log of tenant tn's account until it holds n
// calls (the recorder writes behind the proxy's back), and returns them.
func waitCalls(t *testing.T, f *fixture, tn linkd.Tenant, accountID string, n int) []linkd.AppCall {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := f.store.RecentCalls(t.Context(), tn, accountID, linkd.CallFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("call log of %s: %d calls, want %d: %+v", accountID, len(got), n, got)
		}
		<-time.After(5 * time.Millisecond) // poll
	}
}

// TestProxyCallLog: a call through the proxy lands in the call log with
// its method, path (never the query), status and attempts, and what linkd
// refused with its error type; deleting the account deletes its log.
func TestProxyCallLog(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f, u := newProxyFixture(t, store)
		tn := linkd.Tenant{OrgID: orgOf(t, f, "a"), Env: linkd.EnvTest}
		f.do("POST", la, "a", map[string]any{"linked_account_id": "other", "name": "O"})
		if res := f.do("GET", px+"/items/a%2Fb?token=s3cr3t&linked_account_id=cust", "a", nil); res.status != 200 {
			t.Fatalf("call: %d %s", res.status, res.raw)
		}
		u.flaky.Store(1)
		if res := f.do("POST", px+"/flaky?linked_account_id=cust", "a", []byte("x"), "Idempotency-Key", "k1"); res.status != 200 {
			t.Fatalf("flaky: %d %s", res.status, res.raw)
		}
		// other has no keyapp connection: linkd refuses, and logs that.
		if res := f.do("GET", px+"/echo?linked_account_id=other", "a", nil); res.status != 404 {
			t.Fatalf("not connected: %d %s", res.status, res.raw)
		}
		got := waitCalls(t, f, tn, "cust", 2)
		flaky, first := got[0], got[1]
		if first.Method != "GET" || first.Path != "/items/a%2Fb" || first.Status != 200 || first.Attempts != 1 || first.Slug != "keyapp" || first.ErrorType != "" {
			t.Fatalf("first call logged as %+v", first)
		}
		if flaky.Method != "POST" || flaky.Path != "/flaky" || flaky.Status != 200 || flaky.Attempts != 2 || flaky.Duration <= 0 {
			t.Fatalf("flaky call logged as %+v", flaky)
		}
		for _, c := range got {
			if strings.Contains(c.Path, "?") || strings.Contains(c.Path, "s3cr3t") {
				t.Fatalf("the query reached the log: %q", c.Path)
			}
		}
		refused := waitCalls(t, f, tn, "other", 1)[0]
		if refused.Status != 0 || refused.ErrorType == "" || refused.Attempts != 0 {
			t.Fatalf("refused call logged as %+v", refused)
		}
		st, err := store.CallStats(t.Context(), tn, "cust", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if *st != (linkd.CallStats{Calls24h: 2, Total: 2}) {
			t.Fatalf("stats %+v", *st)
		}

		if res := f.do("DELETE", la+"/cust", "a", nil); res.status != 200 {
			t.Fatalf("delete: %d %s", res.status, res.raw)
		}
		// Only other's call is left in the table: purging everything
		// finds just that one.
		n, err := store.PurgeCalls(t.Context(), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("after deleting cust, %d calls were left in the log, want only other's 1", n)
		}
	})
}

// TestProxyMetrics: calls through the proxy move the app call metrics,
// labelled by the catalog's slug (an unknown one is "other", never what the
// caller wrote) and status class.
func TestProxyMetrics(t *testing.T) {
	f, u := newProxyFixture(t, dbtest.SQLite(t))
	f.do("GET", px+"/echo?linked_account_id=cust", "a", nil)
	u.flaky.Store(2)
	f.do("GET", px+"/flaky?linked_account_id=cust", "a", nil)
	f.do("GET", px+"/later?linked_account_id=cust", "a", nil, "linkd-proxy-retries", "0")
	f.do("GET", "/api/v2/public/proxy/invented-app/x?linked_account_id=cust", "a", nil)
	page := f.do("GET", "/metrics", "", nil).raw
	for _, want := range []string{
		`linkd_app_calls_total{app="keyapp",status="2xx"} 2`,
		`linkd_app_calls_total{app="keyapp",status="4xx"} 1`,
		`linkd_app_calls_total{app="other",status="error"} 1`,
		`linkd_app_call_retries_total{app="keyapp"} 2`,
		`linkd_app_call_duration_seconds_count{app="keyapp"} 3`,
		`linkd_call_log_dropped_total 0`,
	} {
		if !strings.Contains(string(page), want+"\n") {
			t.Errorf("/metrics lacks %s; it has:\n%s", want, strings.Join(series(page, "linkd_app_calls_total"), "\n"))
		}
	}
	if strings.Contains(string(page), "invented-app") {
		t.Fatal("a slug the caller invented became a label")
	}
}
