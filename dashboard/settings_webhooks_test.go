package dashboard_test

import (
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// shownSecret is the whsec_ secret on a page; "" when there is none.
func shownSecret(page string) string {
	return regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`).FindString(html.UnescapeString(page))
}

// storedSecret opens the signing secret linkd keeps for the endpoint id.
func (e *env) storedSecret(tn linkd.Tenant, id string) string {
	e.t.Helper()
	w, err := e.store.Webhook(e.t.Context(), tn, id)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := linkd.OpenWebhookSecret(e.keys, tn, w)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// TestSettingsWebhooksHTTP covers Settings › Webhooks without a browser:
// creating with errors next to their fields, the secret shown once, the
// list's health, the delivery log, editing only what the form shows,
// enabling, rotating, deleting through confirmations, tenancy and
// cross-site refusal.
func TestSettingsWebhooksHTTP(t *testing.T) {
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
		prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
		other := &linkd.Org{ID: linkd.NewID(), Name: "Other Org", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if err := s.CreateOrg(ctx, other); err != nil {
			t.Fatal(err)
		}
		hookIn := func(u string) linkd.WebhookInput {
			ev := []string{linkd.EventAccountCreated}
			return linkd.WebhookInput{URL: &u, Events: &ev}
		}
		prodHook, _, err := svc.Create(ctx, prod, "test", hookIn("https://prod.example/hook"))
		if err != nil {
			t.Fatal(err)
		}
		otherHook, _, err := svc.Create(ctx, linkd.Tenant{OrgID: other.ID, Env: linkd.EnvTest}, "test", hookIn("https://other.example/hook"))
		if err != nil {
			t.Fatal(err)
		}

		// An empty environment: the form, with the nav item current.
		st, page := get("/settings/webhooks")
		if st != http.StatusOK || !strings.Contains(page, `href="/settings/webhooks" aria-current="page"`) || !strings.Contains(page, "No endpoints in test yet") {
			t.Fatalf("webhooks page %d:\n%s", st, page)
		}
		for _, ev := range linkd.WebhookEvents {
			if !strings.Contains(page, `name="event" value="`+ev+`"`) {
				t.Fatalf("no checkbox for %q", ev)
			}
		}
		if !strings.Contains(page, `<option value="keyapp">Key App</option>`) {
			t.Fatal("the app filter does not offer the catalog's apps")
		}
		if strings.Contains(page, "prod.example") || strings.Contains(page, "other.example") {
			t.Fatal("the test environment lists another tenant's endpoint")
		}

		// Refusals are next to their field, with what was typed kept.
		resp := e.post(c, "/settings/webhooks", url.Values{"url": {"https://hooks.example/linkd"}, "description": {"Billing"}}, e.url)
		wantStatus(t, resp, http.StatusBadRequest)
		if b := body(t, resp); !strings.Contains(b, `id="events_err"`) || !strings.Contains(b, `value="https://hooks.example/linkd"`) || !strings.Contains(b, `value="Billing"`) {
			t.Fatalf("no events:\n%s", b)
		}
		resp = e.post(c, "/settings/webhooks", url.Values{"url": {"http://hooks.example/linkd"}, "event": {linkd.EventAccountCreated}}, e.url)
		wantStatus(t, resp, http.StatusBadRequest)
		if b := body(t, resp); !strings.Contains(b, `id="url_err"`) || !strings.Contains(b, "https") ||
			!strings.Contains(b, `value="`+linkd.EventAccountCreated+`" checked`) {
			t.Fatalf("http URL:\n%s", b)
		}
		resp = e.post(c, "/settings/webhooks", url.Values{"url": {"https://hooks.example/linkd"}, "event": {"Nope Happened"}}, e.url)
		wantStatus(t, resp, http.StatusBadRequest)
		if b := body(t, resp); !strings.Contains(b, `id="events_err"`) || !strings.Contains(b, "Nope Happened") {
			t.Fatalf("unknown event:\n%s", b)
		}
		if all, _ := s.Webhooks(ctx, e.test); len(all) != 0 {
			t.Fatalf("a refused form made %d endpoints", len(all))
		}

		// Created: the secret is in the POST's response only, and it is
		// the one linkd signs with.
		resp = e.post(c, "/settings/webhooks", url.Values{"url": {"https://hooks.example/linkd"}, "description": {"Billing service"},
			"event": {linkd.EventAccountCreated, linkd.EventConnectionCreated}, "slug": {""}}, e.url)
		wantStatus(t, resp, http.StatusCreated)
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control = %q", cc)
		}
		if loc, ck := resp.Header.Get("Location"), resp.Header.Values("Set-Cookie"); loc != "" || len(ck) > 0 {
			t.Fatalf("the secret page redirects (%q) or sets cookies (%v)", loc, ck)
		}
		all, err := s.Webhooks(ctx, e.test)
		if err != nil || len(all) != 1 {
			t.Fatalf("endpoints after create: %v, %v", all, err)
		}
		hook := all[0]
		if hook.URL != "https://hooks.example/linkd" || hook.Description != "Billing service" || !hook.Enabled ||
			!slices.Equal(hook.Events, []string{linkd.EventAccountCreated, linkd.EventConnectionCreated}) {
			t.Fatalf("stored endpoint %+v", hook)
		}
		secret := shownSecret(body(t, resp))
		if secret == "" || secret != e.storedSecret(e.test, hook.ID) {
			t.Fatalf("shown secret %q is not the stored one", secret)
		}
		if audit, _, _ := s.ListAudit(ctx, e.test, linkd.AuditFilter{}); len(audit) == 0 || audit[0].Action != linkd.AuditWebhookCreate || !strings.HasPrefix(audit[0].Actor, "user:") {
			t.Fatalf("audit: %+v", audit)
		}
		for _, p := range []string{"/settings/webhooks", "/settings/webhooks/" + hook.ID, "/settings/webhooks/" + hook.ID + "?edit"} {
			st, page := get(p)
			if st != http.StatusOK || shownSecret(page) != "" || !strings.Contains(page, "https://hooks.example/linkd") {
				t.Fatalf("%s (%d) holds a secret or misses the endpoint:\n%s", p, st, page)
			}
		}
		_, page = get("/settings/webhooks")
		if !strings.Contains(page, "Billing service") || !strings.Contains(page, "2 events") || !strings.Contains(page, "status-succeeded") {
			t.Fatalf("list:\n%s", page)
		}

		// Deliveries: two accounts make two; one fails, then the newest
		// succeeds... the log and the health say so.
		e.account(e.test, "acct-1", "One", nil)
		e.account(e.test, "acct-2", "Two", nil)
		_, page = get("/settings/webhooks/" + hook.ID)
		if strings.Count(page, `<tr id="delivery-`) != 2 || !strings.Contains(page, linkd.EventAccountCreated) || !strings.Contains(page, "status-running") {
			t.Fatalf("delivery log:\n%s", page)
		}
		now := linkd.StoreTime(time.Now()).Add(time.Second)
		jobs, err := s.ClaimDeliveries(ctx, linkd.Claim{Owner: "test", Now: now, Lease: time.Minute, Limit: 10})
		if err != nil || len(jobs) != 2 {
			t.Fatalf("claimed %d, %v", len(jobs), err)
		}
		for _, j := range jobs {
			a := &linkd.DeliveryAttempt{At: now, Status: 503, Headers: map[string]string{}, Error: "the endpoint answered 503"}
			if err := s.FinishDelivery(ctx, &j.Delivery, a, linkd.DeliveryPending, now.Add(time.Hour), ""); err != nil {
				t.Fatal(err)
			}
		}
		_, page = get("/settings/webhooks")
		if !strings.Contains(page, "status-failed") || !strings.Contains(page, "2 failed deliveries in a row") {
			t.Fatalf("failing endpoint in the list:\n%s", page)
		}
		jobs, err = s.ClaimDeliveries(ctx, linkd.Claim{Owner: "test", Now: now.Add(time.Hour), Lease: time.Minute, Limit: 10})
		if err != nil || len(jobs) != 2 {
			t.Fatalf("claimed %d, %v", len(jobs), err)
		}
		newest := jobs[0]
		if jobs[1].EventID > newest.EventID {
			newest = jobs[1]
		}
		ok := &linkd.DeliveryAttempt{At: now.Add(time.Hour), Status: 204, Headers: map[string]string{}}
		if err := s.FinishDelivery(ctx, &newest.Delivery, ok, linkd.DeliverySucceeded, now.Add(time.Hour), ""); err != nil {
			t.Fatal(err)
		}
		_, page = get("/settings/webhooks/" + hook.ID)
		if !strings.Contains(page, `<dd class="failure-streak">0</dd>`) || strings.Contains(page, `<dd class="last-success">Never`) ||
			!strings.Contains(page, "status-succeeded") || !strings.Contains(page, "retry at") {
			t.Fatalf("health after a success:\n%s", page)
		}

		// Editing changes what the form shows and keeps the rest.
		if _, err := svc.Update(ctx, e.test, "test", hook.ID, linkd.WebhookInput{Headers: &map[string]string{"X-Team": "billing"}}); err != nil {
			t.Fatal(err)
		}
		resp = e.post(c, "/settings/webhooks/"+hook.ID, url.Values{"url": {"ftp://x"}, "event": {linkd.EventConnectionExpired}}, e.url)
		wantStatus(t, resp, http.StatusBadRequest)
		if b := body(t, resp); !strings.Contains(b, `id="url_err"`) || !strings.Contains(b, `value="ftp://x"`) {
			t.Fatalf("edit refused:\n%s", b)
		}
		resp = e.post(c, "/settings/webhooks/"+hook.ID, url.Values{"url": {"https://hooks.example/v2"}, "event": {linkd.EventConnectionExpired},
			"slug": {"keyapp"}, "description": {""}}, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		if got, err := s.Webhook(ctx, e.test, hook.ID); err != nil || got.URL != "https://hooks.example/v2" || got.Slug != "keyapp" || got.Description != "" ||
			!slices.Equal(got.Events, []string{linkd.EventConnectionExpired}) || got.Headers["X-Team"] != "billing" || e.storedSecret(e.test, hook.ID) != secret {
			t.Fatalf("after editing: %+v, %v", got, err)
		}

		// Disable and enable.
		wantStatus(t, e.post(c, "/settings/webhooks/"+hook.ID+"/disable", url.Values{"back": {"/settings/webhooks"}}, e.url), http.StatusSeeOther)
		if got, _ := s.Webhook(ctx, e.test, hook.ID); got.Enabled {
			t.Fatal("still enabled")
		}
		if _, page := get("/settings/webhooks"); !strings.Contains(page, "status-revoked") || !strings.Contains(page, "/enable") {
			t.Fatalf("disabled in the list:\n%s", page)
		}
		wantStatus(t, e.post(c, "/settings/webhooks/"+hook.ID+"/enable", nil, e.url), http.StatusSeeOther)
		if got, _ := s.Webhook(ctx, e.test, hook.ID); !got.Enabled {
			t.Fatal("not enabled again")
		}

		// Rotating: a confirmation, then the new secret once.
		if st, page := get("/settings/webhooks/" + hook.ID + "/rotate-secret"); st != http.StatusOK || !strings.Contains(page, `name="overlap"`) ||
			!strings.Contains(page, "signed with both secrets") || shownSecret(page) != "" {
			t.Fatalf("rotate confirmation %d:\n%s", st, page)
		}
		wantStatus(t, e.post(c, "/settings/webhooks/"+hook.ID+"/rotate-secret", url.Values{"overlap": {"604801"}}, e.url), http.StatusBadRequest)
		if e.storedSecret(e.test, hook.ID) != secret {
			t.Fatal("a refused rotation changed the secret")
		}
		before := time.Now()
		resp = e.post(c, "/settings/webhooks/"+hook.ID+"/rotate-secret", url.Values{"overlap": {"3600"}}, e.url)
		wantStatus(t, resp, http.StatusOK)
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control = %q", cc)
		}
		rotated := shownSecret(body(t, resp))
		if rotated == "" || rotated == secret || rotated != e.storedSecret(e.test, hook.ID) {
			t.Fatalf("rotated secret %q (was %q)", rotated, secret)
		}
		// The old secret keeps signing for the hour chosen.
		if got, _ := s.Webhook(ctx, e.test, hook.ID); len(got.PreviousSecret) == 0 ||
			got.PreviousUntil.Before(before.Add(time.Hour-time.Second)) || got.PreviousUntil.After(time.Now().Add(time.Hour)) {
			t.Fatalf("after a rotation with a 1-hour overlap: previous secret kept %v, until %v", len(got.PreviousSecret) > 0, got.PreviousUntil)
		}

		// Another tenant's endpoint: no page, no action.
		for _, id := range []string{prodHook.ID, otherHook.ID, "not-an-id"} {
			for _, p := range []string{"", "?edit", "/rotate-secret", "/delete"} {
				if st, _ := get("/settings/webhooks/" + id + p); st != http.StatusNotFound {
					t.Fatalf("GET %s%s: %d", id, p, st)
				}
			}
			for _, p := range []string{"", "/enable", "/disable", "/rotate-secret", "/delete"} {
				resp := e.post(c, "/settings/webhooks/"+id+p, url.Values{"url": {"https://evil.example"}, "event": {linkd.EventAccountCreated}}, e.url)
				wantStatus(t, resp, http.StatusNotFound)
				body(t, resp)
			}
		}
		if got, _ := s.Webhook(ctx, prod, prodHook.ID); got.URL != "https://prod.example/hook" || !got.Enabled {
			t.Fatalf("production's endpoint changed: %+v", got)
		}

		// Cross-site forms are refused and change nothing.
		for _, p := range []string{"", "/" + hook.ID, "/" + hook.ID + "/disable", "/" + hook.ID + "/rotate-secret", "/" + hook.ID + "/delete"} {
			resp := e.post(c, "/settings/webhooks"+p, url.Values{"url": {"https://evil.example/h"}, "event": {linkd.EventAccountCreated}}, "https://evil.example")
			wantStatus(t, resp, http.StatusForbidden)
			body(t, resp)
		}
		if got, _ := s.Webhook(ctx, e.test, hook.ID); got.URL != "https://hooks.example/v2" || !got.Enabled || e.storedSecret(e.test, hook.ID) != rotated {
			t.Fatalf("a cross-site POST changed the endpoint: %+v", got)
		}
		if all, _ := s.Webhooks(ctx, e.test); len(all) != 1 {
			t.Fatalf("a cross-site POST made an endpoint: %d", len(all))
		}

		// Deleting: a confirmation, then the POST.
		if st, page := get("/settings/webhooks/" + hook.ID + "/delete"); st != http.StatusOK || !strings.Contains(page, "Delete the webhook endpoint") {
			t.Fatalf("delete confirmation %d:\n%s", st, page)
		}
		wantStatus(t, e.post(c, "/settings/webhooks/"+hook.ID+"/delete", nil, e.url), http.StatusSeeOther)
		if _, err := s.Webhook(ctx, e.test, hook.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("after deleting: %v", err)
		}
		if _, page := get("/settings/webhooks"); !strings.Contains(page, "deleted") || !strings.Contains(page, "No endpoints in test yet") {
			t.Fatalf("after deleting:\n%s", page)
		}
	})
}

// TestSettingsWebhooksBrowser creates an endpoint in Chromium on each
// engine: the signing secret is shown once, on the create response, and
// is the one linkd signs with; no later page holds it. It then sends a
// test event, opens its delivery's attempt detail and redelivers it.
func TestSettingsWebhooksBrowser(t *testing.T) {
	first := true
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		b := newBrowser(t, e, 1280, 860, first && os.Getenv("LINKD_SCREENSHOTS") != "")
		first = false
		const email, password = "grace@example.com", "correct horse battery"
		e.user(email, password)
		b.signIn(email, password)

		b.run("webhooks", chromedp.Navigate(e.url+"/settings"), chromedp.WaitVisible(".subnav", q),
			chromedp.Click(`.subnav a[href="/settings/webhooks"]`, q), chromedp.WaitVisible(".webhook-form", q))
		if got := b.text(`.subnav a[aria-current="page"]`); got != "Webhooks" {
			t.Fatalf("current settings item = %q", got)
		}
		// A URL that is not https is refused next to the field.
		b.run("bad url", chromedp.SendKeys("#url", "http://hooks.example/linkd", q), chromedp.Click(`.webhook-form button[type="submit"]`, q),
			chromedp.WaitVisible("#url_err", q))
		b.run("create", chromedp.SetValue("#url", "https://hooks.example/linkd", q), chromedp.SendKeys("#description", "Billing service", q),
			chromedp.Click(`input[name="event"][value="`+linkd.EventAccountCreated+`"]`, q),
			chromedp.Click(`.webhook-form button[type="submit"]`, q), chromedp.WaitVisible("#secret", q))
		secret := b.value("#secret")
		all, err := s.Webhooks(t.Context(), e.test)
		if err != nil || len(all) != 1 {
			t.Fatalf("endpoints: %v, %v", all, err)
		}
		hook := all[0]
		if !strings.HasPrefix(secret, "whsec_") || secret != e.storedSecret(e.test, hook.ID) {
			t.Fatalf("shown secret %q is not the stored one", secret)
		}
		if hook.Slug != "" || hook.Description != "Billing service" || !slices.Contains(hook.Events, linkd.EventAccountCreated) ||
			!slices.Contains(hook.Events, linkd.EventConnectionCreated) {
			t.Fatalf("stored endpoint %+v", hook)
		}
		if p := b.path(); p != "/settings/webhooks" {
			t.Fatalf("the secret page is at %s: it must be the POST's response", p)
		}
		b.screenshot("settings-webhook-created")

		// Once copied, the endpoint's page and the list never show it.
		b.run("copied", chromedp.Click(`.secret-card .btn-primary`, q), chromedp.WaitVisible(".deliveries-table, .empty-log", q))
		if strings.Contains(b.html(), secret) {
			t.Fatal("the endpoint's page holds the secret")
		}
		e.account(e.test, "acct-1", "One", nil)
		b.run("log", chromedp.Reload(), chromedp.WaitVisible(".deliveries-table", q))
		if got := b.text(".deliveries-table tbody td"); !strings.HasPrefix(got, linkd.EventAccountCreated) {
			t.Fatalf("delivery log's first cell %q", got)
		}

		// Send test event: the page comes back with a pending Test delivery.
		b.run("send test", chromedp.Click(`.send-test button`, q), chromedp.WaitVisible(".notice", q))
		if got := b.text(".notice"); !strings.Contains(got, "Test event queued") {
			t.Fatalf("notice %q", got)
		}
		log, err := s.DeliveryLog(t.Context(), e.test, hook.ID, linkd.DeliveryFilter{Event: linkd.EventTest, Limit: 10})
		if err != nil || len(log.Deliveries) != 1 || log.Deliveries[0].State != linkd.DeliveryPending {
			t.Fatalf("test deliveries: %+v, %v", log, err)
		}
		testID := log.Deliveries[0].EventID
		if got := b.text("#delivery-" + testID + " .delivery-link"); got != linkd.EventTest {
			t.Fatalf("the test delivery's row says %q", got)
		}
		// The endpoint takes the account's event and answers the test 500,
		// as the sender would record them.
		now := linkd.StoreTime(time.Now()).Add(time.Second)
		jobs, err := s.ClaimDeliveries(t.Context(), linkd.Claim{Owner: "test", Now: now, Lease: time.Minute, Limit: 10})
		if err != nil || len(jobs) != 2 {
			t.Fatalf("claimed %d, %v", len(jobs), err)
		}
		for _, j := range jobs {
			a, state := &linkd.DeliveryAttempt{At: now, Status: 204, Duration: 40 * time.Millisecond, Headers: map[string]string{}}, linkd.DeliverySucceeded
			if j.EventID == testID {
				a, state = &linkd.DeliveryAttempt{At: now, Status: 500, Duration: 230 * time.Millisecond, Headers: map[string]string{"Content-Type": "application/json"},
					Body: []byte(`{"error":"database unavailable"}`), Error: "the endpoint answered 500"}, linkd.DeliveryFailed
			}
			if err := s.FinishDelivery(t.Context(), &j.Delivery, a, state, now, ""); err != nil {
				t.Fatal(err)
			}
		}
		b.run("delivery", chromedp.Click("#delivery-"+testID+" .delivery-link", q), chromedp.WaitVisible("#attempt-1", q))
		if got := b.text("#attempt-1 .attempt-status"); got != "500" {
			t.Fatalf("attempt status %q", got)
		}
		if got := b.text("#attempt-1 .attempt-body"); !strings.Contains(got, "database unavailable") {
			t.Fatalf("attempt body %q", got)
		}
		if got := b.text(".payload"); !strings.Contains(got, `"webhook_id": "`+hook.ID+`"`) {
			t.Fatalf("payload %q", got)
		}
		b.screenshot("settings-webhook-delivery")
		b.run("redeliver", chromedp.Click(".redeliver button", q), chromedp.WaitVisible(".notice", q))
		if got := b.text(".delivery-state"); !strings.EqualFold(got, linkd.DeliveryPending) {
			t.Fatalf("state after Redeliver %q", got)
		}
		if d, err := s.Delivery(t.Context(), e.test, hook.ID, testID); err != nil || d.State != linkd.DeliveryPending {
			t.Fatalf("after Redeliver: %+v, %v", d, err)
		}
		// The redelivery succeeds: the detail lists both attempts.
		later := linkd.StoreTime(time.Now()).Add(2 * time.Second)
		jobs, err = s.ClaimDeliveries(t.Context(), linkd.Claim{Owner: "test", Now: later, Lease: time.Minute, Limit: 10})
		if err != nil || len(jobs) != 1 || jobs[0].EventID != testID {
			t.Fatalf("claimed %+v, %v", jobs, err)
		}
		if err := s.FinishDelivery(t.Context(), &jobs[0].Delivery, &linkd.DeliveryAttempt{At: later, Status: 200, Duration: 80 * time.Millisecond,
			Headers: map[string]string{"Content-Type": "text/plain"}, Body: []byte("ok")}, linkd.DeliverySucceeded, later, ""); err != nil {
			t.Fatal(err)
		}
		b.run("redelivered", chromedp.Reload(), chromedp.WaitVisible("#attempt-2", q))
		if got := b.text("#attempt-2 .attempt-status"); got != "200" {
			t.Fatalf("second attempt's status %q", got)
		}

		b.run("list", chromedp.Click(`.crumbs a[href="/settings/webhooks"]`, q), chromedp.WaitVisible(".webhooks-table", q))
		if strings.Contains(b.html(), secret) {
			t.Fatal("the list holds the secret")
		}
		if got := b.text("#webhook-" + hook.ID + " .webhook-health .status"); got != "Enabled" {
			t.Fatalf("health %q", got)
		}
		b.screenshot("settings-webhooks")

		// A phone-sized screen: nothing scrolls sideways.
		b.run("narrow", chromedp.EmulateViewport(375, 800))
		for _, p := range []string{"/settings/webhooks", "/settings/webhooks/" + hook.ID, "/settings/webhooks/" + hook.ID + "?edit",
			"/settings/webhooks/" + hook.ID + "/deliveries/" + testID} {
			b.run("narrow "+p, chromedp.Navigate(e.url+p), chromedp.WaitVisible(".subnav", q))
			b.noOverflow(p)
		}
	})
}
