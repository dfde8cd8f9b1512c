package storetest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// apiKey stores a key of tn and returns it.
func (e *env) apiKey(t *testing.T, tn linkd.Tenant, name string) *linkd.APIKey {
	t.Helper()
	secret, hash := linkd.NewAPIKeySecret(tn.Env)
	k := &linkd.APIKey{ID: linkd.NewID(), OrgID: tn.OrgID, Env: tn.Env, Name: name, Prefix: linkd.APIKeyPrefix(secret),
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := e.store.CreateAPIKey(e.ctx, k, hash, nil); err != nil {
		t.Fatal(err)
	}
	return k
}

// testWebhookSigningKey: an endpoint keeps the sealed API key that signs
// its x-cobalt-signature; revoking the key deletes the copies it signs
// with, in the revocation's transaction, and marks those endpoints; a save
// never puts a revoked key's copy back.
func testWebhookSigningKey(t *testing.T, e *env) {
	a, b := e.apiKey(t, e.t, "a"), e.apiKey(t, e.t, "b")
	sealedA, sealedB := []byte("sealed-a"), []byte("sealed-b")
	bind := func(k *linkd.APIKey, sealed []byte) func(*linkd.Webhook) {
		return func(w *linkd.Webhook) { w.SigningKeyID, w.SigningKey = k.ID, sealed }
	}
	w1 := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, bind(a, sealedA))
	w2 := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, bind(b, sealedB))
	w3 := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, nil)
	got, err := e.store.Webhook(e.ctx, e.t, w1.ID)
	if err != nil || got.SigningKeyID != a.ID || !bytes.Equal(got.SigningKey, sealedA) || got.SigningKeyRevoked != "" || !got.CompatSigns() {
		t.Fatalf("Webhook = %+v, %v", got, err)
	}
	if got, _ := e.store.Webhook(e.ctx, e.t, w3.ID); got.SigningKeyID != "" || got.SigningKey != nil || got.CompatSigns() {
		t.Fatalf("an unbound webhook = %+v", got)
	}

	at := time.Now().UTC().Truncate(time.Microsecond)
	if err := e.store.RevokeAPIKey(e.ctx, e.org.ID, a.ID, at, nil); err != nil {
		t.Fatal(err)
	}
	got, err = e.store.Webhook(e.ctx, e.t, w1.ID)
	if err != nil || got.SigningKeyID != a.ID || got.SigningKey != nil || got.CompatSigns() ||
		!strings.Contains(got.SigningKeyRevoked, a.ID) || !strings.Contains(got.SigningKeyRevoked, "revoked") {
		t.Fatalf("after revoking its key, Webhook = %+v, %v", got, err)
	}
	if got, _ := e.store.Webhook(e.ctx, e.t, w2.ID); !bytes.Equal(got.SigningKey, sealedB) || got.SigningKeyRevoked != "" {
		t.Fatalf("revoking key a touched the webhook of key b: %+v", got)
	}

	// A save that read the endpoint before the revocation, or that binds
	// a revoked key, stores no copy of it.
	put, err := e.store.PutWebhook(e.ctx, e.t, w1.ID, func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error) {
		next := *cur
		next.SigningKey, next.SigningKeyRevoked, next.Description = sealedA, "", "stale"
		return &next, nil, nil
	})
	if err != nil || put.SigningKey != nil || put.SigningKeyRevoked == "" {
		t.Fatalf("PutWebhook with a revoked key = %+v, %v", put, err)
	}
	if got, _ := e.store.Webhook(e.ctx, e.t, w1.ID); got.SigningKey != nil || got.SigningKeyRevoked == "" || got.Description != "stale" {
		t.Fatalf("a save put a revoked key back: %+v", got)
	}
	// A key of another tenant binds nothing either.
	other := e.apiKey(t, linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}, "prod")
	w4 := e.webhook(t, e.t, []string{linkd.EventAccountCreated}, bind(other, sealedB))
	if got, _ := e.store.Webhook(e.ctx, e.t, w4.ID); got.SigningKey != nil || got.CompatSigns() {
		t.Fatalf("a webhook kept a key of another environment: %+v", got)
	}

	// A save with a live key binds it again.
	if _, err := e.store.PutWebhook(e.ctx, e.t, w1.ID, func(cur *linkd.Webhook) (*linkd.Webhook, *linkd.AuditEntry, error) {
		next := *cur
		next.SigningKeyID, next.SigningKey, next.SigningKeyRevoked = b.ID, sealedB, ""
		return &next, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.store.Webhook(e.ctx, e.t, w1.ID); got.SigningKeyID != b.ID || !bytes.Equal(got.SigningKey, sealedB) || !got.CompatSigns() {
		t.Fatalf("rebound to a live key: %+v", got)
	}

	// A delivery's job carries the endpoint's sealed key.
	if err := e.createWithEvent(t, e.t, "acct-1", newEvent(linkd.EventAccountCreated, "acct-1", "")); err != nil {
		t.Fatal(err)
	}
	jobs, err := e.store.ClaimDeliveries(e.ctx, linkd.Claim{Owner: "t", Now: time.Now().Add(time.Second), Lease: time.Minute, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, j := range jobs {
		if j.WebhookID == w1.ID {
			seen++
			if j.Webhook.SigningKeyID != b.ID || !bytes.Equal(j.Webhook.SigningKey, sealedB) {
				t.Fatalf("claimed job's webhook = %+v", j.Webhook)
			}
		}
	}
	if seen != 1 {
		t.Fatalf("claimed %d deliveries to the webhook, want 1 (of %d)", seen, len(jobs))
	}
}
