package storetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

func newUser(e *env, orgID, email string) *linkd.User {
	return &linkd.User{ID: linkd.NewID(), OrgID: orgID, Email: email, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
}

// testUsers pins down dashboard users: unique emails across organizations,
// lookups returning the stored hash, counts per organization.
func testUsers(t *testing.T, e *env) {
	email := "ada-" + linkd.NewID()[24:] + "@example.com"
	u := newUser(e, e.org.ID, email)
	if err := e.store.CreateUser(e.ctx, u, "$argon2id$hash"); err != nil {
		t.Fatal(err)
	}
	got, hash, err := e.store.UserByEmail(e.ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || got.OrgID != e.org.ID || got.Email != email || !got.CreatedAt.Equal(u.CreatedAt) || hash != "$argon2id$hash" {
		t.Fatalf("UserByEmail = %+v, %q; want %+v", got, hash, u)
	}
	other := e.newOrg(t, "globex")
	wantCode(t, e.store.CreateUser(e.ctx, newUser(e, other.ID, email), "x"), linkd.EEXISTS)
	_, _, err = e.store.UserByEmail(e.ctx, "nobody-"+linkd.NewID()+"@example.com")
	wantCode(t, err, linkd.ENOTFOUND)
	for org, want := range map[string]int{e.org.ID: 1, other.ID: 0} {
		if n, err := e.store.CountUsers(e.ctx, org); err != nil || n != want {
			t.Fatalf("CountUsers(%s) = %d, %v; want %d", org, n, err, want)
		}
	}
}

// testSetupCodes: a live code creates the first user once; an expired or
// unknown code creates nothing; a second user cannot come in through a code.
func testSetupCodes(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	org := e.newOrg(t, "fresh")
	_, live := linkd.NewSecret("setup_")
	_, live2 := linkd.NewSecret("setup_")
	_, expired := linkd.NewSecret("setup_")
	for _, c := range []struct {
		hash []byte
		exp  time.Time
	}{{live, now.Add(time.Hour)}, {live2, now.Add(time.Hour)}, {expired, now.Add(-time.Second)}} {
		if err := e.store.AddSetupCode(e.ctx, org.ID, c.hash, c.exp); err != nil {
			t.Fatal(err)
		}
	}
	email := func() string { return "first-" + linkd.NewID()[24:] + "@example.com" }
	wantCode(t, e.store.CreateFirstUser(e.ctx, expired, now, newUser(e, "", email()), "h"), linkd.ENOTFOUND)
	_, unknown := linkd.NewSecret("setup_")
	wantCode(t, e.store.CreateFirstUser(e.ctx, unknown, now, newUser(e, "", email()), "h"), linkd.ENOTFOUND)

	// Two browsers race with the two live codes: exactly one user results.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, h := range [][]byte{live, live2} {
		wg.Go(func() { errs[i] = e.store.CreateFirstUser(e.ctx, h, now, newUser(e, "", email()), "h") })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if c := linkd.ErrorCode(err); c != linkd.EEXISTS && c != linkd.ENOTFOUND {
			t.Fatalf("CreateFirstUser: %v", err)
		}
	}
	if n, err := e.store.CountUsers(e.ctx, org.ID); err != nil || n != 1 || ok != 1 {
		t.Fatalf("after the race: %d users (%v), %d successes; want 1 and 1", n, err, ok)
	}
	// Every code of the organization is gone with its use.
	err := e.store.CreateFirstUser(e.ctx, live, now, newUser(e, "", email()), "h")
	if c := linkd.ErrorCode(err); c != linkd.ENOTFOUND && c != linkd.EEXISTS {
		t.Fatalf("reused code: %v", err)
	}
	// The first user gets the organization of the code.
	org2 := e.newOrg(t, "fresh2")
	_, h := linkd.NewSecret("setup_")
	if err := e.store.AddSetupCode(e.ctx, org2.ID, h, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	u := newUser(e, "", email())
	if err := e.store.CreateFirstUser(e.ctx, h, now, u, "h"); err != nil {
		t.Fatal(err)
	}
	if u.OrgID != org2.ID {
		t.Fatalf("first user's org = %s, want %s", u.OrgID, org2.ID)
	}
}

// testDashboardSessions: sessions are found by hash only, carry the user's
// email and environment, switch environment and go on logout.
func testDashboardSessions(t *testing.T, e *env) {
	u := newUser(e, e.org.ID, "s-"+linkd.NewID()[24:]+"@example.com")
	if err := e.store.CreateUser(e.ctx, u, "h"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	secret, hash := linkd.NewSecret("ds_")
	ds := &linkd.DashboardSession{ID: linkd.NewID(), UserID: u.ID, OrgID: u.OrgID, Env: linkd.EnvTest, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
	if err := e.store.CreateDashboardSession(e.ctx, ds, hash); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.DashboardSessionByHash(e.ctx, linkd.HashAPIKey(secret))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != ds.ID || got.UserID != u.ID || got.OrgID != u.OrgID || got.Email != u.Email || got.Env != linkd.EnvTest ||
		!got.ExpiresAt.Equal(ds.ExpiresAt) || !got.CreatedAt.Equal(now) {
		t.Fatalf("DashboardSessionByHash = %+v, want %+v", got, ds)
	}
	if bytes.Equal(hash, []byte(secret)) {
		t.Fatal("hash is the secret")
	}
	if err := e.store.SetDashboardSessionEnv(e.ctx, ds.ID, linkd.EnvProduction); err != nil {
		t.Fatal(err)
	}
	if got, err := e.store.DashboardSessionByHash(e.ctx, hash); err != nil || got.Env != linkd.EnvProduction {
		t.Fatalf("after switch: %+v, %v", got, err)
	}
	if err := e.store.DeleteDashboardSession(e.ctx, ds.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.store.DashboardSessionByHash(e.ctx, hash)
	wantCode(t, err, linkd.ENOTFOUND)
	if err := e.store.DeleteDashboardSession(e.ctx, ds.ID); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if err := e.store.DeleteDashboardSession(e.ctx, "not-an-id"); err != nil {
		t.Fatalf("deleting a malformed id: %v", err)
	}
}

// testLoginFailures: failures count per key within a window and clear.
func testLoginFailures(t *testing.T, e *env) {
	key := "a@example.com|192.0.2.1|" + linkd.NewID()
	other := key + "x"
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 3 {
		if err := e.store.AddLoginFailure(e.ctx, key, now.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.AddLoginFailure(e.ctx, other, now); err != nil {
		t.Fatal(err)
	}
	count := func(k string, since time.Time) int {
		t.Helper()
		n, err := e.store.LoginFailures(e.ctx, k, since)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(key, now.Add(-time.Minute)); n != 3 {
		t.Fatalf("failures = %d, want 3", n)
	}
	if n := count(key, now.Add(time.Second)); n != 2 {
		t.Fatalf("failures in the later window = %d, want 2", n)
	}
	if err := e.store.ClearLoginFailures(e.ctx, key); err != nil {
		t.Fatal(err)
	}
	if n, m := count(key, now.Add(-time.Minute)), count(other, now.Add(-time.Minute)); n != 0 || m != 1 {
		t.Fatalf("after clear: %d and %d, want 0 and 1", n, m)
	}
}
