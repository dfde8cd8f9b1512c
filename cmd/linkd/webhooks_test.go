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
