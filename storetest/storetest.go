// Package storetest is the contract every linkd.Store must honour. Each engine
// runs Run against a real database; a behaviour is only relied on by the rest
// of linkd once it is pinned down here, for all engines at once.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/vault"
)

// Run runs the contract suite. open returns a new, migrated, empty store for
// the test and arranges for it to be closed.
func Run(t *testing.T, open func(t *testing.T) linkd.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Orgs", testOrgs},
		{"Settings", testSettings},
		{"APIKeys", testAPIKeys},
		{"CreateGetDelete", testCreateGetDelete},
		{"CreateDuplicate", testCreateDuplicate},
		{"UpsertMerge", testUpsertMerge},
		{"UpsertUnchangedWritesNothing", testUpsertUnchanged},
		{"Credentials", testCredentials},
		{"TenantIsolation", testTenantIsolation},
		{"ListPaging", testListPaging},
		{"ListFilters", testListFilters},
		{"Audit", testAudit},
		{"Idempotency", testIdempotency},
		{"IdempotencyScope", testIdempotencyScope},
		{"DeleteAccountDeletesStoredResponses", testDeleteStoredResponses},
		{"TenantSettings", testTenantSettings},
		{"ConcurrentCreateSameID", testConcurrentCreate},
		{"ConcurrentUpsertMerges", testConcurrentUpsert},
		{"SessionTokens", testSessionTokens},
		{"Connections", testConnections},
		{"ConnectSessions", testConnectSessions},
		{"RevokeConnectSessions", testRevokeConnectSessions},
		{"ConnectSessionsEndWithToken", testConnectSessionsEndWithToken},
		{"OAuthStates", testOAuthStates},
		{"AllowedOrigins", testAllowedOrigins},
		{"Configs", testConfigs},
		{"ListByConnectedApp", testListByConnectedApp},
		{"Users", testUsers},
		{"SetupCodes", testSetupCodes},
		{"DashboardSessions", testDashboardSessions},
		{"LoginThrottles", testLoginThrottles},
		{"UserOffboarding", testUserOffboarding},
		{"BulkJobs", testBulkJobs},
		{"BulkDeletePinned", testBulkDeletePinned},
		{"WorkerLoops", testWorkerLoops},
		{"ClaimSkipsTenants", testClaimSkipsTenants},
		{"ScheduleTicks", testScheduleTicks},
		{"LeaseRefresh", testLeaseRefresh},
		{"ClaimRefreshesSkipsGroups", testClaimRefreshesSkipsGroups},
		{"ClaimRefreshesCapsGroups", testClaimRefreshesCapsGroups},
		{"ClaimRefreshesCapsGroupsConcurrently", testClaimRefreshesCapsGroupsConcurrently},
		{"AppendAudit", testAppendAudit},
		{"AppConnection", testAppConnection},
		{"IdempotencyPurge", testIdempotencyPurge},
		{"Webhooks", testWebhooks},
		{"WebhooksAtomic", testWebhooksAtomic},
		{"WebhookOutbox", testWebhookOutbox},
		{"WorkSignals", testWorkSignals},
		{"WebhookSigningKey", testWebhookSigningKey},
		{"ClaimDeliveries", testClaimDeliveries},
		{"OldestDueDelivery", testOldestDueDelivery},
		{"DisableEndpoint", testDisableEndpoint},
		{"DeliveryLog", testDeliveryLog},
		{"Redeliver", testRedeliver},
		{"TestDelivery", testTestDelivery},
		{"ReplayDeliveries", testReplayDeliveries},
		{"PurgeDeliveries", testPurgeDeliveries},
		{"AccountDeleteEvents", testAccountDeleteEvents},
		{"AccountEvents", testAccountEvents},
		{"AccountDeliveries", testAccountDeliveries},
		{"CallLog", testCallLog},
		{"ImportOptions", testImportOptions},
		{"DataKeys", testDataKeys},
		{"KeyRotation", testKeyRotation},
		{"ReplaceSetting", testReplaceSetting},
		{"Executions", testExecutions},
		{"QueueScheduledRuns", testQueueScheduledRuns},
		{"QueueScheduledRunsMany", testQueueScheduledRunsMany},
		{"QueueScheduledRunsBatches", testQueueScheduledRunsBatches},
		{"QueueScheduledRunsResume", testQueueScheduledRunsResume},
		{"QueueScheduledRunsTakeovers", testQueueScheduledRunsTakeovers},
		{"QueueScheduledRunsDeleteMidTick", testQueueScheduledRunsDeleteMidTick},
		{"EventDefs", testEventDefs},
		{"Search", testSearch},
		{"SearchKeptByWrites", testSearchKeptByWrites},
		{"UDFFilterKeptByWrites", testUDFFilterKeptByWrites},
		{"JobBacklogs", testJobBacklogs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newEnv(t, open(t)))
		})
	}
}

// env is one test's store with an organization and the account service.
type env struct {
	store linkd.Store
	svc   *linkd.AccountService
	org   *linkd.Org
	t     linkd.Tenant
	ctx   context.Context
	// master is the master key of svc's keyring (key rotation tests).
	master []byte
}

func newEnv(t *testing.T, s linkd.Store) *env {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := vault.New(master)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: s, svc: linkd.NewAccountService(s, keys), ctx: t.Context(), master: master}
	e.org = e.newOrg(t, "acme")
	e.t = linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvTest}
	return e
}

func (e *env) newOrg(t *testing.T, name string) *linkd.Org {
	t.Helper()
	o := &linkd.Org{ID: linkd.NewID(), Name: name + "-" + linkd.NewID()[24:], CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := e.store.CreateOrg(e.ctx, o); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	return o
}

func (e *env) create(t *testing.T, tn linkd.Tenant, id, name string, udf map[string]string) *linkd.LinkedAccount {
	t.Helper()
	in := linkd.AccountInput{AccountID: id, Name: &name, UDF: map[string]json.RawMessage{}}
	for k, v := range udf {
		in.UDF[k] = json.RawMessage(v)
	}
	a, err := e.svc.Create(e.ctx, tn, "key-1", in)
	if err != nil {
		t.Fatalf("Create(%q): %v", id, err)
	}
	return a
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := linkd.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func ptr[T any](v T) *T { return &v }

func testOrgs(t *testing.T, e *env) {
	o := e.newOrg(t, "globex")
	got, err := e.store.OrgByName(e.ctx, o.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != o.ID || !got.CreatedAt.Equal(o.CreatedAt) {
		t.Fatalf("OrgByName = %+v, want %+v", got, o)
	}
	err = e.store.CreateOrg(e.ctx, &linkd.Org{ID: linkd.NewID(), Name: o.Name, CreatedAt: time.Now()})
	wantCode(t, err, linkd.EEXISTS)
	_, err = e.store.OrgByName(e.ctx, "no such org "+linkd.NewID())
	wantCode(t, err, linkd.ENOTFOUND)
	orgs, err := e.store.Orgs(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, x := range orgs {
		if x.ID == o.ID || x.ID == e.org.ID {
			seen++
		}
	}
	if seen != 2 {
		t.Fatalf("Orgs() lists %d of the 2 created orgs", seen)
	}
}

func testSettings(t *testing.T, e *env) {
	name := "test-setting-" + linkd.NewID()
	got, err := e.store.EnsureSetting(e.ctx, name, "first")
	if err != nil || got != "first" {
		t.Fatalf("EnsureSetting = %q, %v; want first", got, err)
	}
	got, err = e.store.EnsureSetting(e.ctx, name, "second")
	if err != nil || got != "first" {
		t.Fatalf("second EnsureSetting = %q, %v; want the stored first", got, err)
	}
}

func testAPIKeys(t *testing.T, e *env) {
	secret, hash := linkd.NewAPIKeySecret(linkd.EnvProduction)
	k := &linkd.APIKey{ID: linkd.NewID(), OrgID: e.org.ID, Env: linkd.EnvProduction, Name: "ci", Prefix: linkd.APIKeyPrefix(secret),
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := e.store.CreateAPIKey(e.ctx, k, hash, linkd.APIKeyAudit(k, linkd.AuditAPIKeyCreate, "user:1", k.CreatedAt)); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.APIKeyByHash(e.ctx, linkd.HashAPIKey(secret))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.Env != linkd.EnvProduction || got.Tenant().OrgID != e.org.ID || got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Fatalf("APIKeyByHash = %+v", got)
	}
	_, err = e.store.APIKeyByHash(e.ctx, linkd.HashAPIKey(secret+"x"))
	wantCode(t, err, linkd.ENOTFOUND)

	used := time.Now().UTC().Truncate(time.Microsecond)
	if err := e.store.TouchAPIKey(e.ctx, k.ID, used); err != nil {
		t.Fatal(err)
	}
	// An older touch arriving late must not move last-used backwards.
	if err := e.store.TouchAPIKey(e.ctx, k.ID, used.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	other := e.newOrg(t, "other")
	wantCode(t, e.store.RevokeAPIKey(e.ctx, other.ID, k.ID, time.Now(), linkd.APIKeyAudit(k, linkd.AuditAPIKeyRevoke, "x", time.Now())), linkd.ENOTFOUND)
	if err := e.store.RevokeAPIKey(e.ctx, e.org.ID, k.ID, used, linkd.APIKeyAudit(k, linkd.AuditAPIKeyRevoke, "user:1", used)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RevokeAPIKey(e.ctx, e.org.ID, k.ID, used.Add(time.Hour), nil); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	// Creation and revocation are audited in the key's own tenant, in the
	// same transaction; the refused revoke in another org wrote nothing.
	entries, _, err := e.store.ListAudit(e.ctx, k.Tenant(), linkd.AuditFilter{Limit: 10})
	if err != nil || len(entries) != 2 || entries[0].Action != linkd.AuditAPIKeyRevoke || entries[1].Action != linkd.AuditAPIKeyCreate ||
		fmt.Sprint(entries[1].Details["prefix"]) != k.Prefix || entries[0].Actor != "user:1" {
		t.Fatalf("api key audit entries = %+v, %v", entries, err)
	}
	if strings.Contains(fmt.Sprint(entries), secret) {
		t.Fatal("the audit log holds the key's secret")
	}
	keys, err := e.store.ListAPIKeys(e.ctx, e.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].LastUsedAt == nil || !keys[0].LastUsedAt.Equal(used) || keys[0].RevokedAt == nil || !keys[0].RevokedAt.Equal(used) {
		t.Fatalf("ListAPIKeys = %+v", keys)
	}
	if keys, _ := e.store.ListAPIKeys(e.ctx, other.ID); len(keys) != 0 {
		t.Fatalf("another org lists %d keys", len(keys))
	}
}

func testCreateGetDelete(t *testing.T, e *env) {
	a := e.create(t, e.t, "user_12345", "Acme Inc.", map[string]string{"plan": `"enterprise"`, "seats": `42`, "trial": `false`})
	got, err := e.svc.Get(e.ctx, e.t, "user_12345")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.Name != "Acme Inc." || !got.CreatedAt.Equal(a.CreatedAt) || !got.UpdatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("Get = %+v, want %+v", got, a)
	}
	if len(got.UDF) != 3 || got.UDF[0].Key != "plan" || string(got.UDF[1].Value) != "42" || string(got.UDF[2].Value) != "false" {
		t.Fatalf("UDF = %+v", got.UDF)
	}
	if len(got.DataKey) != 0 || got.HasCredentials() {
		t.Fatal("an account without secrets has a data key or credentials")
	}
	if err := e.svc.Delete(e.ctx, e.t, "key-1", "user_12345"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Get(e.ctx, e.t, "user_12345")
	wantCode(t, err, linkd.ENOTFOUND)
	wantCode(t, e.svc.Delete(e.ctx, e.t, "key-1", "user_12345"), linkd.ENOTFOUND)
	page, err := e.svc.List(e.ctx, e.t, linkd.AccountFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 0 || len(page.Accounts) != 0 {
		t.Fatalf("after delete: total %d, %d accounts", page.Total, len(page.Accounts))
	}
	// The id is free again, and the new account is a new one.
	b := e.create(t, e.t, "user_12345", "Acme again", nil)
	if b.ID == a.ID || len(b.UDF) != 0 {
		t.Fatalf("recreated account = %+v", b)
	}
}

func testCreateDuplicate(t *testing.T, e *env) {
	e.create(t, e.t, "dup", "first", nil)
	name := "second"
	_, err := e.svc.Create(e.ctx, e.t, "key-1", linkd.AccountInput{AccountID: "dup", Name: &name})
	wantCode(t, err, linkd.EEXISTS)
	if got, _ := e.svc.Get(e.ctx, e.t, "dup"); got.Name != "first" {
		t.Fatalf("duplicate create changed the name to %q", got.Name)
	}
	page, _ := e.svc.List(e.ctx, e.t, linkd.AccountFilter{})
	if page.Total != 1 {
		t.Fatalf("total = %d after a refused duplicate", page.Total)
	}
}

func testUpsertMerge(t *testing.T, e *env) {
	a, created, err := e.svc.Upsert(e.ctx, e.t, "key-1", linkd.AccountInput{AccountID: "u1", Name: ptr("One"),
		UDF: map[string]json.RawMessage{"a": json.RawMessage(`"1"`), "b": json.RawMessage(`"2"`), "gone": json.RawMessage(`null`)}})
	if err != nil || !created {
		t.Fatalf("Upsert new = %v, created %v", err, created)
	}
	if len(a.UDF) != 2 {
		t.Fatalf("UDF = %+v; a null key must not be created", a.UDF)
	}
	b, created, err := e.svc.Upsert(e.ctx, e.t, "key-2", linkd.AccountInput{AccountID: "u1",
		UDF: map[string]json.RawMessage{"a": json.RawMessage(`null`), "b": json.RawMessage(`"two"`), "c": json.RawMessage(`3`)}})
	if err != nil || created {
		t.Fatalf("Upsert existing = %v, created %v", err, created)
	}
	got, err := e.svc.Get(e.ctx, e.t, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "One" || len(got.UDF) != 2 || got.UDF[0].Key != "b" || string(got.UDF[0].Value) != `"two"` || got.UDF[1].Key != "c" {
		t.Fatalf("after merge: %+v", got)
	}
	if got.UDF[0].ID != a.UDF[1].ID || !got.UDF[0].CreatedAt.Equal(a.UDF[1].CreatedAt) {
		t.Fatalf("an updated UDF keeps its id and creation time: was %+v, now %+v", a.UDF[1], got.UDF[0])
	}
	if !got.UpdatedAt.Equal(b.UpdatedAt) || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("timestamps: created %v/%v updated %v/%v", got.CreatedAt, a.CreatedAt, got.UpdatedAt, b.UpdatedAt)
	}
	// Limits apply to the merged result, not only to one request.
	many := map[string]json.RawMessage{}
	for i := range linkd.MaxUDFKeys - 1 {
		many[fmt.Sprintf("k%03d", i)] = json.RawMessage(`1`)
	}
	_, _, err = e.svc.Upsert(e.ctx, e.t, "key-1", linkd.AccountInput{AccountID: "u1", UDF: many})
	wantCode(t, err, linkd.EINVALID)
	if got, _ := e.svc.Get(e.ctx, e.t, "u1"); len(got.UDF) != 2 {
		t.Fatalf("a refused upsert wrote %d UDFs", len(got.UDF))
	}
}

func testUpsertUnchanged(t *testing.T, e *env) {
	a := e.create(t, e.t, "same", "Same", map[string]string{"x": `"y"`})
	b, created, err := e.svc.Upsert(e.ctx, e.t, "key-1", linkd.AccountInput{AccountID: "same", Name: ptr("Same"),
		UDF: map[string]json.RawMessage{"x": json.RawMessage(`"y"`), "absent": json.RawMessage(`null`)}})
	if err != nil || created {
		t.Fatal(err, created)
	}
	if !b.UpdatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("an upsert that changes nothing moved updatedAt from %v to %v", a.UpdatedAt, b.UpdatedAt)
	}
	entries, _, err := e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{AccountID: "same"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d audit entries; an unchanged upsert must not add one", len(entries))
	}
}

func testCredentials(t *testing.T, e *env) {
	creds := json.RawMessage(`{"api_key":"sk_live_secret","region":"eu"}`)
	_, err := e.svc.Create(e.ctx, e.t, "key-1", linkd.AccountInput{AccountID: "c1", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := e.svc.Get(e.ctx, e.t, "c1")
	if !got.HasCredentials() || len(got.DataKey) == 0 {
		t.Fatal("credentials or their data key were not stored")
	}
	if string(got.Credentials) == string(creds) || json.Valid(got.Credentials) {
		t.Fatal("credentials are stored in clear")
	}
	clear, err := e.svc.OpenCredentials(e.t, got)
	if err != nil || string(clear) != string(creds) {
		t.Fatalf("OpenCredentials = %s, %v", clear, err)
	}
	// Sealed values are bound to their account: moved to another, they fail.
	moved := *got
	moved.ID = linkd.NewID()
	if _, err := e.svc.OpenCredentials(e.t, &moved); err == nil {
		t.Fatal("credentials opened under another account id")
	}
	entries, _, _ := e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{AccountID: "c1"})
	for _, en := range entries {
		for _, f := range en.Fields {
			if f == "sk_live_secret" {
				t.Fatal("a secret reached the audit log")
			}
		}
	}
}

func testTenantIsolation(t *testing.T, e *env) {
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvTest}
	prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	e.create(t, e.t, "shared-id", "mine", map[string]string{"k": `"v"`})
	for _, tn := range []linkd.Tenant{other, prod} {
		_, err := e.svc.Get(e.ctx, tn, "shared-id")
		wantCode(t, err, linkd.ENOTFOUND)
		wantCode(t, e.svc.Delete(e.ctx, tn, "key-x", "shared-id"), linkd.ENOTFOUND)
		page, err := e.svc.List(e.ctx, tn, linkd.AccountFilter{})
		if err != nil || page.Total != 0 || len(page.Accounts) != 0 {
			t.Fatalf("tenant %v sees %d accounts (total %d): %v", tn, len(page.Accounts), page.Total, err)
		}
		page, _ = e.svc.List(e.ctx, tn, linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "k", Value: "v"}}})
		if page.Total != 0 || len(page.Accounts) != 0 {
			t.Fatalf("tenant %v finds another tenant's account by UDF", tn)
		}
		// The same id may exist independently in each tenant.
		e.create(t, tn, "shared-id", "theirs", nil)
		audit, _, _ := e.store.ListAudit(e.ctx, tn, linkd.AuditFilter{})
		if len(audit) != 1 {
			t.Fatalf("tenant %v sees %d audit entries, want its own 1", tn, len(audit))
		}
	}
	got, _ := e.svc.Get(e.ctx, e.t, "shared-id")
	if got.Name != "mine" || len(got.UDF) != 1 {
		t.Fatalf("another tenant's create changed this one: %+v", got)
	}
}

func testListPaging(t *testing.T, e *env) {
	const n = 25
	var ids []string
	for i := range n {
		a := e.create(t, e.t, fmt.Sprintf("acct-%02d", i), fmt.Sprintf("Account %d", i), map[string]string{"i": fmt.Sprint(i)})
		ids = append(ids, a.AccountID)
	}
	// Keyset paging visits every account once, in creation order.
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("cursor paging does not end")
		}
		p, err := e.svc.List(e.ctx, e.t, linkd.AccountFilter{Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != n {
			t.Fatalf("total = %d, want %d", p.Total, n)
		}
		for _, a := range p.Accounts {
			seen = append(seen, a.AccountID)
			if len(a.UDF) != 1 {
				t.Fatalf("%s listed with UDF %+v", a.AccountID, a.UDF)
			}
		}
		if !p.HasNext {
			if p.NextCursor != "" {
				t.Fatal("last page has a next cursor")
			}
			break
		}
		cursor = p.NextCursor
	}
	if fmt.Sprint(seen) != fmt.Sprint(ids) {
		t.Fatalf("cursor paging saw %v, want %v", seen, ids)
	}
	// Offset paging and descending order.
	p, err := e.svc.List(e.ctx, e.t, linkd.AccountFilter{Limit: 10, Offset: 20})
	if err != nil || len(p.Accounts) != 5 || p.Accounts[0].AccountID != "acct-20" || p.HasNext {
		t.Fatalf("offset page: %v %+v", err, p)
	}
	p, err = e.svc.List(e.ctx, e.t, linkd.AccountFilter{Limit: 3, Desc: true})
	if err != nil || len(p.Accounts) != 3 || p.Accounts[0].AccountID != "acct-24" || !p.HasNext {
		t.Fatalf("desc page: %v %+v", err, p)
	}
	p, err = e.svc.List(e.ctx, e.t, linkd.AccountFilter{Limit: 3, Desc: true, Cursor: p.NextCursor})
	if err != nil || p.Accounts[0].AccountID != "acct-21" {
		t.Fatalf("desc second page: %v %+v", err, p)
	}
	p, err = e.svc.List(e.ctx, e.t, linkd.AccountFilter{Limit: 5000, SkipTotal: true})
	if err != nil || len(p.Accounts) != n || p.Total != -1 {
		t.Fatalf("oversized limit or SkipTotal: %v, %d accounts, total %d", err, len(p.Accounts), p.Total)
	}
}

func testListFilters(t *testing.T, e *env) {
	e.create(t, e.t, "alpha-1", "Alpha Corp", map[string]string{"plan": `"pro"`, "seats": `10`})
	time.Sleep(2 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(2 * time.Millisecond)
	e.create(t, e.t, "beta-2", "Beta 100%_Ltd", map[string]string{"plan": `"free"`, "seats": `10`})
	e.create(t, e.t, "gamma-3", "Gamma", map[string]string{"plan": `"pro"`, "vip": `true`, "team": `"R\u0026D <core>"`})

	cases := []struct {
		name string
		f    linkd.AccountFilter
		want string
	}{
		{"query id", linkd.AccountFilter{Query: "ALPHA"}, "[alpha-1]"},
		{"query name", linkd.AccountFilter{Query: "gam"}, "[gamma-3]"},
		{"query literal percent", linkd.AccountFilter{Query: "100%_"}, "[beta-2]"},
		{"query wildcard is literal", linkd.AccountFilter{Query: "%"}, "[beta-2]"},
		{"udf string", linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "plan", Value: "pro"}}}, "[alpha-1 gamma-3]"},
		{"udf number", linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "seats", Value: "10"}}}, "[alpha-1 beta-2]"},
		{"udf bool", linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "vip", Value: "true"}}}, "[gamma-3]"},
		{"udf and", linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "plan", Value: "pro"}, {Key: "seats", Value: "10"}}}, "[alpha-1]"},
		{"udf escaped string", linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "team", Value: "R&D <core>"}}}, "[gamma-3]"},
		{"udf none", linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "plan", Value: "Pro"}}}, "[]"},
		{"created after", linkd.AccountFilter{CreatedAfter: &mid}, "[beta-2 gamma-3]"},
		{"created before", linkd.AccountFilter{CreatedBefore: &mid}, "[alpha-1]"},
		{"combined", linkd.AccountFilter{CreatedAfter: &mid, UDF: []linkd.UDFMatch{{Key: "plan", Value: "pro"}}}, "[gamma-3]"},
	}
	for _, c := range cases {
		p, err := e.svc.List(e.ctx, e.t, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []string
		for _, a := range p.Accounts {
			got = append(got, a.AccountID)
		}
		if s := fmt.Sprint(got); s != c.want && !(s == "[]" && c.want == "[]") {
			t.Errorf("%s: got %v, want %s", c.name, got, c.want)
		}
		if p.Total != int64(len(got)) {
			t.Errorf("%s: total %d for %d matches", c.name, p.Total, len(got))
		}
	}
}

func testAudit(t *testing.T, e *env) {
	e.create(t, e.t, "aud", "A", map[string]string{"k": `"v"`})
	e.create(t, e.t, "other", "O", nil)
	if _, _, err := e.svc.Upsert(e.ctx, e.t, "key-2", linkd.AccountInput{AccountID: "aud", Name: ptr("B")}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(e.ctx, e.t, "key-3", "aud"); err != nil {
		t.Fatal(err)
	}
	entries, next, err := e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{AccountID: "aud"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || next != "" {
		t.Fatalf("%d entries, next %q", len(entries), next)
	}
	want := []struct{ action, actor, fields string }{
		{linkd.AuditAccountDelete, "key-3", "[]"},
		{linkd.AuditAccountUpdate, "key-2", "[name]"},
		{linkd.AuditAccountCreate, "key-1", "[linked_account_id name udf.k]"},
	}
	for i, w := range want {
		en := entries[i]
		if en.Action != w.action || en.Actor != w.actor || fmt.Sprint(en.Fields) != w.fields || en.AccountID != "aud" || en.Time.IsZero() {
			t.Errorf("entry %d = %+v, want %+v", i, en, w)
		}
	}
	first, next, err := e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{Limit: 2})
	if err != nil || len(first) != 2 || next == "" {
		t.Fatalf("first page: %d entries, next %q, %v", len(first), next, err)
	}
	rest, next, err := e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{Limit: 2, Cursor: next})
	if err != nil || len(rest) != 2 || next != "" || rest[0].ID >= first[1].ID {
		t.Fatalf("second page: %d entries, next %q, %v", len(rest), next, err)
	}
}

func testIdempotency(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	k1 := linkd.IdempotencyScope{Caller: "api_key:a", Method: "POST", Path: "/p", Key: "k1"}
	resp, err := e.store.ClaimIdempotencyKey(e.ctx, e.t, k1, "h1", now)
	if err != nil || resp != nil {
		t.Fatalf("first claim = %v, %v", resp, err)
	}
	_, err = e.store.ClaimIdempotencyKey(e.ctx, e.t, k1, "h1", now)
	wantCode(t, err, linkd.ECONFLICT)
	_, err = e.store.ClaimIdempotencyKey(e.ctx, e.t, k1, "h2", now)
	wantCode(t, err, linkd.EUNPROCESSABLE)
	// The same key in another tenant is another key.
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if resp, err := e.store.ClaimIdempotencyKey(e.ctx, other, k1, "h9", now); err != nil || resp != nil {
		t.Fatalf("claim in another tenant = %v, %v", resp, err)
	}
	stored := &linkd.IdempotentResponse{Status: 200, AccountID: "acct-1", DataKey: []byte("dk"), Body: []byte(`{"ok":true}`)}
	if err := e.store.CompleteIdempotencyKey(e.ctx, e.t, k1, stored); err != nil {
		t.Fatal(err)
	}
	resp, err = e.store.ClaimIdempotencyKey(e.ctx, e.t, k1, "h1", now.Add(time.Hour))
	if err != nil || resp == nil || resp.Status != 200 || string(resp.Body) != `{"ok":true}` || string(resp.DataKey) != "dk" || resp.AccountID != "acct-1" {
		t.Fatalf("replay = %+v, %v", resp, err)
	}
	// After the TTL the key is new again.
	resp, err = e.store.ClaimIdempotencyKey(e.ctx, e.t, k1, "h2", now.Add(linkd.IdempotencyTTL+time.Minute))
	if err != nil || resp != nil {
		t.Fatalf("claim after expiry = %v, %v", resp, err)
	}
	// A claim whose holder died is taken over after the lease.
	k2 := k1
	k2.Key = "k2"
	if _, err := e.store.ClaimIdempotencyKey(e.ctx, e.t, k2, "h", now); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.store.ClaimIdempotencyKey(e.ctx, e.t, k2, "h", now.Add(linkd.IdempotencyLease+time.Second)); err != nil || resp != nil {
		t.Fatalf("claim after lease = %v, %v", resp, err)
	}
	// A released claim can be made again at once.
	if err := e.store.ReleaseIdempotencyKey(e.ctx, e.t, k2); err != nil {
		t.Fatal(err)
	}
	if resp, err := e.store.ClaimIdempotencyKey(e.ctx, e.t, k2, "h", now); err != nil || resp != nil {
		t.Fatalf("claim after release = %v, %v", resp, err)
	}
}

// testIdempotencyScope: a key is its caller's own, per method and path.
// Another caller of the tenant sending the same key (issue 9: a session
// token repeating the backend's key) must act anew, not get the stored
// answer, and must not disturb the first caller's record.
func testIdempotencyScope(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	backend := linkd.IdempotencyScope{Caller: "api_key:k", Method: "PUT", Path: "/api/v2/public/linked-account", Key: "same"}
	if resp, err := e.store.ClaimIdempotencyKey(e.ctx, e.t, backend, "h", now); err != nil || resp != nil {
		t.Fatalf("claim = %v, %v", resp, err)
	}
	if err := e.store.CompleteIdempotencyKey(e.ctx, e.t, backend, &linkd.IdempotentResponse{Status: 200, Body: []byte("A's answer")}); err != nil {
		t.Fatal(err)
	}
	others := []linkd.IdempotencyScope{
		{Caller: "account:a2", Method: "PUT", Path: backend.Path, Key: "same"},
		{Caller: "api_key:k", Method: "POST", Path: backend.Path, Key: "same"},
		{Caller: "api_key:k", Method: "PUT", Path: "/api/v2/public/config", Key: "same"},
	}
	for _, sc := range others {
		// Same hash and a different one: neither sees A's answer nor is refused.
		resp, err := e.store.ClaimIdempotencyKey(e.ctx, e.t, sc, "h", now)
		if err != nil || resp != nil {
			t.Fatalf("claim by %+v = %+v, %v; want a fresh claim", sc, resp, err)
		}
		if err := e.store.CompleteIdempotencyKey(e.ctx, e.t, sc, &linkd.IdempotentResponse{Status: 201, Body: []byte("own")}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := e.store.ClaimIdempotencyKey(e.ctx, e.t, backend, "h", now)
	if err != nil || resp == nil || string(resp.Body) != "A's answer" {
		t.Fatalf("backend replay = %+v, %v", resp, err)
	}
}

// testDeleteStoredResponses: deleting an account deletes the stored
// Idempotency-Key answers that hold its data, in the same transaction, so
// a replay cannot bring the deleted account's name and UDFs back (issue 9,
// item 9). Other accounts' answers stay.
func testDeleteStoredResponses(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	e.create(t, e.t, "gone", "Gone Inc.", nil)
	e.create(t, e.t, "kept", "Kept Inc.", nil)
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	e.create(t, other, "gone", "Gone in production", nil)
	scopes := map[string]linkd.IdempotencyScope{}
	for _, c := range []struct {
		tn   linkd.Tenant
		acct string
	}{{e.t, "gone"}, {e.t, "kept"}, {other, "gone"}} {
		sc := linkd.IdempotencyScope{Caller: "api_key:k", Method: "POST", Path: "/p", Key: c.acct + "/" + string(c.tn.Env)}
		if _, err := e.store.ClaimIdempotencyKey(e.ctx, c.tn, sc, "h", now); err != nil {
			t.Fatal(err)
		}
		if err := e.store.CompleteIdempotencyKey(e.ctx, c.tn, sc, &linkd.IdempotentResponse{Status: 200, AccountID: c.acct, Body: []byte(c.acct)}); err != nil {
			t.Fatal(err)
		}
		scopes[sc.Key] = sc
	}
	if err := e.svc.Delete(e.ctx, e.t, "key-1", "gone"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"gone/test": false, "kept/test": true, "gone/production": true} {
		tn := e.t
		if strings.HasSuffix(key, "production") {
			tn = other
		}
		resp, err := e.store.ClaimIdempotencyKey(e.ctx, tn, scopes[key], "h", now)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp != nil; got != want {
			t.Errorf("stored answer %s after deleting test/gone: present %v, want %v", key, got, want)
		}
	}
}

// testTenantSettings: settings default to off, are per environment, and a
// change is audited; a session token renames its account only when allowed.
func testTenantSettings(t *testing.T, e *env) {
	svc := linkd.NewSettingsService(e.store)
	ts, err := svc.Get(e.ctx, e.t)
	if err != nil || ts.SessionTokenMayRename || !ts.UpdatedAt.IsZero() {
		t.Fatalf("defaults = %+v, %v", ts, err)
	}
	e.create(t, e.t, "me", "Me", map[string]string{"plan": `"free"`})
	name := "Renamed"
	_, err = e.svc.UpdateOwn(e.ctx, e.t, "session:s", svc, linkd.AccountInput{AccountID: "me", Name: &name})
	wantCode(t, err, linkd.EFORBIDDEN)
	on := true
	if ts, err = svc.Update(e.ctx, e.t, "api_key:k", linkd.TenantSettingsUpdate{SessionTokenMayRename: &on}); err != nil || !ts.SessionTokenMayRename {
		t.Fatalf("Update = %+v, %v", ts, err)
	}
	if ts, err = svc.Get(e.ctx, e.t); err != nil || !ts.SessionTokenMayRename || ts.UpdatedAt.IsZero() {
		t.Fatalf("after update = %+v, %v", ts, err)
	}
	if ts, err := svc.Get(e.ctx, linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}); err != nil || ts.SessionTokenMayRename {
		t.Fatalf("production = %+v, %v", ts, err)
	}
	entries, _, err := e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{Limit: 10})
	if err != nil || len(entries) == 0 || entries[0].Action != linkd.AuditSettingsUpdate || len(entries[0].Fields) != 1 {
		t.Fatalf("audit = %+v, %v", entries, err)
	}
	_, err = e.svc.UpdateOwn(e.ctx, e.t, "session:s", svc, linkd.AccountInput{AccountID: "me", Name: &name, UDF: map[string]json.RawMessage{"plan": json.RawMessage(`"pro"`)}})
	wantCode(t, err, linkd.EFORBIDDEN)
	a, err := e.svc.UpdateOwn(e.ctx, e.t, "session:s", svc, linkd.AccountInput{AccountID: "me", Name: &name})
	if err != nil || a.Name != "Renamed" || len(a.UDF) != 1 || string(a.UDF[0].Value) != `"free"` {
		t.Fatalf("UpdateOwn = %+v, %v", a, err)
	}
}

func testConcurrentCreate(t *testing.T, e *env) {
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			name := fmt.Sprint("writer ", i)
			_, err := e.svc.Create(e.ctx, e.t, "key-1", linkd.AccountInput{AccountID: "race", Name: &name})
			errs <- err
		}()
	}
	ok := 0
	for range n {
		err := <-errs
		switch linkd.ErrorCode(err) {
		case "":
			ok++
		case linkd.EEXISTS:
		default:
			t.Fatalf("concurrent create: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent creates of one id succeeded, want 1", ok)
	}
	p, _ := e.svc.List(e.ctx, e.t, linkd.AccountFilter{})
	if p.Total != 1 || len(p.Accounts) != 1 {
		t.Fatalf("total %d, %d accounts", p.Total, len(p.Accounts))
	}
}

func testConcurrentUpsert(t *testing.T, e *env) {
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, _, err := e.svc.Upsert(e.ctx, e.t, "key-1", linkd.AccountInput{AccountID: "merge",
				UDF: map[string]json.RawMessage{fmt.Sprint("k", i): json.RawMessage(`true`)}})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.svc.Get(e.ctx, e.t, "merge")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.UDF) != n {
		t.Fatalf("%d UDF keys after %d concurrent upserts of distinct keys: an update was lost", len(got.UDF), n)
	}
	p, _ := e.svc.List(e.ctx, e.t, linkd.AccountFilter{})
	if p.Total != 1 {
		t.Fatalf("total %d after concurrent upserts of one account", p.Total)
	}
}

func testSessionTokens(t *testing.T, e *env) {
	e.create(t, e.t, "sess", "S", nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	newToken := func(tn linkd.Tenant, id string) (*linkd.SessionToken, []byte, []byte, error) {
		_, _, hash, refresh := linkd.NewSessionSecrets()
		st := &linkd.SessionToken{ID: linkd.NewID(), ExpiresAt: now.Add(time.Hour), RefreshExpiresAt: now.Add(48 * time.Hour), CreatedAt: now}
		return st, hash, refresh, e.store.CreateSessionToken(e.ctx, tn, id, st, hash, refresh)
	}
	st, hash, refresh, err := newToken(e.t, "sess")
	if err != nil || st.AccountPK == "" || st.AccountID != "sess" {
		t.Fatalf("CreateSessionToken: %v %+v", err, st)
	}
	// Only an existing account of the tenant gets a token.
	if _, _, _, err := newToken(e.t, "nobody"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("token for a missing account: %v", err)
	}
	if _, _, _, err := newToken(linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}, "sess"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("token for another environment's account: %v", err)
	}
	got, err := e.store.SessionByHash(e.ctx, hash, false)
	if err != nil || got.ID != st.ID || got.Tenant() != e.t || got.AccountID != "sess" || !got.ExpiresAt.Equal(st.ExpiresAt) || got.RevokedAt != nil {
		t.Fatalf("SessionByHash = %+v, %v", got, err)
	}
	if got, err := e.store.SessionByHash(e.ctx, refresh, true); err != nil || got.ID != st.ID {
		t.Fatalf("SessionByHash(refresh) = %+v, %v", got, err)
	}
	if _, err := e.store.SessionByHash(e.ctx, refresh, false); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("a refresh token passed as a token: %v", err)
	}
	if live, err := e.store.RevokeSessionToken(e.ctx, st.ID, now); err != nil || !live {
		t.Fatalf("revoke: %v %v", live, err)
	}
	if live, _ := e.store.RevokeSessionToken(e.ctx, st.ID, now); live {
		t.Fatal("a second revoke reports a live token")
	}
	if got, _ := e.store.SessionByHash(e.ctx, hash, false); got.RevokedAt == nil {
		t.Fatal("revocation not recorded")
	}
	// Deleting the account takes its tokens with it; a re-created account
	// with the same id is another account.
	_, hash2, _, _ := newToken(e.t, "sess")
	if err := e.svc.Delete(e.ctx, e.t, "key-1", "sess"); err != nil {
		t.Fatal(err)
	}
	e.create(t, e.t, "sess", "S again", nil)
	if _, err := e.store.SessionByHash(e.ctx, hash2, false); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("a deleted account's token still works: %v", err)
	}
}

// putConn stores a connection with sealed secrets through the service's
// keyring, as the connection code does.
func (e *env) putConn(t *testing.T, tn linkd.Tenant, accountID, slug, authType string, sec linkd.ConnectionSecrets) *linkd.Connection {
	t.Helper()
	c, err := e.store.PutConnection(e.ctx, tn, accountID, slug, authType, func(acct *linkd.LinkedAccount, cur *linkd.Connection, _ linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error) {
		now := time.Now().UTC().Truncate(time.Microsecond)
		next := &linkd.Connection{ID: linkd.NewID(), AccountPK: acct.ID, Slug: slug, AuthType: authType, Status: linkd.ConnActive, CreatedAt: now, UpdatedAt: now}
		if cur != nil {
			next.ID, next.CreatedAt = cur.ID, cur.CreatedAt
		}
		key := acct.DataKey
		var made []byte
		if key == nil {
			var err error
			if key, err = e.svc.Keys.NewDataKey(linkd.KeyOwner(tn, acct.ID)); err != nil {
				return nil, nil, nil, err
			}
			made = key
		}
		b, _ := json.Marshal(sec)
		sealed, err := e.svc.Keys.Seal(key, linkd.KeyOwner(tn, acct.ID), linkd.ConnectionField(next.ID), b)
		if err != nil {
			return nil, nil, nil, err
		}
		next.Credentials = sealed
		return next, made, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t", Action: "connection.create", AccountID: accountID}, nil
	})
	if err != nil {
		t.Fatalf("PutConnection: %v", err)
	}
	return c
}

func testConnections(t *testing.T, e *env) {
	e.create(t, e.t, "c1", "C", nil)
	slack := e.putConn(t, e.t, "c1", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "xoxb-1", RefreshToken: "xoxe-1"})
	e.putConn(t, e.t, "c1", "stripe", linkd.AuthKeyBased, linkd.ConnectionSecrets{Fields: map[string]string{"api_key": "sk_test_1"}})
	again := e.putConn(t, e.t, "c1", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "xoxb-2", RefreshToken: "xoxe-2"})
	if again.ID != slack.ID {
		t.Fatal("reconnecting an app made a second connection")
	}
	acct, conns, err := e.store.Connections(e.ctx, e.t, "c1")
	if err != nil || len(conns) != 2 || conns[0].Slug != "slack" || conns[1].Slug != "stripe" || acct.ConnectedApps != 2 || len(acct.DataKey) == 0 {
		t.Fatalf("Connections = %+v %d, %v", acct, len(conns), err)
	}
	sec, err := e.svc.OpenConnection(e.t, acct, conns[0])
	if err != nil || sec.AccessToken != "xoxb-2" {
		t.Fatalf("OpenConnection = %+v, %v", sec, err)
	}
	if bytesContain(conns[0].Credentials, "xoxb") {
		t.Fatal("tokens stored in clear")
	}
	// Other tenants see nothing and cannot connect to this account.
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if _, _, err := e.store.Connections(e.ctx, other, "c1"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another environment reads the connections: %v", err)
	}
	_, err = e.store.RemoveConnections(e.ctx, other, "c1", "slack", "", func(*linkd.LinkedAccount, []*linkd.Connection) ([]*linkd.Revocation, *linkd.AuditEntry, error) {
		t.Fatal("fn called for another tenant")
		return nil, nil, nil
	})
	if linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another environment removes a connection: %v", err)
	}
	// Removing queues the revocation the service computes; removing again
	// is a no-op.
	var queued int
	remove := func(acct *linkd.LinkedAccount, removed []*linkd.Connection) ([]*linkd.Revocation, *linkd.AuditEntry, error) {
		revs, err := e.svc.Revocations(e.t, acct, removed)
		queued += len(revs)
		return revs, &linkd.AuditEntry{ID: linkd.NewID(), Time: time.Now(), Actor: "t", Action: "connection.delete", AccountID: acct.AccountID}, err
	}
	removed, err := e.store.RemoveConnections(e.ctx, e.t, "c1", "slack", "", remove)
	if err != nil || len(removed) != 1 || queued != 1 {
		t.Fatalf("RemoveConnections = %d removed, %d queued, %v", len(removed), queued, err)
	}
	if removed, err := e.store.RemoveConnections(e.ctx, e.t, "c1", "slack", "", remove); err != nil || len(removed) != 0 {
		t.Fatalf("second remove = %d, %v", len(removed), err)
	}
	acct, conns, _ = e.store.Connections(e.ctx, e.t, "c1")
	if len(conns) != 1 || acct.ConnectedApps != 1 {
		t.Fatalf("after remove: %d connections, count %d", len(conns), acct.ConnectedApps)
	}
	// Deleting the account removes its connections; the list count agrees.
	e.putConn(t, e.t, "c1", "hubspot", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a", RefreshToken: "r"})
	if err := e.svc.Delete(e.ctx, e.t, "key-1", "c1"); err != nil {
		t.Fatal(err)
	}
	e.create(t, e.t, "c1", "again", nil)
	if acct, conns, _ := e.store.Connections(e.ctx, e.t, "c1"); len(conns) != 0 || acct.ConnectedApps != 0 {
		t.Fatalf("a re-created account inherits %d connections", len(conns))
	}
	entries, _, _ := e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{AccountID: "c1", Limit: 1})
	if len(entries) != 1 || entries[0].Action != linkd.AuditAccountCreate {
		t.Fatalf("audit: %+v", entries)
	}
	entries, _, _ = e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{AccountID: "c1", Limit: 2})
	if len(entries) < 2 || entries[1].Action != linkd.AuditAccountDelete || fmt.Sprint(entries[1].Details["revocations_queued"]) != "1" {
		t.Fatalf("delete audit: %+v", entries[1])
	}
}

func bytesContain(b []byte, s string) bool { return strings.Contains(string(b), s) }
