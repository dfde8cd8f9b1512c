package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/webhooks"
)

// TestWebhookRetryScheduleConfig: LINKD_WEBHOOK_RETRY_SCHEDULE and
// --webhook-retry-schedule take comma-separated durations (a first 0s
// added when missing: the first attempt is immediate), default to the
// Svix-like schedule, and refuse what is not one, naming the setting.
func TestWebhookRetryScheduleConfig(t *testing.T) {
	parse := func(env map[string]string, args ...string) ([]time.Duration, error) {
		f := newFlags("serve", func(k string) string { return env[k] }, io.Discard)
		err := f.parse(args)
		return f.cfg.WebhookRetrySchedule, err
	}
	s, m, h := time.Second, time.Minute, time.Hour
	for _, c := range []struct {
		env  string
		args []string
		want []time.Duration
	}{
		{"", nil, []time.Duration{0, 5 * s, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h}},
		{"5s,5m,30m", nil, []time.Duration{0, 5 * s, 5 * m, 30 * m}},
		{"5s", []string{"--webhook-retry-schedule", "0s, 1m"}, []time.Duration{0, m}},
	} {
		env := map[string]string{}
		if c.env != "" {
			env["LINKD_WEBHOOK_RETRY_SCHEDULE"] = c.env
		}
		got, err := parse(env, c.args...)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("LINKD_WEBHOOK_RETRY_SCHEDULE=%q %v: %v, %v; want %v", c.env, c.args, got, err, c.want)
		}
	}
	for _, bad := range []string{",", "5", "-5s", "5s,,5m", "1000h", "soon"} {
		_, err := parse(map[string]string{"LINKD_WEBHOOK_RETRY_SCHEDULE": bad})
		if err == nil || !strings.Contains(err.Error(), "retry schedule") {
			t.Errorf("LINKD_WEBHOOK_RETRY_SCHEDULE=%q: %v, want an error naming it", bad, err)
		}
	}
}

// TestServeDeliversWebhooks: the server runs the sender through the
// guarded client (a loopback receiver needs LINKD_ALLOW_PRIVATE_NETWORKS):
// an account created with an event, in the database the server uses,
// reaches the receiver once, signed.
func TestServeDeliversWebhooks(t *testing.T) {
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var got []*http.Request
			var bodies [][]byte
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got, bodies = append(got, r), append(bodies, b)
				mu.Unlock()
			}))
			defer recv.Close()
			env["LINKD_ALLOW_PRIVATE_NETWORKS"] = "127.0.0.0/8"
			serve(t, env)

			// The test writes to the server's database as the services do.
			f := newFlags("serve", env.get, io.Discard)
			if err := f.parse(nil); err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			store, err := openStore(ctx, f.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			keys, err := openKeyring(ctx, f.cfg, store, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			now := linkd.StoreTime(time.Now())
			org := &linkd.Org{ID: linkd.NewID(), Name: "hooks-" + linkd.NewID()[24:], CreatedAt: now}
			if err := store.CreateOrg(ctx, org); err != nil {
				t.Fatal(err)
			}
			tn := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
			w := &linkd.Webhook{ID: linkd.NewID(), Enabled: true, Events: []string{linkd.EventAccountCreated}, URL: recv.URL,
				Type: "default", Method: "POST", CreatedAt: now, UpdatedAt: now}
			secret := linkd.NewWebhookSecret()
			if err := linkd.SealWebhookSecret(keys, tn, w, secret); err != nil {
				t.Fatal(err)
			}
			if err := store.CreateWebhook(ctx, tn, w, nil); err != nil {
				t.Fatal(err)
			}
			ev := &linkd.Event{ID: linkd.NewEventID(), Type: linkd.EventAccountCreated, AccountID: "o1",
				Payload: json.RawMessage(`{"linked_account_id":"o1"}`), CreatedAt: now}
			a := &linkd.LinkedAccount{ID: linkd.NewID(), AccountID: "o1", Name: "o1", CreatedAt: now, UpdatedAt: now}
			if err := store.CreateAccount(ctx, tn, a, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t",
				Action: linkd.AuditAccountCreate, AccountID: "o1", Events: []*linkd.Event{ev}}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the delivery to succeed", func() bool {
				ds, err := store.Deliveries(ctx, tn, w.ID, 10)
				return err == nil && len(ds) == 1 && ds[0].State == linkd.DeliverySucceeded
			})
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 || got[0].Header.Get("webhook-id") != ev.ID {
				t.Fatalf("the receiver got %d requests", len(got))
			}
			sig, err := webhooks.Sign(secret, ev.ID, time.Unix(mustInt(t, got[0].Header.Get("webhook-timestamp")), 0), bodies[0])
			if err != nil || got[0].Header.Get("webhook-signature") != sig {
				t.Fatalf("signature %q, want %q (%v)", got[0].Header.Get("webhook-signature"), sig, err)
			}
		})
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWebhooksEndToEnd: an endpoint made through the API receives the
// events of changes made through the API, once each, signed with the
// secret the create answered, and only the events it subscribed to.
func TestWebhooksEndToEnd(t *testing.T) {
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) {
			type hit struct {
				h    http.Header
				body []byte
			}
			var mu sync.Mutex
			var hits []hit
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				hits = append(hits, hit{r.Header.Clone(), b})
				mu.Unlock()
			}))
			defer recv.Close()
			env["LINKD_ALLOW_PRIVATE_NETWORKS"] = "127.0.0.0/8"
			key, _, err := cli(t, env, "apikey", "create", "--env", "test", "--name", "hooks")
			if err != nil {
				t.Fatal(err)
			}
			key = strings.TrimSpace(key)
			base, _ := serve(t, env)
			call := func(method, path, body string) map[string]any {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
				req.Header.Set("x-api-key", key)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var out map[string]any
				raw, _ := io.ReadAll(res.Body)
				if res.StatusCode != 200 {
					t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
				}
				json.Unmarshal(raw, &out)
				return out
			}
			made := call("POST", "/api/v2/public/webhook", `{"webhook_url":"`+recv.URL+`/hook","webhook_events":["Linked Account Created","Connection Created"]}`)
			secret, _ := made["secret"].(string)
			if !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("create answered no secret: %v", made)
			}
			call("POST", "/api/v2/public/linked-account", `{"linked_account_id":"cust-1","name":"Acme"}`)
			call("PUT", "/api/v2/public/linked-account/integration/save-key-credentials/stripe?linked_account_id=cust-1", `{"secret_key":"rk_test_1"}`)
			// The outbox was written with each change: the endpoint has
			// exactly its two deliveries, and both succeed.
			id, _ := made["_id"].(string)
			deliveries := func() []any {
				docs, _ := call("GET", "/api/v2/public/webhook/"+id+"/deliveries", "")["docs"].([]any)
				return docs
			}
			waitFor(t, "the deliveries to succeed", func() bool {
				docs := deliveries()
				done := 0
				for _, d := range docs {
					if d.(map[string]any)["state"] == linkd.DeliverySucceeded {
						done++
					}
				}
				if len(docs) != 2 {
					t.Fatalf("%d deliveries, want 2: %v", len(docs), docs)
				}
				return done == 2
			})
			// The metrics count both attempts and the items the webhooks
			// loop ran, and no delivery is waiting.
			res, err := http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			scraped, _ := io.ReadAll(res.Body)
			res.Body.Close()
			for _, want := range []string{"\nlinkd_webhook_attempts_total{outcome=\"succeeded\"} 2\n", "\nlinkd_webhook_backlog_age_seconds 0\n",
				"\nlinkd_worker_items_total{loop=\"webhooks\",outcome=\"ok\"} 2\n", "\nlinkd_webhook_delivery_lag_seconds_count 2\n"} {
				if !strings.Contains(string(scraped), want) {
					t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
				}
			}
			// Deleting the account takes its delivered events with it, and
			// announces the delete to no one (the endpoint did not
			// subscribe to it).
			call("DELETE", "/api/v2/public/linked-account/cust-1", "")
			if docs := deliveries(); len(docs) != 0 {
				t.Fatalf("after the account's delete, the delivery log still has %v", docs)
			}
			mu.Lock()
			defer mu.Unlock()
			events := map[string]map[string]any{}
			for _, h := range hits {
				id := h.h.Get("webhook-id")
				sig, err := webhooks.Sign(secret, id, time.Unix(mustInt(t, h.h.Get("webhook-timestamp")), 0), h.body)
				if err != nil || h.h.Get("webhook-signature") != sig {
					t.Fatalf("a delivery not signed with the create's secret: %q", h.h.Get("webhook-signature"))
				}
				var p map[string]any
				if err := json.Unmarshal(h.body, &p); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(h.body), "Acme") || strings.Contains(string(h.body), "rk_test_1") {
					t.Fatalf("a payload carries the account's name or a secret: %s", h.body)
				}
				events[p["event"].(string)] = p
			}
			if len(hits) != 2 || events["Linked Account Created"]["linked_account_id"] != "cust-1" ||
				events["Connection Created"]["slug"] != "stripe" {
				t.Fatalf("deliveries: %d, %v", len(hits), events)
			}
		})
	}
}
