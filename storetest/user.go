package storetest

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"
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
	if err := e.store.CreateUser(e.ctx, u, "$argon2id$hash", nil); err != nil {
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
	// The audit entry goes with the user, in the organization's log; a
	// refused user leaves none.
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: u.CreatedAt, Actor: "cli", Action: linkd.AuditUserCreate}
	grace := newUser(e, e.org.ID, "grace-"+linkd.NewID()[24:]+"@example.com")
	if err := e.store.CreateUser(e.ctx, grace, "h", ev); err != nil {
		t.Fatal(err)
	}
	dup := &linkd.AuditEntry{ID: linkd.NewID(), Time: u.CreatedAt, Actor: "cli", Action: linkd.AuditUserCreate}
	wantCode(t, e.store.CreateUser(e.ctx, newUser(e, other.ID, email), "x", dup), linkd.EEXISTS)
	for _, tn := range []linkd.Tenant{{OrgID: e.org.ID}, {OrgID: other.ID}} {
		entries, _, err := e.store.ListAudit(e.ctx, tn, linkd.AuditFilter{Limit: 10})
		want := 0
		if tn.OrgID == e.org.ID {
			want = 1
		}
		if err != nil || len(entries) != want || want == 1 && entries[0].ID != ev.ID {
			t.Fatalf("audit of %s after CreateUser: %+v, %v", tn.OrgID, entries, err)
		}
	}
	_, _, err = e.store.UserByEmail(e.ctx, "nobody-"+linkd.NewID()+"@example.com")
	wantCode(t, err, linkd.ENOTFOUND)
	for org, want := range map[string]int{e.org.ID: 2, other.ID: 0} {
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
	if err := e.store.CreateUser(e.ctx, u, "h", nil); err != nil {
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

// testLoginThrottles: fn sees the stored throttles in the order of the
// keys, its result is stored (zero deletes), its error writes nothing, and
// parallel updates of one key take turns: 20 sign-ins racing for 5 free
// attempts get exactly 5, on any engine.
func testLoginThrottles(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	a, b := "email:"+linkd.NewID()+"@example.com", "ip:192.0.2."+linkd.NewID()
	read := func(keys ...string) []linkd.LoginThrottle {
		t.Helper()
		var got []linkd.LoginThrottle
		err := e.store.UpdateLoginThrottles(e.ctx, keys, now.Add(-time.Hour), func(cur []linkd.LoginThrottle) ([]linkd.LoginThrottle, error) {
			got = slices.Clone(cur)
			return cur, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := read(a, b); got[0].Attempts != 0 || got[1].Attempts != 0 {
		t.Fatalf("new keys: %+v", got)
	}
	err := e.store.UpdateLoginThrottles(e.ctx, []string{a, b}, now.Add(-time.Hour), func(cur []linkd.LoginThrottle) ([]linkd.LoginThrottle, error) {
		return []linkd.LoginThrottle{{Attempts: 2, First: now.Add(-time.Minute), Last: now}, {Attempts: 7, First: now, Last: now}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(b, a); got[0].Attempts != 7 || got[1].Attempts != 2 || !got[1].First.Equal(now.Add(-time.Minute)) || !got[1].Last.Equal(now) {
		t.Fatalf("after the write, in reverse order: %+v", got)
	}
	// fn's error is returned and nothing is written.
	refused := linkd.Errorf(linkd.ERATELIMITED, "no")
	err = e.store.UpdateLoginThrottles(e.ctx, []string{a, b}, now.Add(-time.Hour), func(cur []linkd.LoginThrottle) ([]linkd.LoginThrottle, error) {
		return nil, refused
	})
	if err != refused {
		t.Fatalf("fn's error came back as %v", err)
	}
	if got := read(a); got[0].Attempts != 2 {
		t.Fatalf("after a refusal: %+v", got)
	}
	// Zero deletes; throttles older than prune go.
	err = e.store.UpdateLoginThrottles(e.ctx, []string{a}, now.Add(-time.Hour), func(cur []linkd.LoginThrottle) ([]linkd.LoginThrottle, error) {
		return []linkd.LoginThrottle{{}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(a, b); got[0].Attempts != 0 || got[1].Attempts != 7 {
		t.Fatalf("after clearing a: %+v", got)
	}
	if err := e.store.UpdateLoginThrottles(e.ctx, []string{a}, now.Add(time.Second), func(cur []linkd.LoginThrottle) ([]linkd.LoginThrottle, error) {
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := read(b); got[0].Attempts != 0 {
		t.Fatalf("a throttle older than prune is still there: %+v", got)
	}

	// The race: each of 20 parallel reservations allows itself only while
	// fewer than 5 are counted.
	key := "email:race-" + linkd.NewID()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := e.store.UpdateLoginThrottles(e.ctx, []string{key, "ip:race"}, now.Add(-time.Hour), func(cur []linkd.LoginThrottle) ([]linkd.LoginThrottle, error) {
				if cur[0].Attempts >= 5 {
					return nil, refused
				}
				cur[0].Attempts++
				cur[0].First, cur[0].Last = now, now
				cur[1].Attempts++
				cur[1].First, cur[1].Last = now, now
				return cur, nil
			})
			if err == nil {
				allowed.Add(1)
			} else if err != refused {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 5 {
		t.Fatalf("%d of 20 parallel reservations were allowed, want 5", n)
	}
	if got := read(key, "ip:race"); got[0].Attempts != 5 || got[1].Attempts != 5 {
		t.Fatalf("after the race: %+v", got)
	}
}

// testUserOffboarding: users list by email, can be disabled (which ends
// their sessions and hides them from the session lookup), enabled, given a
// new password (ending their sessions), signed out and deleted, each with
// an audit entry; the organization's last enabled user can be neither
// disabled nor deleted, and another organization's user is not found.
func testUserOffboarding(t *testing.T, e *env) {
	org := e.newOrg(t, "offboard")
	now := time.Now().UTC().Truncate(time.Microsecond)
	mk := func(name string) *linkd.User {
		u := newUser(e, org.ID, name+"-"+linkd.NewID()[24:]+"@example.com")
		if err := e.store.CreateUser(e.ctx, u, "h-"+name, nil); err != nil {
			t.Fatal(err)
		}
		return u
	}
	session := func(u *linkd.User) []byte {
		_, hash := linkd.NewSecret("ds_")
		ds := &linkd.DashboardSession{ID: linkd.NewID(), UserID: u.ID, OrgID: u.OrgID, Env: linkd.EnvTest, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
		if err := e.store.CreateDashboardSession(e.ctx, ds, hash); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	live := func(hash []byte) bool {
		t.Helper()
		_, err := e.store.DashboardSessionByHash(e.ctx, hash)
		if err != nil && linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatal(err)
		}
		return err == nil
	}
	ev := func(action string) *linkd.AuditEntry {
		return &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "test", Action: action}
	}
	bob, ada := mk("bob"), mk("ada")
	list, err := e.store.ListUsers(e.ctx, org.ID)
	if err != nil || len(list) != 2 || list[0].ID != ada.ID || list[1].ID != bob.ID || list[0].DisabledAt != nil {
		t.Fatalf("ListUsers = %+v, %v", list, err)
	}
	if got, err := e.store.UserByID(e.ctx, org.ID, ada.ID); err != nil || got.Email != ada.Email {
		t.Fatalf("UserByID = %+v, %v", got, err)
	}
	_, err = e.store.UserByID(e.ctx, e.org.ID, ada.ID)
	wantCode(t, err, linkd.ENOTFOUND)
	wantCode(t, e.store.SetUserDisabled(e.ctx, e.org.ID, ada.ID, &now, ev("x")), linkd.ENOTFOUND)
	wantCode(t, e.store.DeleteUser(e.ctx, e.org.ID, ada.ID, ev("x")), linkd.ENOTFOUND)
	_, err = e.store.DeleteUserSessions(e.ctx, e.org.ID, ada.ID, ev("x"))
	wantCode(t, err, linkd.ENOTFOUND)
	wantCode(t, e.store.SetUserPassword(e.ctx, e.org.ID, ada.ID, "x", ev("x")), linkd.ENOTFOUND)

	// Disabling ends the sessions at once; enabling does not bring them back.
	s1, s2, sb := session(ada), session(ada), session(bob)
	if err := e.store.SetUserDisabled(e.ctx, org.ID, ada.ID, &now, ev("dashboard_user.disable")); err != nil {
		t.Fatal(err)
	}
	if live(s1) || live(s2) || !live(sb) {
		t.Fatal("disabling ada left her sessions live, or ended bob's")
	}
	got, hash, err := e.store.UserByEmail(e.ctx, ada.Email)
	if err != nil || got.DisabledAt == nil || !got.DisabledAt.Equal(now) || hash != "h-ada" {
		t.Fatalf("disabled user: %+v %q %v", got, hash, err)
	}
	// A session made for a disabled user (a sign-in racing the disable) is
	// not found either.
	s3 := session(ada)
	if live(s3) {
		t.Fatal("a disabled user's session is live")
	}
	// Bob is now the last enabled user.
	wantCode(t, e.store.SetUserDisabled(e.ctx, org.ID, bob.ID, &now, ev("x")), linkd.EFORBIDDEN)
	wantCode(t, e.store.DeleteUser(e.ctx, org.ID, bob.ID, ev("x")), linkd.EFORBIDDEN)
	if !live(sb) {
		t.Fatal("a refused disable ended bob's session")
	}
	if err := e.store.SetUserDisabled(e.ctx, org.ID, ada.ID, nil, ev("dashboard_user.enable")); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := e.store.UserByEmail(e.ctx, ada.Email); got.DisabledAt != nil {
		t.Fatal("ada is still disabled")
	}
	s4 := session(ada)
	if !live(s4) {
		t.Fatal("an enabled user's new session is not live")
	}
	if err := e.store.SetUserPassword(e.ctx, org.ID, ada.ID, "h-new", ev("dashboard_user.reset_password")); err != nil {
		t.Fatal(err)
	}
	if _, hash, _ := e.store.UserByEmail(e.ctx, ada.Email); hash != "h-new" || live(s4) {
		t.Fatalf("after a password reset: hash %q, session live %v", hash, live(s4))
	}
	session(ada)
	session(ada)
	if n, err := e.store.DeleteUserSessions(e.ctx, org.ID, ada.ID, ev("dashboard_user.sign_out")); err != nil || n != 2 {
		t.Fatalf("DeleteUserSessions = %d, %v; want 2", n, err)
	}
	// Two enabled users disabling each other at once: one stays enabled.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []*linkd.User{ada, bob} {
		wg.Go(func() { errs[i] = e.store.SetUserDisabled(e.ctx, org.ID, u.ID, &now, ev("dashboard_user.disable")) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("disabling both at once: %v and %v; want exactly one refused", errs[0], errs[1])
	}
	list, _ = e.store.ListUsers(e.ctx, org.ID)
	enabled := 0
	for _, u := range list {
		if u.DisabledAt == nil {
			enabled++
		}
	}
	if enabled != 1 {
		t.Fatalf("%d enabled users after the race, want 1", enabled)
	}
	// A disabled user can be deleted; its sessions go with it.
	disabled := ada
	if errs[0] != nil {
		disabled = bob
	}
	if err := e.store.DeleteUser(e.ctx, org.ID, disabled.ID, ev("dashboard_user.delete")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.UserByEmail(e.ctx, disabled.Email); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("deleted user: %v", err)
	}
	if n, err := e.store.CountUsers(e.ctx, org.ID); err != nil || n != 1 {
		t.Fatalf("CountUsers = %d, %v", n, err)
	}
}
