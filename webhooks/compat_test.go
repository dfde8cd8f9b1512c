package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/webhooks"
	"github.com/linkd-dev/linkd/worker"
)

// referenceVerify is a receiver written for the reference: it recomputes
// the hex HMAC-SHA256 of the raw body with the API key and compares it to
// x-cobalt-signature. It shares no code with the sender.
func referenceVerify(apiKey string, r request) bool {
	mac := hmac.New(sha256.New, []byte(apiKey))
	mac.Write(r.body)
	want := hex.EncodeToString(mac.Sum(nil))
	got := r.header.Get("X-Cobalt-Signature")
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

// TestCompatSignature: an endpoint saved with an API key signs its
// deliveries with it the reference's way; revoking the key removes the
// signature (and says so on the endpoint) until a save with a live key
// binds that one.
func TestCompatSignature(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		f := newFixture(t, s, nil)
		ctx := t.Context()
		apiKeys := linkd.NewAPIKeyService(s)
		k1, secret1, err := apiKeys.Create(ctx, f.tenant.OrgID, f.tenant.Env, "one", "t")
		if err != nil {
			t.Fatal(err)
		}
		k2, secret2, err := apiKeys.Create(ctx, f.tenant.OrgID, f.tenant.Env, "two", "t")
		if err != nil {
			t.Fatal(err)
		}
		svc := linkd.NewWebhookService(s, f.keys)
		send := f.sender(t, "0s", worker.Options{})
		deliver := func(id string) request {
			t.Helper()
			f.createAccount(t, id)
			if n := drain(t, send); n != 1 {
				t.Fatalf("attempted %d deliveries, want 1", n)
			}
			got := f.recv.requests()
			return got[len(got)-1]
		}

		// Not yet saved with a key: only the Standard Webhooks signature.
		if r := deliver("a0"); r.header.Get(webhooks.HeaderCompatSignature) != "" || r.header.Get(webhooks.HeaderSignature) == "" {
			t.Fatalf("unbound endpoint's headers: %v", r.header)
		}

		// A key that is not the one the request authenticated as is refused.
		if _, err := svc.Update(ctx, f.tenant, "t", f.hook.ID, linkd.WebhookInput{SigningKey: &linkd.SigningKey{KeyID: k1.ID, Secret: secret2}}); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("Update with another key's secret: %v", err)
		}
		w, err := svc.Update(ctx, f.tenant, "t", f.hook.ID, linkd.WebhookInput{SigningKey: &linkd.SigningKey{KeyID: k1.ID, Secret: secret1}})
		if err != nil || w.SigningKeyID != k1.ID || !w.CompatSigns() {
			t.Fatalf("Update binding key one = %+v, %v", w, err)
		}
		r := deliver("a1")
		if !referenceVerify(secret1, r) {
			t.Fatalf("the reference's check fails: x-cobalt-signature %q", r.header.Get("X-Cobalt-Signature"))
		}
		if referenceVerify(secret2, r) {
			t.Fatal("the signature verifies under another key")
		}

		if _, err := apiKeys.Revoke(ctx, f.tenant.OrgID, f.tenant.Env, k1.ID, "t"); err != nil {
			t.Fatal(err)
		}
		if w, _ := svc.Get(ctx, f.tenant, f.hook.ID); w.SigningKeyRevoked == "" || w.SigningKey != nil || w.CompatSigns() {
			t.Fatalf("after revoking its key the endpoint = %+v", w)
		}
		r = deliver("a2")
		if r.header.Get(webhooks.HeaderCompatSignature) != "" || r.header.Get(webhooks.HeaderSignature) == "" {
			t.Fatalf("after revocation the delivery's headers: %v", r.header)
		}
		// Saving with the revoked key binds nothing (the API refuses the
		// key before that; the service checks again).
		if _, err := svc.Update(ctx, f.tenant, "t", f.hook.ID, linkd.WebhookInput{SigningKey: &linkd.SigningKey{KeyID: k1.ID, Secret: secret1}}); linkd.ErrorCode(err) != linkd.EINVALID {
			t.Fatalf("Update with a revoked key: %v", err)
		}

		w, err = svc.Update(ctx, f.tenant, "t", f.hook.ID, linkd.WebhookInput{SigningKey: &linkd.SigningKey{KeyID: k2.ID, Secret: secret2}})
		if err != nil || w.SigningKeyID != k2.ID || w.SigningKeyRevoked != "" || !w.CompatSigns() {
			t.Fatalf("Update binding key two = %+v, %v", w, err)
		}
		if r := deliver("a3"); !referenceVerify(secret2, r) {
			t.Fatalf("after rebinding, the reference's check fails: %v", r.header)
		}
	})
}
