package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// putConfig enables the given workflows of the account's config (slug,
// configID) and returns what the store wrote.
func (e *env) putConfig(t *testing.T, tn linkd.Tenant, accountID, slug, configID string, enabled map[string]bool) (*linkd.AppConfig, bool, error) {
	t.Helper()
	return e.store.PutConfig(e.ctx, tn, accountID, slug, configID, func(acct *linkd.LinkedAccount, connected bool, cur *linkd.AppConfig) (*linkd.AppConfig, *linkd.AuditEntry, error) {
		now := time.Now()
		next := &linkd.AppConfig{ID: linkd.NewID(), AccountPK: acct.ID, Slug: slug, ConfigID: configID, CreatedAt: now}
		if cur != nil {
			c := *cur
			next = &c
		}
		next.UpdatedAt = now
		next.Fields = map[string]json.RawMessage{"default_channel": json.RawMessage(`"C1"`)}
		next.Workflows = nil
		for id, on := range enabled {
			if on && !connected {
				return nil, nil, linkd.FieldError("enabled", "not connected")
			}
			next.Workflows = append(next.Workflows, linkd.WorkflowState{ID: id, Enabled: on, CreatedAt: now, UpdatedAt: now})
		}
		return next, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t", Action: "config.update", AccountID: accountID}, nil
	})
}

func (e *env) activeWorkflows(t *testing.T, tn linkd.Tenant, accountID string) int {
	t.Helper()
	a, err := e.store.FindAccount(e.ctx, tn, accountID)
	if err != nil {
		t.Fatal(err)
	}
	return a.ActiveWorkflows
}

func testConfigs(t *testing.T, e *env) {
	e.create(t, e.t, "k1", "K", nil)
	// Enabling needs a connection; the store tells fn whether there is one.
	if _, _, err := e.putConfig(t, e.t, "k1", "slack", "k1", map[string]bool{"notify": true}); linkd.ErrorCode(err) != linkd.EINVALID {
		t.Fatalf("enabled a workflow of an app that is not connected: %v", err)
	}
	e.putConn(t, e.t, "k1", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a"})
	c, created, err := e.putConfig(t, e.t, "k1", "slack", "k1", map[string]bool{"notify": true, "sync": false})
	if err != nil || !created || c.EnabledWorkflows() != 1 {
		t.Fatalf("PutConfig = %+v, %v, %v", c, created, err)
	}
	if _, created, err := e.putConfig(t, e.t, "k1", "slack", "team-2", map[string]bool{"notify": true, "sync": true}); err != nil || !created {
		t.Fatalf("second config: %v %v", created, err)
	}
	if n := e.activeWorkflows(t, e.t, "k1"); n != 3 {
		t.Fatalf("active_workflows = %d, want 3", n)
	}
	// Read back, sorted by config id, values intact.
	_, cfgs, err := e.store.Configs(e.ctx, e.t, "k1", "slack")
	if err != nil || len(cfgs) != 2 || cfgs[0].ConfigID != "k1" || cfgs[1].ConfigID != "team-2" {
		t.Fatalf("Configs = %v, %v", cfgs, err)
	}
	if string(cfgs[0].Fields["default_channel"]) != `"C1"` || cfgs[0].Workflow("notify") == nil || !cfgs[0].Workflow("notify").Enabled {
		t.Fatalf("config read back wrong: %+v", cfgs[0])
	}
	// Updating is in place; a nil result from fn writes nothing.
	c2, created, err := e.putConfig(t, e.t, "k1", "slack", "k1", map[string]bool{"notify": false})
	if err != nil || created || c2.ID != c.ID {
		t.Fatalf("update = %+v, %v, %v", c2, created, err)
	}
	if n := e.activeWorkflows(t, e.t, "k1"); n != 2 {
		t.Fatalf("active_workflows after disabling = %d, want 2", n)
	}
	same, created, err := e.store.PutConfig(e.ctx, e.t, "k1", "slack", "k1", func(*linkd.LinkedAccount, bool, *linkd.AppConfig) (*linkd.AppConfig, *linkd.AuditEntry, error) {
		return nil, nil, nil
	})
	if err != nil || created || same == nil || same.ID != c.ID {
		t.Fatalf("no-op PutConfig = %+v, %v, %v", same, created, err)
	}
	// The list filter by connected app and the counts on list rows.
	e.create(t, e.t, "k2", "K2", nil)
	page, err := e.store.ListAccounts(e.ctx, e.t, linkd.AccountFilter{ConnectedApp: "slack"})
	if err != nil || len(page.Accounts) != 1 || page.Accounts[0].AccountID != "k1" || page.Total != 1 {
		t.Fatalf("filter by connected app = %+v, %v", page, err)
	}
	if a := page.Accounts[0]; a.ConnectedApps != 1 || a.ActiveWorkflows != 2 {
		t.Fatalf("list row counts = %d apps, %d workflows", a.ConnectedApps, a.ActiveWorkflows)
	}
	if page, _ := e.store.ListAccounts(e.ctx, e.t, linkd.AccountFilter{ConnectedApp: "stripe"}); len(page.Accounts) != 0 {
		t.Fatalf("filter by an app nobody connected = %d accounts", len(page.Accounts))
	}
	// Other tenants see and change nothing.
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if _, _, err := e.store.Configs(e.ctx, other, "k1", ""); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another environment reads configs: %v", err)
	}
	wantCode(t, e.store.DeleteConfig(e.ctx, other, "k1", "slack", "k1", nil), linkd.ENOTFOUND)
	// Deleting one config; deleting it again is ENOTFOUND.
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: time.Now(), Actor: "t", Action: "config.delete", AccountID: "k1"}
	if err := e.store.DeleteConfig(e.ctx, e.t, "k1", "slack", "team-2", ev); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.store.DeleteConfig(e.ctx, e.t, "k1", "slack", "team-2", ev), linkd.ENOTFOUND)
	if n := e.activeWorkflows(t, e.t, "k1"); n != 0 {
		t.Fatalf("active_workflows after deleting = %d, want 0", n)
	}
	// Removing the app's last connection removes its configs.
	e.putConfig(t, e.t, "k1", "slack", "k1", map[string]bool{"notify": true})
	noop := func(*linkd.LinkedAccount, []*linkd.Connection) ([]*linkd.Revocation, *linkd.AuditEntry, error) {
		return nil, nil, nil
	}
	if _, err := e.store.RemoveConnections(e.ctx, e.t, "k1", "slack", "", noop); err != nil {
		t.Fatal(err)
	}
	if _, cfgs, _ := e.store.Configs(e.ctx, e.t, "k1", ""); len(cfgs) != 0 || e.activeWorkflows(t, e.t, "k1") != 0 {
		t.Fatalf("disconnecting left %d configs, %d active", len(cfgs), e.activeWorkflows(t, e.t, "k1"))
	}
	// Deleting the account removes its configs: a re-created one starts clean.
	e.putConn(t, e.t, "k1", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a"})
	e.putConfig(t, e.t, "k1", "slack", "k1", map[string]bool{"notify": true})
	if err := e.svc.Delete(e.ctx, e.t, "t", "k1"); err != nil {
		t.Fatal(err)
	}
	e.create(t, e.t, "k1", "again", nil)
	if _, cfgs, _ := e.store.Configs(e.ctx, e.t, "k1", ""); len(cfgs) != 0 || e.activeWorkflows(t, e.t, "k1") != 0 {
		t.Fatalf("a re-created account inherits %d configs", len(cfgs))
	}
}

// testListByConnectedApp pages through the accounts connected to an app in
// both orders, by cursor and by offset: an account connected twice (two
// auth types) counts and lists once, and other tenants' connections do not
// count.
func testListByConnectedApp(t *testing.T, e *env) {
	var want []string // in creation order
	for i := range 9 {
		id := fmt.Sprintf("app-%d", i)
		e.create(t, e.t, id, "App "+id, nil)
		if i%3 == 2 {
			continue // not connected
		}
		e.putConn(t, e.t, id, "stripe", linkd.AuthKeyBased, linkd.ConnectionSecrets{Fields: map[string]string{"secret_key": "k"}})
		if i == 0 {
			e.putConn(t, e.t, id, "stripe", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a"})
		}
		want = append(want, id)
	}
	e.putConn(t, e.t, "app-2", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a"})
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	e.create(t, other, "app-x", "Other env", nil)
	e.putConn(t, other, "app-x", "stripe", linkd.AuthKeyBased, linkd.ConnectionSecrets{Fields: map[string]string{"secret_key": "k"}})

	walk := func(desc bool) []string {
		var got []string
		f := linkd.AccountFilter{ConnectedApp: "stripe", Limit: 2, Desc: desc}
		for range 10 {
			page, err := e.store.ListAccounts(e.ctx, e.t, f)
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != int64(len(want)) {
				t.Fatalf("total = %d, want %d", page.Total, len(want))
			}
			for _, a := range page.Accounts {
				got = append(got, a.AccountID)
			}
			if !page.HasNext {
				return got
			}
			f.Cursor = page.NextCursor
		}
		t.Fatal("paging did not end")
		return nil
	}
	if got := walk(false); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ascending = %v, want %v", got, want)
	}
	rev := make([]string, len(want))
	for i, id := range want {
		rev[len(want)-1-i] = id
	}
	if got := walk(true); fmt.Sprint(got) != fmt.Sprint(rev) {
		t.Fatalf("descending = %v, want %v", got, rev)
	}
	page, err := e.store.ListAccounts(e.ctx, e.t, linkd.AccountFilter{ConnectedApp: "stripe", Limit: 2, Offset: 2})
	if err != nil || len(page.Accounts) != 2 || page.Accounts[0].AccountID != want[2] || page.Accounts[1].AccountID != want[3] {
		t.Fatalf("offset page = %+v, %v", page, err)
	}
	// The total follows disconnects and deletions: removing one of the two
	// connections of app-0 keeps it counted, removing the other does not;
	// deleting a connected account uncounts it.
	noop := func(*linkd.LinkedAccount, []*linkd.Connection) ([]*linkd.Revocation, *linkd.AuditEntry, error) {
		return nil, nil, nil
	}
	total := func() int64 {
		t.Helper()
		page, err := e.store.ListAccounts(e.ctx, e.t, linkd.AccountFilter{ConnectedApp: "stripe", Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return page.Total
	}
	if _, err := e.store.RemoveConnections(e.ctx, e.t, "app-0", "stripe", linkd.AuthOAuth2, noop); err != nil || total() != int64(len(want)) {
		t.Fatalf("after removing one of two connections: total %d, %v", total(), err)
	}
	if _, err := e.store.RemoveConnections(e.ctx, e.t, "app-0", "stripe", "", noop); err != nil || total() != int64(len(want)-1) {
		t.Fatalf("after removing the last connection: total %d, %v", total(), err)
	}
	if err := e.svc.Delete(e.ctx, e.t, "t", "app-1"); err != nil || total() != int64(len(want)-2) {
		t.Fatalf("after deleting a connected account: total %d, %v", total(), err)
	}
	e.putConn(t, e.t, "app-0", "stripe", linkd.AuthKeyBased, linkd.ConnectionSecrets{Fields: map[string]string{"secret_key": "k"}})
	if total() != int64(len(want)-1) {
		t.Fatalf("after reconnecting: total %d", total())
	}
	if page, _ := e.store.ListAccounts(e.ctx, other, linkd.AccountFilter{ConnectedApp: "stripe"}); page.Total != 1 || len(page.Accounts) != 1 {
		t.Fatalf("the other environment's total = %d", page.Total)
	}
	want = slices.DeleteFunc(want, func(id string) bool { return id == "app-1" })

	// With another filter too, the general path gives the same answer.
	page, err = e.store.ListAccounts(e.ctx, e.t, linkd.AccountFilter{ConnectedApp: "stripe", Query: "app-", Limit: 100})
	if err != nil || page.Total != int64(len(want)) || len(page.Accounts) != len(want) {
		t.Fatalf("app filter with q = %+v, %v", page, err)
	}
}
