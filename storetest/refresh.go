package storetest

import (
	"cmp"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// testLeaseRefresh: a request taking one connection's refresh lease and the
// background refresher's batch claim exclude each other, across tenants
// too, and writing the connection releases the lease.
func testLeaseRefresh(t *testing.T, e *env) {
	e.create(t, e.t, "lr", "L", nil)
	conn := e.putConn(t, e.t, "lr", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a", RefreshToken: "r"})
	now := time.Now().UTC().Truncate(time.Microsecond)
	far := now.Add(24 * time.Hour)
	lease := func(owner string, at time.Time) bool {
		t.Helper()
		ok, err := e.store.LeaseRefresh(e.ctx, e.t, conn.ID, linkd.Claim{Owner: owner, Now: at, Lease: time.Minute}, far, at)
		if err != nil {
			t.Fatalf("LeaseRefresh(%s): %v", owner, err)
		}
		return ok
	}
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if ok, err := e.store.LeaseRefresh(e.ctx, other, conn.ID, linkd.Claim{Owner: "x", Now: now, Lease: time.Minute}, far, now); ok || err != nil {
		t.Fatalf("another environment leased the connection: %v, %v", ok, err)
	}
	if !lease("a", now) {
		t.Fatal("a free connection was not leased")
	}
	if lease("b", now.Add(30*time.Second)) {
		t.Fatal("a live lease was taken by another owner")
	}
	// The background claim skips it too, even though it is due.
	e.expireToken(t, "lr", "slack", now.Add(time.Minute))
	if !lease("a2", now.Add(2*time.Minute)) {
		t.Fatal("an expired lease was not taken over")
	}
	jobs, err := e.store.ClaimRefreshes(e.ctx, linkd.Claim{Owner: "bg", Now: now.Add(2 * time.Minute), Lease: time.Minute, Limit: 10},
		now.Add(time.Hour), now.Add(time.Hour))
	if err != nil || len(jobs) != 0 {
		t.Fatalf("the refresher claimed a leased connection: %v, %v", jobs, err)
	}
	// Writing the connection (a refresh's outcome) releases the lease.
	e.putConn(t, e.t, "lr", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a2", RefreshToken: "r2"})
	if !lease("c", now.Add(2*time.Minute)) {
		t.Fatal("the lease outlived the write that ends it")
	}
	// A waiter that comes for the lease after someone else's refresh
	// finds nothing to do: the token is no longer due, or was refreshed
	// since it began waiting.
	e.refreshed(t, "lr", "slack", now.Add(3*time.Minute), now.Add(time.Hour))
	at := now.Add(4 * time.Minute)
	if ok, err := e.store.LeaseRefresh(e.ctx, e.t, conn.ID, linkd.Claim{Owner: "d", Now: at, Lease: time.Minute}, at.Add(5*time.Minute), now); ok || err != nil {
		t.Fatalf("leased a token that is not due: %v, %v", ok, err)
	}
	if ok, err := e.store.LeaseRefresh(e.ctx, e.t, conn.ID, linkd.Claim{Owner: "d", Now: at, Lease: time.Minute}, far, now.Add(2*time.Minute)); ok || err != nil {
		t.Fatalf("leased a token refreshed since the waiter began: %v, %v", ok, err)
	}
	if ok, err := e.store.LeaseRefresh(e.ctx, e.t, conn.ID, linkd.Claim{Owner: "d", Now: at, Lease: time.Minute}, far, at); !ok || err != nil {
		t.Fatalf("a forced refresh after the last one was refused: %v, %v", ok, err)
	}
}

// testClaimRefreshesSkipsGroups: the refresher skips the apps whose
// token endpoint's host is at its cap (Claim.SkipGroups, by slug), so that
// a hanging provider cannot take every slot; due tokens of other apps are
// claimed, even when the skipped ones are due first.
func testClaimRefreshesSkipsGroups(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i, slug := range []string{"slack", "slack", "github"} {
		id := fmt.Sprintf("sg-%d", i)
		e.create(t, e.t, id, "S", nil)
		e.putConn(t, e.t, id, slug, linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a", RefreshToken: "r"})
		e.expireToken(t, id, slug, now.Add(time.Duration(i)*time.Minute))
	}
	claim := func(owner string, skip []string) []linkd.RefreshJob {
		t.Helper()
		jobs, err := e.store.ClaimRefreshes(e.ctx, linkd.Claim{Owner: owner, Now: now, Lease: time.Minute, Limit: 10, SkipGroups: skip},
			now.Add(time.Hour), now)
		if err != nil {
			t.Fatalf("ClaimRefreshes(skip %v): %v", skip, err)
		}
		return jobs
	}
	if jobs := claim("a", []string{"slack", "hubspot"}); len(jobs) != 1 || jobs[0].Slug != "github" || jobs[0].AccountID != "sg-2" {
		t.Fatalf("claim skipping slack = %+v, want github's one", jobs)
	}
	if jobs := claim("b", nil); len(jobs) != 2 || jobs[0].Slug != "slack" || jobs[1].Slug != "slack" {
		t.Fatalf("claim skipping nothing = %+v, want the two slack ones left", jobs)
	}
}

// testClaimRefreshesCapsGroups: with a group cap, a claim counts the live
// refresh leases of each group (token endpoint host) across every owner,
// so that instances that each run below the cap cannot together exceed it
// against one provider: it skips a group at its cap, takes of another only
// the room left, and leaves alone the keys no group names. Expired leases
// and leases released by a write do not count, nor a request's lease for
// a refresh on demand; OnlyGroups claims only the groups named.
func testClaimRefreshesCapsGroups(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	// Host a serves two apps; the slugs are due in this order (a slug
	// may have a dash, which JSON paths do not take bare).
	slugs := []string{"slack", "github", "slack", "github", "microsoft-teams", "microsoft-teams", "stripe", "microsoft-teams"}
	groups := map[string]string{"slack": "a", "github": "a", "microsoft-teams": "b"}
	var onDemand string
	for i, slug := range slugs {
		id := fmt.Sprintf("cg-%d", i)
		e.create(t, e.t, id, "C", nil)
		conn := e.putConn(t, e.t, id, slug, linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a", RefreshToken: "r"})
		e.expireToken(t, id, slug, now.Add(time.Duration(i)*time.Minute))
		if i == 4 {
			onDemand = conn.ID
		}
	}
	// A request refreshes one of b's on demand: not capped, and not
	// counted against the background claims' cap either.
	if ok, err := e.store.LeaseRefresh(e.ctx, e.t, onDemand, linkd.Claim{Owner: "request", Now: now, Lease: time.Minute}, now.Add(time.Hour), now); !ok || err != nil {
		t.Fatalf("LeaseRefresh: %v, %v", ok, err)
	}
	claim := func(owner string, at time.Time, limit, cap int, only ...string) map[string]int {
		t.Helper()
		jobs, err := e.store.ClaimRefreshes(e.ctx, linkd.Claim{Owner: owner, Now: at, Lease: time.Minute, Limit: limit,
			GroupCap: cap, GroupOf: groups, OnlyGroups: only}, now.Add(time.Hour), at)
		if err != nil {
			t.Fatalf("ClaimRefreshes(%s): %v", owner, err)
		}
		per := map[string]int{}
		for _, j := range jobs {
			per[cmp.Or(groups[j.Slug], j.Slug)]++
		}
		return per
	}
	want := func(what string, got, want map[string]int) {
		t.Helper()
		if !maps.Equal(got, want) {
			t.Fatalf("%s claimed per group %v, want %v", what, got, want)
		}
	}
	want("the first instance", claim("x", now, 1, 2), map[string]int{"a": 1})
	// Host a has one refresh in flight elsewhere: one more of it, two of
	// b (besides the one on demand), and stripe, which no group names.
	want("the second instance", claim("y", now, 10, 2), map[string]int{"a": 1, "b": 2, "stripe": 1})
	want("a third instance", claim("z", now, 10, 2), map[string]int{})
	// A write (the refresh's outcome) releases its lease: room for one.
	e.refreshed(t, "cg-0", "slack", now, now.Add(time.Hour))
	want("after a refresh ended", claim("z", now, 10, 2), map[string]int{"a": 1})
	// Once the leases run out they hold nothing; OnlyGroups claims b's app only.
	later := now.Add(2 * time.Minute)
	want("only b", claim("w", later, 10, 2, "microsoft-teams"), map[string]int{"b": 2})
	want("after the leases ran out", claim("v", later, 10, 2), map[string]int{"a": 2, "stripe": 1})
	// Without a cap, live leases hold nothing back (only the leased
	// connections themselves).
	want("uncapped", claim("u", later.Add(2*time.Minute), 10, 0), map[string]int{"a": 3, "b": 3, "stripe": 1})
}

// testClaimRefreshesCapsGroupsConcurrently: claims racing from many
// instances at once still lease no more than the cap of one group between
// them (each must see the others' leases, not only those committed before
// it began).
func testClaimRefreshesCapsGroupsConcurrently(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 12 {
		id := fmt.Sprintf("cc-%d", i)
		e.create(t, e.t, id, "C", nil)
		e.putConn(t, e.t, id, "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a", RefreshToken: "r"})
		e.expireToken(t, id, "slack", now.Add(time.Duration(i)*time.Second))
	}
	groups := map[string]string{"slack": "a"}
	for round := range 5 {
		at := now.Add(time.Duration(round) * 2 * time.Minute) // the last round's leases have run out
		var total atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range 8 {
			wg.Go(func() {
				<-start
				jobs, err := e.store.ClaimRefreshes(e.ctx, linkd.Claim{Owner: fmt.Sprintf("i-%d-%d", round, w), Now: at, Lease: time.Minute,
					Limit: 1 + w%2, GroupCap: 2, GroupOf: groups}, now.Add(time.Hour), at)
				if err != nil {
					t.Errorf("ClaimRefreshes: %v", err)
				}
				total.Add(int64(len(jobs)))
			})
		}
		close(start)
		wg.Wait()
		if n := total.Load(); n != 2 {
			t.Fatalf("round %d: 8 claims at once leased %d refreshes of one host; the cap is 2", round, n)
		}
	}
}

// refreshed records a refresh of the account's connection to slug at at,
// giving a token that expires at exp.
func (e *env) refreshed(t *testing.T, accountID, slug string, at, exp time.Time) {
	t.Helper()
	_, err := e.store.PutConnection(e.ctx, e.t, accountID, slug, linkd.AuthOAuth2, func(_ *linkd.LinkedAccount, cur *linkd.Connection, _ linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error) {
		next := *cur
		next.LastRefreshAt, next.TokenExpiresAt = &at, &exp
		return &next, nil, nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// expireToken sets the account's connection to slug to expire at exp.
func (e *env) expireToken(t *testing.T, accountID, slug string, exp time.Time) {
	t.Helper()
	_, err := e.store.PutConnection(e.ctx, e.t, accountID, slug, linkd.AuthOAuth2, func(_ *linkd.LinkedAccount, cur *linkd.Connection, _ linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error) {
		next := *cur
		next.TokenExpiresAt = &exp
		return &next, nil, nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testAppendAudit: an event that changes nothing is recorded for its
// tenant only.
func testAppendAudit(t *testing.T, e *env) {
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: time.Now().UTC().Truncate(time.Microsecond), Actor: "key-9",
		Action: "connection.credentials_read", AccountID: "acc", Details: map[string]any{"slug": "slack"}}
	if err := e.store.AppendAudit(e.ctx, e.t, ev); err != nil {
		t.Fatal(err)
	}
	got, _, err := e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{AccountID: "acc"})
	if err != nil || len(got) != 1 || got[0].Action != ev.Action || got[0].Actor != "key-9" || got[0].Details["slug"] != "slack" {
		t.Fatalf("ListAudit = %+v, %v", got, err)
	}
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if got, _, err := e.store.ListAudit(e.ctx, other, linkd.AuditFilter{AccountID: "acc"}); err != nil || len(got) != 0 {
		t.Fatalf("another environment sees the entry: %d, %v", len(got), err)
	}
}

// testAppConnection: one read gives the account, its connections to the
// app and the tenant's settings of the app, for its tenant only.
func testAppConnection(t *testing.T, e *env) {
	e.create(t, e.t, "ac", "A", nil)
	e.putConn(t, e.t, "ac", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a"})
	e.putConn(t, e.t, "ac", "stripe", linkd.AuthKeyBased, linkd.ConnectionSecrets{Fields: map[string]string{"k": "v"}})
	acct, conns, set, err := e.store.AppConnection(e.ctx, e.t, "ac", "slack")
	if err != nil || acct.AccountID != "ac" || len(acct.DataKey) == 0 || len(conns) != 1 || conns[0].Slug != "slack" || set != nil {
		t.Fatalf("AppConnection = %+v, %d connections, %+v, %v", acct, len(conns), set, err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := e.store.PutAppSettings(e.ctx, e.t, &linkd.AppSettings{Slug: "slack", Enabled: true, ClientID: "cid", UpdatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	_, conns, set, err = e.store.AppConnection(e.ctx, e.t, "ac", "slack")
	if err != nil || len(conns) != 1 || set == nil || !set.Enabled || set.ClientID != "cid" || !set.UpdatedAt.Equal(now) {
		t.Fatalf("with settings: %d connections, %+v, %v", len(conns), set, err)
	}
	if _, conns, _, err := e.store.AppConnection(e.ctx, e.t, "ac", "github"); err != nil || len(conns) != 0 {
		t.Fatalf("an app not connected: %d connections, %v", len(conns), err)
	}
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if _, _, _, err := e.store.AppConnection(e.ctx, other, "ac", "slack"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another environment reads the account: %v", err)
	}
	if _, _, _, err := e.store.AppConnection(e.ctx, e.t, "nobody", "slack"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("an unknown account: %v", err)
	}
}

// testIdempotencyPurge: expired records go, live ones stay, whatever the
// tenant.
func testIdempotencyPurge(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	old := now.Add(-2 * linkd.IdempotencyTTL)
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	claim := func(tn linkd.Tenant, key string, at time.Time) {
		t.Helper()
		sc := linkd.IdempotencyScope{Caller: "api_key:a", Method: "POST", Path: "/p", Key: key}
		if _, err := e.store.ClaimIdempotencyKey(e.ctx, tn, sc, "h", at); err != nil {
			t.Fatal(err)
		}
		if err := e.store.CompleteIdempotencyKey(e.ctx, tn, sc, &linkd.IdempotentResponse{Status: 200, Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	claim(e.t, "old-1", old)
	claim(other, "old-2", old)
	claim(e.t, "live", now)
	n, err := e.store.PurgeIdempotencyKeys(e.ctx, now)
	if err != nil || n != 2 {
		t.Fatalf("PurgeIdempotencyKeys = %d, %v; want 2", n, err)
	}
	// The live record still answers its retry; the purged one is new again.
	live := linkd.IdempotencyScope{Caller: "api_key:a", Method: "POST", Path: "/p", Key: "live"}
	if resp, err := e.store.ClaimIdempotencyKey(e.ctx, e.t, live, "h", now); err != nil || resp == nil {
		t.Fatalf("the live record: %+v, %v", resp, err)
	}
	gone := linkd.IdempotencyScope{Caller: "api_key:a", Method: "POST", Path: "/p", Key: "old-1"}
	if resp, err := e.store.ClaimIdempotencyKey(e.ctx, e.t, gone, "other", now); err != nil || resp != nil {
		t.Fatalf("a purged key: %+v, %v", resp, err)
	}
}
