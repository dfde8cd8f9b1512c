package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/vault"
)

// secrets are the sealed values of every kind one tenant holds in a
// key-rotation test, with what each must open to.
type secrets struct {
	t        linkd.Tenant
	accounts map[string]string // account id -> credentials
	webhook  string            // webhook id
	scope    linkd.IdempotencyScope
	revID    string
}

// sealEveryKind stores a secret of every data-key kind in tn, sealed by
// keys: n accounts with credentials, a webhook's secret, an app's client
// secret, a stored idempotent response and a queued revocation.
func (e *env) sealEveryKind(t *testing.T, tn linkd.Tenant, keys linkd.Keyring, n int, prefix string) *secrets {
	t.Helper()
	svc := linkd.NewAccountService(e.store, keys)
	s := &secrets{t: tn, accounts: map[string]string{}}
	for i := range n {
		id := fmt.Sprintf("%s-%02d", prefix, i)
		creds := fmt.Sprintf(`{"api_key":"sk_%s"}`, id)
		if _, err := svc.Create(e.ctx, tn, "key-1", linkd.AccountInput{AccountID: id, Credentials: json.RawMessage(creds)}); err != nil {
			t.Fatal(err)
		}
		s.accounts[id] = creds
	}
	if prefix != "acct" {
		return s
	}
	w := e.webhook(t, tn, []string{"connection.created"}, func(w *linkd.Webhook) {
		if err := linkd.SealWebhookSecret(keys, tn, w, "whsec_"+tn.OrgID); err != nil {
			t.Fatal(err)
		}
	})
	s.webhook = w.ID
	set := &linkd.AppSettings{Slug: "slack", Enabled: true, ClientID: "cid", UpdatedAt: time.Now().UTC()}
	owner := linkd.AppSettingsOwner(tn, set.Slug)
	var err error
	if set.DataKey, err = keys.NewDataKey(owner); err != nil {
		t.Fatal(err)
	}
	if set.ClientSecret, err = keys.Seal(set.DataKey, owner, "client_secret", []byte("cs_"+tn.OrgID)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutAppSettings(e.ctx, tn, set, nil); err != nil {
		t.Fatal(err)
	}
	s.scope = linkd.IdempotencyScope{Caller: "api_key:k1", Method: "POST", Path: "/api/v2/public/linked-account", Key: "idem-" + string(tn.Env)}
	idem := linkd.NewIdempotencyService(e.store, keys)
	if _, err := idem.Claim(e.ctx, tn, s.scope, []byte("req"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := idem.Complete(e.ctx, tn, s.scope, "", 200, []byte("resp "+tn.OrgID)); err != nil {
		t.Fatal(err)
	}
	e.create(t, tn, "gone", "Gone", nil)
	s.revID = linkd.NewID()
	err = e.store.DeleteAccount(e.ctx, tn, "gone", func(*linkd.LinkedAccount, []*linkd.Connection) ([]*linkd.Revocation, *linkd.AuditEntry, error) {
		now := time.Now().UTC()
		r := &linkd.Revocation{ID: s.revID, OrgID: tn.OrgID, Env: tn.Env, AccountID: "gone", Slug: "slack", NextAt: now.Add(time.Hour), CreatedAt: now}
		var err error
		if r.DataKey, err = keys.NewDataKey("revocation/" + r.ID); err != nil {
			return nil, nil, err
		}
		if r.Token, err = keys.Seal(r.DataKey, "revocation/"+r.ID, "token", []byte("tok_"+tn.OrgID)); err != nil {
			return nil, nil, err
		}
		return []*linkd.Revocation{r}, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "test", Action: "account.delete", AccountID: "gone"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// check opens every secret of s with keys (which holds only the new master
// key after a rotation).
func (e *env) check(t *testing.T, s *secrets, keys linkd.Keyring) {
	t.Helper()
	svc := linkd.NewAccountService(e.store, keys)
	for id, creds := range s.accounts {
		a, err := svc.Get(e.ctx, s.t, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := svc.OpenCredentials(s.t, a)
		if err != nil || string(got) != creds {
			t.Fatalf("credentials of %s: %s, %v", id, got, err)
		}
	}
	if s.webhook == "" {
		return
	}
	w, err := e.store.Webhook(e.ctx, s.t, s.webhook)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := linkd.OpenWebhookSecret(keys, s.t, w); err != nil || got != "whsec_"+s.t.OrgID {
		t.Fatalf("webhook secret: %q, %v", got, err)
	}
	sets, err := e.store.AppSettings(e.ctx, s.t)
	if err != nil {
		t.Fatal(err)
	}
	set := sets["slack"]
	if got, err := keys.Open(set.DataKey, linkd.AppSettingsOwner(s.t, "slack"), "client_secret", set.ClientSecret); err != nil || string(got) != "cs_"+s.t.OrgID {
		t.Fatalf("client secret: %q, %v", got, err)
	}
	prev, err := linkd.NewIdempotencyService(e.store, keys).Claim(e.ctx, s.t, s.scope, []byte("req"), time.Now())
	if err != nil || prev == nil || string(prev.Body) != "resp "+s.t.OrgID {
		t.Fatalf("stored response: %+v, %v", prev, err)
	}
	// The revocation's key opens under its owner: the listing names it.
	found := false
	keysOf, err := e.store.DataKeys(e.ctx, s.t, linkd.DataKeyRevocation, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keysOf {
		if k.ID == s.revID {
			found = true
			if _, err := keys.Seal(k.Key, k.Owner(s.t), "probe", nil); err != nil {
				t.Fatalf("revocation data key: %v", err)
			}
		}
	}
	if !found {
		t.Fatal("the revocation's data key is not listed")
	}
}

// allDataKeys lists every data key of tn, batch by batch.
func (e *env) allDataKeys(t *testing.T, tn linkd.Tenant, batch int) []linkd.WrappedDataKey {
	t.Helper()
	var out []linkd.WrappedDataKey
	for _, kind := range linkd.DataKeyKinds {
		var after *linkd.WrappedDataKey
		for {
			ks, err := e.store.DataKeys(e.ctx, tn, kind, after, batch)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ks...)
			if len(ks) < batch {
				break
			}
			after = &ks[len(ks)-1]
		}
	}
	return out
}

// testDataKeys: DataKeys lists every row's key of every kind, page by page,
// once and only in its tenant; ReplaceDataKeys replaces only where the row
// still holds the key it was read with.
func testDataKeys(t *testing.T, e *env) {
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvTest}
	e.sealEveryKind(t, e.t, e.svc.Keys, 5, "acct")
	e.sealEveryKind(t, other, e.svc.Keys, 2, "acct")
	e.create(t, e.t, "no-secret", "N", nil) // no data key: not listed
	got := e.allDataKeys(t, e.t, 2)
	kinds := map[linkd.DataKeyKind]int{}
	seen := map[string]bool{}
	for _, k := range got {
		kinds[k.Kind]++
		name := string(k.Kind) + "/" + k.ID + "/" + k.Scope.Key
		if seen[name] {
			t.Fatalf("%s listed twice", name)
		}
		seen[name] = true
		if _, err := e.svc.Keys.Seal(k.Key, k.Owner(e.t), "probe", nil); err != nil {
			t.Fatalf("%s: the listed key does not open for its owner: %v", name, err)
		}
	}
	want := map[linkd.DataKeyKind]int{linkd.DataKeyAccount: 5, linkd.DataKeyWebhook: 1, linkd.DataKeyAppSettings: 1, linkd.DataKeyIdempotency: 1, linkd.DataKeyRevocation: 1}
	for kind, n := range want {
		if kinds[kind] != n {
			t.Errorf("%s: %d keys listed, want %d", kind, kinds[kind], n)
		}
	}
	if len(kinds) != len(linkd.DataKeyKinds) {
		t.Errorf("kinds listed: %v", kinds)
	}

	k := got[0]
	stale := linkd.DataKeyChange{WrappedDataKey: k, New: []byte("new")}
	stale.Key = []byte("not what it holds")
	if n, err := e.store.ReplaceDataKeys(e.ctx, e.t, []linkd.DataKeyChange{stale}); err != nil || n != 0 {
		t.Fatalf("replace a changed key: %d, %v", n, err)
	}
	if n, err := e.store.ReplaceDataKeys(e.ctx, other, []linkd.DataKeyChange{{WrappedDataKey: k, New: []byte("new")}}); err != nil || n != 0 {
		t.Fatalf("replace in another tenant: %d, %v", n, err)
	}
	if n, err := e.store.ReplaceDataKeys(e.ctx, e.t, []linkd.DataKeyChange{{WrappedDataKey: k, New: []byte("new")}}); err != nil || n != 1 {
		t.Fatalf("replace: %d, %v", n, err)
	}
	again, err := e.store.DataKeys(e.ctx, e.t, k.Kind, nil, 1)
	if err != nil || len(again) != 1 || !bytes.Equal(again[0].Key, []byte("new")) {
		t.Fatalf("after replace: %v, %v", again, err)
	}
}

// testKeyRotation re-wraps every data key of every tenant under a new
// master key while another keyring (an instance still on the old key)
// keeps writing, is stopped midway and resumed: afterwards every secret
// opens with the new key alone, the database names the new key, and the
// old one is retired.
func testKeyRotation(t *testing.T, e *env) {
	oldKeys := e.svc.Keys
	oldID := oldKeys.(*vault.Keyring).KeyID()
	if _, err := e.store.EnsureSetting(e.ctx, linkd.MasterKeyIDSetting, oldID); err != nil {
		t.Fatal(err)
	}
	prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvTest}
	all := []*secrets{
		e.sealEveryKind(t, e.t, oldKeys, 7, "acct"),
		e.sealEveryKind(t, prod, oldKeys, 3, "acct"),
		e.sealEveryKind(t, other, oldKeys, 4, "acct"),
	}
	newMaster := make([]byte, 32)
	rand.Read(newMaster)
	both, err := vault.New(newMaster, e.master)
	if err != nil {
		t.Fatal(err)
	}
	newOnly, _ := vault.New(newMaster)

	// The first run stops after its second batch, as if killed, having
	// let the old instance write more meanwhile.
	ctx, cancel := context.WithCancel(e.ctx)
	rot := linkd.NewKeyRotation(e.store, both)
	rot.Batch = 2
	batches := 0
	rot.Progress = func(linkd.Tenant, linkd.DataKeyKind, int) {
		if batches++; batches == 1 {
			all = append(all, e.sealEveryKind(t, e.t, oldKeys, 3, "late"))
		}
		if batches == 2 {
			cancel()
		}
	}
	if _, err := rot.Rotate(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rotation: %v", err)
	}
	if got, _ := e.store.EnsureSetting(e.ctx, linkd.MasterKeyIDSetting, ""); got != oldID {
		t.Fatalf("an interrupted rotation changed the master key id to %s", got)
	}
	for _, s := range all {
		e.check(t, s, both) // readable throughout
	}

	rot = linkd.NewKeyRotation(e.store, both)
	rot.Batch = 2
	res, err := rot.Rotate(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.From != oldID || res.To != both.KeyID() || res.Rewrapped == 0 || res.Passes < 1 {
		t.Fatalf("rotation: %+v", res)
	}
	for _, s := range all {
		e.check(t, s, newOnly)
	}
	for _, tn := range []linkd.Tenant{e.t, prod, other} {
		for _, k := range e.allDataKeys(t, tn, 100) {
			if hex.EncodeToString(k.Key[1:5]) != both.KeyID() {
				t.Fatalf("%s %s still wrapped by %x", k.Kind, k.ID, k.Key[1:5])
			}
		}
	}
	if got, _ := e.store.EnsureSetting(e.ctx, linkd.MasterKeyIDSetting, ""); got != both.KeyID() {
		t.Fatalf("master key id after rotation: %s", got)
	}
	if got, _ := e.store.EnsureSetting(e.ctx, linkd.RetiredKeysSetting, ""); got != oldID {
		t.Fatalf("retired keys after rotation: %q", got)
	}
	// Running it again finds nothing to do and changes nothing.
	res, err = rot.Rotate(e.ctx)
	if err != nil || res.Rewrapped != 0 || res.From != both.KeyID() {
		t.Fatalf("second rotation: %+v, %v", res, err)
	}
	if got, _ := e.store.EnsureSetting(e.ctx, linkd.RetiredKeysSetting, ""); got != oldID {
		t.Fatalf("retired keys after a second rotation: %q", got)
	}
	// A key the keyring does not hold stops the rotation, naming it.
	stranger := make([]byte, 32)
	rand.Read(stranger)
	strangeKeys, _ := vault.New(stranger)
	e.sealEveryKind(t, e.t, strangeKeys, 1, "stranger")
	if _, err := rot.Rotate(e.ctx); err == nil {
		t.Fatal("rotation over a data key of an unknown master key succeeded")
	}
}

func testReplaceSetting(t *testing.T, e *env) {
	name := "test_" + linkd.NewID()
	if got, err := e.store.ReplaceSetting(e.ctx, name, "x", "y"); err != nil || got != "" {
		t.Fatalf("replace an absent setting expecting x: %q, %v", got, err)
	}
	if got, err := e.store.ReplaceSetting(e.ctx, name, "", "a"); err != nil || got != "a" {
		t.Fatalf("set an absent setting: %q, %v", got, err)
	}
	if got, err := e.store.ReplaceSetting(e.ctx, name, "", "b"); err != nil || got != "a" {
		t.Fatalf("replace a set setting expecting none: %q, %v", got, err)
	}
	if got, err := e.store.ReplaceSetting(e.ctx, name, "z", "b"); err != nil || got != "a" {
		t.Fatalf("replace with a stale value: %q, %v", got, err)
	}
	if got, err := e.store.ReplaceSetting(e.ctx, name, "a", "b"); err != nil || got != "b" {
		t.Fatalf("replace: %q, %v", got, err)
	}
}
