package storetest

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// testOAuthStates: a state keeps what binds the flow (the browser's secret
// hash, the asking page's origin) and gives it back once; a state without
// a browser gives back none.
func testOAuthStates(t *testing.T, e *env) {
	e.create(t, e.t, "cust", "C", nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	browser := hash("browser secret")
	bound := &linkd.OAuthState{Hash: hash("state-1"), AccountID: "cust", Slug: "slack", ReturnTo: "/connect/x",
		CreatedAt: now, ExpiresAt: now.Add(linkd.OAuthStateTTL), BrowserHash: browser, Origin: "https://app.example.com"}
	if err := e.store.CreateOAuthState(e.ctx, e.t, bound); err != nil || bound.AccountPK == "" {
		t.Fatalf("CreateOAuthState: %v %+v", err, bound)
	}
	free := &linkd.OAuthState{Hash: hash("state-2"), AccountID: "cust", Slug: "slack", CreatedAt: now, ExpiresAt: now.Add(linkd.OAuthStateTTL)}
	if err := e.store.CreateOAuthState(e.ctx, e.t, free); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateOAuthState(e.ctx, linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction},
		&linkd.OAuthState{Hash: hash("state-3"), AccountID: "cust", Slug: "slack", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("a state for another environment's account: %v", err)
	}

	got, err := e.store.TakeOAuthState(e.ctx, bound.Hash, now)
	if err != nil || got.Tenant() != e.t || got.AccountID != "cust" || got.AccountPK != bound.AccountPK || got.Slug != "slack" ||
		got.ReturnTo != "/connect/x" || !bytes.Equal(got.BrowserHash, browser) || got.Origin != "https://app.example.com" || !got.ExpiresAt.Equal(bound.ExpiresAt) {
		t.Fatalf("TakeOAuthState = %+v, %v", got, err)
	}
	if _, err := e.store.TakeOAuthState(e.ctx, bound.Hash, now); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("a state was taken twice: %v", err)
	}
	got, err = e.store.TakeOAuthState(e.ctx, free.Hash, now)
	if err != nil || len(got.BrowserHash) != 0 || got.Origin != "" {
		t.Fatalf("a state without browser or origin = %+v, %v", got, err)
	}
	late := &linkd.OAuthState{Hash: hash("state-4"), AccountID: "cust", Slug: "slack", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := e.store.CreateOAuthState(e.ctx, e.t, late); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.TakeOAuthState(e.ctx, late.Hash, late.ExpiresAt); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("an expired state was given back: %v", err)
	}
}
