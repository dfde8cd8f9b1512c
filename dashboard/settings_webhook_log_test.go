package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestSettingsWebhookLogHTTP covers the endpoint page's delivery log
// actions without a browser: Send test event queues a pending Test
// delivery (refused on a disabled endpoint with the service's reason),
// the log's filters, a delivery's attempt detail, Redeliver making it
// pending again, other tenants' deliveries and cross-site forms refused,
// and the account page's list of the webhooks sent about the account.
func TestSettingsWebhookLogHTTP(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		ctx := t.Context()
		e.user("ada@example.com", "correct horse battery")
		c := e.client()
		wantStatus(t, e.login(c, "ada@example.com", "correct horse battery"), http.StatusSeeOther)
		get := func(path string) (int, string) {
			t.Helper()
			resp, err := c.Get(e.url + path)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, body(t, resp)
		}
		svc := linkd.NewWebhookService(s, e.keys)
		in := func(u string) linkd.WebhookInput {
			ev := []string{linkd.EventAccountCreated}
			return linkd.WebhookInput{URL: &u, Events: &ev}
		}
		hook, _, err := svc.Create(ctx, e.test, "test", in("https://hooks.example/linkd"))
		if err != nil {
			t.Fatal(err)
		}
		prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
		prodHook, _, err := svc.Create(ctx, prod, "test", in("https://prod.example/hook"))
		if err != nil {
			t.Fatal(err)
		}
		e.account(prod, "acct-p", "Prod", nil)
		prodLog, err := svc.DeliveryLog(ctx, prod, prodHook.ID, linkd.DeliveryFilter{Limit: 10})
		if err != nil || len(prodLog.Deliveries) != 1 {
			t.Fatalf("production's log: %+v, %v", prodLog, err)
		}
		prodEvent := prodLog.Deliveries[0].EventID

		// Send test event: a pending Test delivery to this endpoint.
		st, page := get("/settings/webhooks/" + hook.ID)
		if st != http.StatusOK || !strings.Contains(page, `action="/settings/webhooks/`+hook.ID+`/test"`) {
			t.Fatalf("no Send test event button (%d):\n%s", st, page)
		}
		resp := e.post(c, "/settings/webhooks/"+hook.ID+"/test", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		body(t, resp)
		log, err := svc.DeliveryLog(ctx, e.test, hook.ID, linkd.DeliveryFilter{Limit: 10})
		if err != nil || len(log.Deliveries) != 1 || log.Deliveries[0].EventType != linkd.EventTest || log.Deliveries[0].State != linkd.DeliveryPending {
			t.Fatalf("after Send test event: %+v, %v", log, err)
		}
		testID := log.Deliveries[0].EventID
		if loc := resp.Header.Get("Location"); loc != "/settings/webhooks/"+hook.ID+"#delivery-"+testID {
			t.Fatalf("redirected to %q", loc)
		}
		_, page = get("/settings/webhooks/" + hook.ID)
		if !strings.Contains(page, "Test event queued") || !strings.Contains(page, `href="/settings/webhooks/`+hook.ID+`/deliveries/`+testID+`"`) {
			t.Fatalf("log after Send test event:\n%s", page)
		}

		// Filters: by event and by state, kept in the form.
		e.account(e.test, "acct-1", "One", nil)
		_, page = get("/settings/webhooks/" + hook.ID)
		if strings.Count(page, `<tr id="delivery-`) != 2 {
			t.Fatalf("unfiltered log:\n%s", page)
		}
		_, page = get("/settings/webhooks/" + hook.ID + "?event=" + url.QueryEscape(linkd.EventTest))
		if strings.Count(page, `<tr id="delivery-`) != 1 || !strings.Contains(page, `id="delivery-`+testID+`"`) ||
			!strings.Contains(page, `<option value="Test" selected>`) {
			t.Fatalf("event filter:\n%s", page)
		}
		_, page = get("/settings/webhooks/" + hook.ID + "?state=failed")
		if strings.Count(page, `<tr id="delivery-`) != 0 || !strings.Contains(page, "No deliveries match this filter") {
			t.Fatalf("state filter:\n%s", page)
		}
		if st, page := get("/settings/webhooks/" + hook.ID + "?state=lost"); st != http.StatusBadRequest || !strings.Contains(page, "state must be") {
			t.Fatalf("bad state filter %d:\n%s", st, page)
		}

		// An attempt that failed: the detail shows it, and Redeliver makes
		// the delivery pending again with its attempts kept.
		now := linkd.StoreTime(time.Now()).Add(time.Second)
		jobs, err := s.ClaimDeliveries(ctx, linkd.Claim{Owner: "test", Now: now, Lease: time.Minute, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var job *linkd.DeliveryJob
		for _, j := range jobs {
			if j.EventID == testID {
				job = j
			}
		}
		if job == nil {
			t.Fatalf("the test delivery was not claimed: %+v", jobs)
		}
		a := &linkd.DeliveryAttempt{At: now, Status: 500, Duration: 1500 * time.Millisecond,
			Headers: map[string]string{"Content-Type": "text/plain", "X-Request-Id": "req-42"}, Body: []byte("<b>boom</b>"), Error: "the endpoint answered 500"}
		if err := s.FinishDelivery(ctx, &job.Delivery, a, linkd.DeliveryFailed, now, ""); err != nil {
			t.Fatal(err)
		}
		st, page = get("/settings/webhooks/" + hook.ID + "/deliveries/" + testID)
		for _, want := range []string{"<h1 class=\"delivery-title\">Test</h1>", `&#34;webhook_id&#34;: &#34;` + hook.ID, "status-failed", ">500<", "1.5s",
			"X-Request-Id", "req-42", "&lt;b&gt;boom&lt;/b&gt;", "the endpoint answered 500", `/deliveries/` + testID + `/redeliver"`} {
			if st != http.StatusOK || !strings.Contains(page, want) {
				t.Fatalf("detail (%d) misses %q:\n%s", st, want, page)
			}
		}
		resp = e.post(c, "/settings/webhooks/"+hook.ID+"/deliveries/"+testID+"/redeliver", nil, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		body(t, resp)
		if d, err := s.Delivery(ctx, e.test, hook.ID, testID); err != nil || d.State != linkd.DeliveryPending || d.Attempts != 1 {
			t.Fatalf("after Redeliver: %+v, %v", d, err)
		}
		if _, page := get("/settings/webhooks/" + hook.ID + "/deliveries/" + testID); !strings.Contains(page, "Redelivery queued") || !strings.Contains(page, "Next attempt") {
			t.Fatalf("detail after Redeliver:\n%s", page)
		}
		if audit, _, _ := s.ListAudit(ctx, e.test, linkd.AuditFilter{}); len(audit) < 2 || audit[0].Action != linkd.AuditWebhookRedeliver ||
			!strings.HasPrefix(audit[0].Actor, "user:") {
			t.Fatalf("audit: %+v", audit)
		}

		// Another tenant's deliveries and made-up ids: 404, nothing queued.
		for _, p := range []string{prodHook.ID + "/deliveries/" + prodEvent, hook.ID + "/deliveries/" + prodEvent, hook.ID + "/deliveries/msg_0123", hook.ID + "/deliveries/nope",
			"not-an-id/deliveries/" + testID} {
			if st, _ := get("/settings/webhooks/" + p); st != http.StatusNotFound {
				t.Fatalf("GET %s: %d", p, st)
			}
			resp := e.post(c, "/settings/webhooks/"+p+"/redeliver", nil, e.url)
			wantStatus(t, resp, http.StatusNotFound)
			body(t, resp)
		}
		resp = e.post(c, "/settings/webhooks/"+prodHook.ID+"/test", nil, e.url)
		wantStatus(t, resp, http.StatusNotFound)
		body(t, resp)
		if l, _ := svc.DeliveryLog(ctx, prod, prodHook.ID, linkd.DeliveryFilter{Limit: 10}); l.Total != 1 {
			t.Fatalf("production's endpoint has %d deliveries", l.Total)
		}

		// Cross-site forms are refused and queue nothing.
		before, _ := svc.DeliveryLog(ctx, e.test, hook.ID, linkd.DeliveryFilter{Limit: 10})
		for _, p := range []string{"/test", "/deliveries/" + testID + "/redeliver"} {
			resp := e.post(c, "/settings/webhooks/"+hook.ID+p, nil, "https://evil.example")
			wantStatus(t, resp, http.StatusForbidden)
			body(t, resp)
		}
		if after, _ := svc.DeliveryLog(ctx, e.test, hook.ID, linkd.DeliveryFilter{Limit: 10}); after.Total != before.Total {
			t.Fatalf("a cross-site POST queued a delivery: %d, then %d", before.Total, after.Total)
		}

		// A disabled endpoint: both refused with the service's reason.
		off := false
		if _, err := svc.Update(ctx, e.test, "test", hook.ID, linkd.WebhookInput{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		resp = e.post(c, "/settings/webhooks/"+hook.ID+"/test", nil, e.url)
		wantStatus(t, resp, http.StatusConflict)
		if b := body(t, resp); !strings.Contains(b, `id="webhook-alert"`) || !strings.Contains(b, "is disabled") {
			t.Fatalf("Send test event on a disabled endpoint:\n%s", b)
		}
		resp = e.post(c, "/settings/webhooks/"+hook.ID+"/deliveries/"+testID+"/redeliver", nil, e.url)
		wantStatus(t, resp, http.StatusConflict)
		if b := body(t, resp); !strings.Contains(b, `id="delivery-alert"`) || !strings.Contains(b, "is disabled") {
			t.Fatalf("Redeliver on a disabled endpoint:\n%s", b)
		}
		if after, _ := svc.DeliveryLog(ctx, e.test, hook.ID, linkd.DeliveryFilter{Limit: 10}); after.Total != before.Total {
			t.Fatalf("a disabled endpoint got a test delivery: %d, then %d", before.Total, after.Total)
		}

		// The account page lists the webhooks sent about the account, each
		// a link to its attempts; the production account of the same id
		// shows none of them.
		acctLog, err := svc.DeliveryLog(ctx, e.test, hook.ID, linkd.DeliveryFilter{Event: linkd.EventAccountCreated, Limit: 10})
		if err != nil || len(acctLog.Deliveries) != 1 {
			t.Fatalf("acct-1's deliveries: %+v, %v", acctLog, err)
		}
		st, page = get("/account/acct-1")
		if st != http.StatusOK || !strings.Contains(page, "Webhooks sent") ||
			!strings.Contains(page, `href="/settings/webhooks/`+hook.ID+`/deliveries/`+acctLog.Deliveries[0].EventID+`"`) || strings.Contains(page, testID) {
			t.Fatalf("account page (%d):\n%s", st, page)
		}
	})
}
