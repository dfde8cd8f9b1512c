package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/vault"
	"github.com/linkd-dev/linkd/worker"
)

// TestLogRetentionConfig: LINKD_LOG_RETENTION and --log-retention take
// days or a Go duration, default to 30 days, and refuse what is not one or
// is out of range, naming the setting.
func TestLogRetentionConfig(t *testing.T) {
	parse := func(env map[string]string, args ...string) (time.Duration, error) {
		f := newFlags("serve", func(k string) string { return env[k] }, io.Discard)
		err := f.parse(args)
		return f.cfg.LogRetention, err
	}
	for _, c := range []struct {
		env  string
		args []string
		want time.Duration
	}{
		{"", nil, 30 * 24 * time.Hour},
		{"7d", nil, 7 * 24 * time.Hour},
		{"72h", nil, 72 * time.Hour},
		{"7d", []string{"--log-retention", "1h"}, time.Hour},
		{"", []string{"--log-retention=365d"}, 365 * 24 * time.Hour},
	} {
		env := map[string]string{}
		if c.env != "" {
			env["LINKD_LOG_RETENTION"] = c.env
		}
		got, err := parse(env, c.args...)
		if err != nil || got != c.want {
			t.Errorf("LINKD_LOG_RETENTION=%q %v: %v, %v; want %v", c.env, c.args, got, err, c.want)
		}
	}
	for _, bad := range []string{"0", "0d", "30m", "-1d", "366d", "d", "1.5d", "forever", "30 d"} {
		_, err := parse(map[string]string{"LINKD_LOG_RETENTION": bad})
		if err == nil || !strings.Contains(err.Error(), "log retention") {
			t.Errorf("LINKD_LOG_RETENTION=%q: %v, want an error naming it", bad, err)
		}
	}
}

// TestCallLogPurge: the hourly schedule deletes the calls and the webhook
// deliveries finished before the retention and keeps the rest.
func TestCallLogPurge(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		ctx := t.Context()
		org := &linkd.Org{ID: linkd.NewID(), Name: "acme-" + linkd.NewID(), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if err := store.CreateOrg(ctx, org); err != nil {
			t.Fatal(err)
		}
		master := make([]byte, 32)
		rand.Read(master)
		keys, err := vault.New(master)
		if err != nil {
			t.Fatal(err)
		}
		tn, name := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}, "C"
		if _, err := linkd.NewAccountService(store, keys).Create(ctx, tn, "k", linkd.AccountInput{AccountID: "cust", Name: &name}); err != nil {
			t.Fatal(err)
		}
		var calls []linkd.AppCall
		for _, age := range []time.Duration{49 * time.Hour, 47 * time.Hour, time.Minute} {
			calls = append(calls, linkd.AppCall{Tenant: tn, AccountID: "cust", Slug: "slack", At: time.Now().Add(-age), Method: "GET", Path: "/", Status: 200, Attempts: 1})
		}
		if err := store.AppendCalls(ctx, calls); err != nil {
			t.Fatal(err)
		}
		// An expired idempotency record goes in the same run.
		sc := linkd.IdempotencyScope{Caller: "api_key:a", Method: "POST", Path: "/p", Key: "k"}
		if _, err := store.ClaimIdempotencyKey(ctx, tn, sc, "h", time.Now().Add(-2*linkd.IdempotencyTTL)); err != nil {
			t.Fatal(err)
		}
		// Two delivered webhook events: one finished 49 h ago, one 47 h ago.
		now := linkd.StoreTime(time.Now())
		w := &linkd.Webhook{ID: linkd.NewID(), Enabled: true, Events: []string{linkd.EventAccountCreated}, URL: "https://hooks.example.com/x",
			Type: "default", Method: "POST", CreatedAt: now, UpdatedAt: now}
		if err := store.CreateWebhook(ctx, tn, w, nil); err != nil {
			t.Fatal(err)
		}
		var evs []*linkd.Event
		for i, age := range []time.Duration{49 * time.Hour, 47 * time.Hour} {
			at := now.Add(-age)
			id := fmt.Sprintf("hooked-%d", i)
			ev := &linkd.Event{ID: linkd.NewEventID(), Type: linkd.EventAccountCreated, AccountID: id,
				Payload: json.RawMessage(`{"linked_account_id":"` + id + `"}`), CreatedAt: at}
			a := &linkd.LinkedAccount{ID: linkd.NewID(), AccountID: id, Name: id, CreatedAt: at, UpdatedAt: at}
			if err := store.CreateAccount(ctx, tn, a, &linkd.AuditEntry{ID: linkd.NewID(), Time: at, Actor: "t",
				Action: linkd.AuditAccountCreate, AccountID: id, Events: []*linkd.Event{ev}}); err != nil {
				t.Fatal(err)
			}
			d, err := store.Delivery(ctx, tn, w.ID, ev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.FinishDelivery(ctx, d, &linkd.DeliveryAttempt{At: at, Status: 200}, linkd.DeliverySucceeded, at, ""); err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		recorder := linkd.NewCallRecorder(store, linkd.CallRecorderOptions{})
		defer recorder.Close()
		purge := purgeSchedule(store, recorder, linkd.NewIdempotencyService(store, keys), linkd.NewWebhookService(store, keys),
			linkd.NewExecutionService(store), 48*time.Hour, worker.Options{Owner: "test"}, slog.New(slog.DiscardHandler))
		if _, err := purge.Fire(ctx); err != nil {
			t.Fatal(err)
		}
		left, err := store.RecentCalls(ctx, tn, "cust", linkd.CallFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 2 {
			t.Fatalf("%d calls left after purging those older than 48 h, want 2", len(left))
		}
		if resp, err := store.ClaimIdempotencyKey(ctx, tn, sc, "other", time.Now()); err != nil || resp != nil {
			t.Fatalf("the expired idempotency record survived the purge: %+v, %v", resp, err)
		}
		if _, err := store.WebhookEvent(ctx, tn, evs[0].ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("the webhook event delivered 49 h ago survived the purge: %v", err)
		}
		if _, err := store.Delivery(ctx, tn, w.ID, evs[0].ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("the delivery finished 49 h ago survived the purge: %v", err)
		}
		if _, err := store.Delivery(ctx, tn, w.ID, evs[1].ID); err != nil {
			t.Fatalf("the delivery finished 47 h ago: %v", err)
		}
	})
}
