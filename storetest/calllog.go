package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// testCallLog: calls land on their account by tenant and API id (a call of
// an unknown account is dropped), read back newest first, overall and per
// app, with their stats; every read is confined to its tenant; the purge
// deletes by age; deleting an account deletes its log.
func testCallLog(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	other := linkd.Tenant{OrgID: e.newOrg(t, "globex").ID, Env: linkd.EnvTest}
	e.create(t, e.t, "cust", "Customer", nil)
	e.create(t, e.t, "kept", "Kept", nil)
	e.create(t, prod, "cust", "Customer in production", nil)
	e.create(t, other, "cust", "Customer of another org", nil)

	call := func(tn linkd.Tenant, acct, slug string, ago time.Duration, status int, errType string) linkd.AppCall {
		return linkd.AppCall{Tenant: tn, AccountID: acct, Slug: slug, At: now.Add(-ago), Method: "GET",
			Path: fmt.Sprintf("/v1/items/%s", ago), Status: status, Duration: 1500 * time.Microsecond, Attempts: 1, ErrorType: errType}
	}
	calls := []linkd.AppCall{
		call(e.t, "cust", "slack", 48*time.Hour, 200, ""),                 // old: counted in the total only
		call(e.t, "cust", "slack", 25*time.Hour, 502, ""),                 // old error
		call(e.t, "cust", "stripe", 3*time.Hour, 404, ""),                 // a 4xx is not an error
		call(e.t, "cust", "slack", 2*time.Hour, 503, ""),                  // an error (5xx)
		call(e.t, "cust", "stripe", time.Hour, 0, "UPSTREAM_UNREACHABLE"), // an error (linkd's)
		call(e.t, "cust", "slack", time.Minute, 200, ""),
		call(e.t, "kept", "slack", time.Minute, 200, ""),
		call(prod, "cust", "slack", time.Minute, 200, ""),
		call(other, "cust", "slack", time.Minute, 200, ""),
		call(e.t, "ghost", "slack", time.Minute, 200, ""),  // no such account: dropped
		call(other, "kept", "slack", time.Minute, 200, ""), // nor in that tenant
	}
	calls[5].Attempts, calls[5].Duration, calls[5].Method = 3, 42*time.Millisecond, "POST"
	if err := e.store.AppendCalls(e.ctx, calls); err != nil {
		t.Fatal(err)
	}
	// An empty batch writes nothing and is no error.
	if err := e.store.AppendCalls(e.ctx, nil); err != nil {
		t.Fatal(err)
	}

	got, err := e.store.RecentCalls(e.ctx, e.t, "cust", linkd.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("RecentCalls = %d calls, want 6: %+v", len(got), got)
	}
	for i := 1; i < len(got); i++ {
		if !got[i-1].At.After(got[i].At) {
			t.Fatalf("not newest first: %v then %v", got[i-1].At, got[i].At)
		}
	}
	first := got[0]
	if first.Slug != "slack" || first.Method != "POST" || first.Path != "/v1/items/1m0s" || first.Status != 200 || first.Attempts != 3 ||
		first.Duration != 42*time.Millisecond || !first.At.Equal(now.Add(-time.Minute)) || first.AccountID != "cust" || first.ErrorType != "" || first.ID == "" {
		t.Fatalf("newest call = %+v", first)
	}
	if got[1].ErrorType != "UPSTREAM_UNREACHABLE" || got[1].Status != 0 || got[1].Slug != "stripe" {
		t.Fatalf("failed call = %+v", got[1])
	}
	got, err = e.store.RecentCalls(e.ctx, e.t, "cust", linkd.CallFilter{Slug: "stripe"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Slug != "stripe" || got[1].Slug != "stripe" || !got[0].At.After(got[1].At) {
		t.Fatalf("stripe calls = %+v", got)
	}
	got, err = e.store.RecentCalls(e.ctx, e.t, "cust", linkd.CallFilter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Path != "/v1/items/1m0s" || got[1].Path != "/v1/items/1h0m0s" {
		t.Fatalf("limit 2 = %+v", got)
	}

	st, err := e.store.CallStats(e.ctx, e.t, "cust", now)
	if err != nil {
		t.Fatal(err)
	}
	if *st != (linkd.CallStats{Calls24h: 4, Errors24h: 2, Total: 6}) {
		t.Fatalf("CallStats = %+v, want 4 calls and 2 errors in 24 h, 6 in all", *st)
	}

	// Each tenant sees its own account of that id, and only its calls.
	for _, tn := range []linkd.Tenant{prod, other} {
		got, err := e.store.RecentCalls(e.ctx, tn, "cust", linkd.CallFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%v: %d calls, want 1", tn, len(got))
		}
		st, err := e.store.CallStats(e.ctx, tn, "cust", now)
		if err != nil {
			t.Fatal(err)
		}
		if *st != (linkd.CallStats{Calls24h: 1, Total: 1}) {
			t.Fatalf("%v: stats %+v", tn, *st)
		}
	}
	for _, c := range []struct {
		tn   linkd.Tenant
		acct string
	}{{other, "kept"}, {e.t, "ghost"}, {linkd.Tenant{OrgID: "not-an-id", Env: linkd.EnvTest}, "cust"}} {
		_, err := e.store.RecentCalls(e.ctx, c.tn, c.acct, linkd.CallFilter{})
		wantCode(t, err, linkd.ENOTFOUND)
		_, err = e.store.CallStats(e.ctx, c.tn, c.acct, now)
		wantCode(t, err, linkd.ENOTFOUND)
	}

	// The purge deletes by age, across tenants.
	n, err := e.store.PurgeCalls(e.ctx, now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("PurgeCalls = %d, want the 2 calls older than a day", n)
	}
	st, err = e.store.CallStats(e.ctx, e.t, "cust", now)
	if err != nil {
		t.Fatal(err)
	}
	if *st != (linkd.CallStats{Calls24h: 4, Errors24h: 2, Total: 4}) {
		t.Fatalf("CallStats after the purge = %+v", *st)
	}

	// Deleting the account deletes its log, and only its log; a call that
	// arrives for it afterwards is dropped.
	if err := e.svc.Delete(e.ctx, e.t, "key-1", "cust"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AppendCalls(e.ctx, []linkd.AppCall{call(e.t, "cust", "slack", 0, 200, "")}); err != nil {
		t.Fatal(err)
	}
	e.create(t, e.t, "cust", "Customer again", nil)
	got, err = e.store.RecentCalls(e.ctx, e.t, "cust", linkd.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("the deleted account's calls came back with its id: %+v", got)
	}
	for _, c := range []struct {
		tn   linkd.Tenant
		acct string
	}{{e.t, "kept"}, {prod, "cust"}, {other, "cust"}} {
		got, err := e.store.RecentCalls(e.ctx, c.tn, c.acct, linkd.CallFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%v %s: %d calls after deleting test/cust, want 1", c.tn, c.acct, len(got))
		}
	}
	// The deleted account's rows are gone from the table, not just out of
	// sight: purging everything finds only the three other accounts' calls.
	n, err = e.store.PurgeCalls(e.ctx, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("PurgeCalls(all) = %d rows, want 3: the deleted account's log was left behind", n)
	}
	// What the log keeps is bounded, and made valid text.
	long := call(e.t, "kept", "slack\xff", 0, 200, "")
	long.Path = "/" + string(make([]byte, 2000))
	if err := e.store.AppendCalls(e.ctx, []linkd.AppCall{long}); err != nil {
		t.Fatal(err)
	}
	got, err = e.store.RecentCalls(e.ctx, e.t, "kept", linkd.CallFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Path) > 512 || got[0].Slug != "slack\uFFFD" {
		t.Fatalf("long call = %q %q", got[0].Slug, got[0].Path[:min(20, len(got[0].Path))])
	}
}
