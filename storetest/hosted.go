package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

func testConnectSessions(t *testing.T, e *env) {
	e.create(t, e.t, "hosted", "H", nil)
	e.create(t, e.t, "other", "O", nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	newSession := func(tn linkd.Tenant, id string, created time.Time, props string) (*linkd.ConnectSession, []byte, error) {
		_, hash := linkd.NewConnectSecret()
		cs := &linkd.ConnectSession{ID: linkd.NewID(), AccountID: id, ConfigID: "cfg-1", Properties: []byte(props),
			ExpiresAt: created.Add(linkd.ConnectSessionTTL), CreatedAt: created}
		return cs, hash, e.store.CreateConnectSession(e.ctx, tn, cs, hash)
	}
	props := `{"name":"Acme","base_color":"#0055ff","redirect_url":"https://app.example.com/done","nested":{"b":1,"a":[true,null]}}`
	cs, hash, err := newSession(e.t, "hosted", now.Add(-time.Hour), props)
	if err != nil || cs.AccountPK == "" || cs.Tenant() != e.t {
		t.Fatalf("CreateConnectSession: %v %+v", err, cs)
	}
	// Only an existing account of the tenant gets a session.
	if _, _, err := newSession(e.t, "nobody", now, `{}`); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("session for a missing account: %v", err)
	}
	if _, _, err := newSession(linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}, "hosted", now, `{}`); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("session for another environment's account: %v", err)
	}
	if _, _, err := newSession(linkd.Tenant{OrgID: e.newOrg(t, "else").ID, Env: linkd.EnvTest}, "hosted", now, `{}`); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("session for another organization's account: %v", err)
	}

	// Found by hash, with the properties byte for byte.
	got, err := e.store.ConnectSessionByHash(e.ctx, hash)
	if err != nil || got.ID != cs.ID || got.Tenant() != e.t || got.AccountID != "hosted" || got.AccountPK != cs.AccountPK ||
		got.ConfigID != "cfg-1" || !got.ExpiresAt.Equal(cs.ExpiresAt) || !got.CreatedAt.Equal(cs.CreatedAt) || string(got.Properties) != props {
		t.Fatalf("ConnectSessionByHash = %+v (%s), %v", got, got.Properties, err)
	}
	if _, err := e.store.ConnectSessionByHash(e.ctx, linkd.HashAPIKey("ct_unknown")); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("unknown hash: %v", err)
	}

	// The newest live session of the account; another account's does not count.
	newer, _, err := newSession(e.t, "hosted", now, `{"name":"Newer"}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := newSession(e.t, "other", now.Add(time.Minute), `{"name":"Other"}`); err != nil {
		t.Fatal(err)
	}
	latest, err := e.store.LatestConnectSession(e.ctx, e.t, "hosted", now)
	if err != nil || latest.ID != newer.ID || string(latest.Properties) != `{"name":"Newer"}` {
		t.Fatalf("LatestConnectSession = %+v, %v", latest, err)
	}
	if _, err := e.store.LatestConnectSession(e.ctx, linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}, "hosted", now); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("LatestConnectSession in another environment: %v", err)
	}
	// Expired sessions are not "latest"; an older live one is.
	if latest, err := e.store.LatestConnectSession(e.ctx, e.t, "hosted", newer.ExpiresAt.Add(-time.Minute)); err != nil || latest.ID != newer.ID {
		t.Fatalf("latest before the newer expires: %+v, %v", latest, err)
	}
	if _, err := e.store.LatestConnectSession(e.ctx, e.t, "hosted", newer.ExpiresAt); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("latest once all expired: %v", err)
	}
	// A new session sweeps the account's expired ones.
	if _, _, err := newSession(e.t, "hosted", cs.ExpiresAt, `{}`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ConnectSessionByHash(e.ctx, hash); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("an expired session survived the sweep: %v", err)
	}
	if _, err := e.store.LatestConnectSession(e.ctx, e.t, "hosted", now); err != nil {
		t.Fatalf("the sweep took a live session: %v", err)
	}

	// Deleting the account deletes its sessions; a re-created account with
	// the same id does not inherit them.
	_, hash2, err := newSession(e.t, "hosted", now, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(e.ctx, e.t, "key-1", "hosted"); err != nil {
		t.Fatal(err)
	}
	e.create(t, e.t, "hosted", "H again", nil)
	if _, err := e.store.ConnectSessionByHash(e.ctx, hash2); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("a deleted account's connect session still works: %v", err)
	}
	if _, err := e.store.LatestConnectSession(e.ctx, e.t, "hosted", now); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("a re-created account inherited connect sessions: %v", err)
	}
	if _, err := e.store.LatestConnectSession(e.ctx, e.t, "other", now); err != nil {
		t.Fatalf("deleting one account took another's session: %v", err)
	}
}

func testAllowedOrigins(t *testing.T, e *env) {
	prod := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvTest}
	if got, err := e.store.AllowedOrigins(e.ctx, e.t); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("AllowedOrigins of a fresh tenant = %#v, %v; want an empty list", got, err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "key-1", Action: "org.allowed_origins", Fields: []string{"allowed_origins"}}
	set := []string{"https://b.example.com", "http://localhost:3000", "https://a.example.com"}
	if err := e.store.PutAllowedOrigins(e.ctx, e.t, set, ev); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(set))
	if got, err := e.store.AllowedOrigins(e.ctx, e.t); err != nil || !slices.Equal(got, want) {
		t.Fatalf("AllowedOrigins = %v, %v; want %v", got, err, want)
	}
	// Per tenant: the other environment and organization see nothing.
	for _, tn := range []linkd.Tenant{prod, other} {
		if got, err := e.store.AllowedOrigins(e.ctx, tn); err != nil || len(got) != 0 {
			t.Fatalf("AllowedOrigins of %v = %v, %v", tn, got, err)
		}
	}
	// A put replaces the whole list, and writes its audit entry.
	if err := e.store.PutAllowedOrigins(e.ctx, e.t, []string{"https://c.example.com"}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.store.AllowedOrigins(e.ctx, e.t); !slices.Equal(got, []string{"https://c.example.com"}) {
		t.Fatalf("after replacing: %v", got)
	}
	entries, _, err := e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{Limit: 10})
	if err != nil || len(entries) != 1 || entries[0].Action != "org.allowed_origins" {
		t.Fatalf("audit: %+v, %v", entries, err)
	}
	if err := e.store.PutAllowedOrigins(e.ctx, e.t, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.store.AllowedOrigins(e.ctx, e.t); len(got) != 0 {
		t.Fatalf("after clearing: %v", got)
	}
	if err := e.store.PutAllowedOrigins(e.ctx, linkd.Tenant{OrgID: linkd.NewID(), Env: linkd.EnvTest}, set, nil); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("PutAllowedOrigins for a missing organization: %v", err)
	}

	// OrgByID, which the org basics route reads.
	o, err := e.store.OrgByID(e.ctx, e.org.ID)
	if err != nil || o.Name != e.org.Name || !o.CreatedAt.Equal(e.org.CreatedAt) {
		t.Fatalf("OrgByID = %+v, %v", o, err)
	}
	for _, id := range []string{linkd.NewID(), "not-a-uuid"} {
		if _, err := e.store.OrgByID(e.ctx, id); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("OrgByID(%q): %v", id, err)
		}
	}
}

// testRevokeConnectSessions ends every link of one account, and only its.
func testRevokeConnectSessions(t *testing.T, e *env) {
	e.create(t, e.t, "leaky", "L", nil)
	e.create(t, e.t, "bystander", "B", nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	link := func(accountID string) []byte {
		t.Helper()
		_, hash := linkd.NewConnectSecret()
		cs := &linkd.ConnectSession{ID: linkd.NewID(), AccountID: accountID, Properties: []byte("{}"), ExpiresAt: now.Add(time.Hour), CreatedAt: now}
		if err := e.store.CreateConnectSession(e.ctx, e.t, cs, hash); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	a, b, keep := link("leaky"), link("leaky"), link("bystander")
	other := linkd.Tenant{OrgID: e.org.ID, Env: linkd.EnvProduction}
	if _, err := e.store.RevokeConnectSessions(e.ctx, other, "leaky", nil); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another environment revoked links: %v", err)
	}
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "user:1", Action: "connect_links.revoke", AccountID: "leaky"}
	n, err := e.store.RevokeConnectSessions(e.ctx, e.t, "leaky", ev)
	if err != nil || n != 2 {
		t.Fatalf("RevokeConnectSessions = %d, %v; want 2", n, err)
	}
	for _, h := range [][]byte{a, b} {
		if _, err := e.store.ConnectSessionByHash(e.ctx, h); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("a revoked link still opens: %v", err)
		}
	}
	if _, err := e.store.ConnectSessionByHash(e.ctx, keep); err != nil {
		t.Fatalf("another account's link was revoked: %v", err)
	}
	if entries, _, _ := e.store.ListAudit(e.ctx, e.t, linkd.AuditFilter{AccountID: "leaky", Limit: 1}); len(entries) != 1 || entries[0].Action != "connect_links.revoke" {
		t.Fatalf("audit = %+v", entries)
	}
	if n, err := e.store.RevokeConnectSessions(e.ctx, e.t, "leaky", nil); err != nil || n != 0 {
		t.Fatalf("revoking again = %d, %v", n, err)
	}
}

// testConnectSessionsEndWithToken: revoking a session token deletes the
// links made with it (and only those: not the account's other links, nor a
// link of another tenant that names the same token id), in the revoking
// transaction; revoking again still reports the token as not live.
func testConnectSessionsEndWithToken(t *testing.T, e *env) {
	e.create(t, e.t, "owner", "O", nil)
	other := linkd.Tenant{OrgID: e.newOrg(t, "else").ID, Env: linkd.EnvTest}
	e.create(t, other, "owner", "O elsewhere", nil)
	now := time.Now().UTC().Truncate(time.Microsecond)
	token := func() *linkd.SessionToken {
		t.Helper()
		_, _, hash, refresh := linkd.NewSessionSecrets()
		st := &linkd.SessionToken{ID: linkd.NewID(), ExpiresAt: now.Add(time.Hour), RefreshExpiresAt: now.Add(48 * time.Hour), CreatedAt: now}
		if err := e.store.CreateSessionToken(e.ctx, e.t, "owner", st, hash, refresh); err != nil {
			t.Fatal(err)
		}
		return st
	}
	link := func(tn linkd.Tenant, sessionID string) []byte {
		t.Helper()
		_, hash := linkd.NewConnectSecret()
		cs := &linkd.ConnectSession{ID: linkd.NewID(), AccountID: "owner", SessionID: sessionID, Properties: []byte("{}"),
			ExpiresAt: now.Add(linkd.ConnectSessionTTL), CreatedAt: now}
		if err := e.store.CreateConnectSession(e.ctx, tn, cs, hash); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	leaked, kept := token(), token()
	a, b := link(e.t, leaked.ID), link(e.t, leaked.ID)
	c, dash := link(e.t, kept.ID), link(e.t, "")
	foreign := link(other, leaked.ID)
	if got, err := e.store.ConnectSessionByHash(e.ctx, a); err != nil || got.SessionID != leaked.ID {
		t.Fatalf("ConnectSessionByHash: %+v, %v; want SessionID %s", got, err, leaked.ID)
	}
	if got, err := e.store.ConnectSessionByHash(e.ctx, dash); err != nil || got.SessionID != "" {
		t.Fatalf("a dashboard link: %+v, %v; want no SessionID", got, err)
	}

	if live, err := e.store.RevokeSessionToken(e.ctx, leaked.ID, now); err != nil || !live {
		t.Fatalf("RevokeSessionToken = %v, %v", live, err)
	}
	for _, h := range [][]byte{a, b} {
		if _, err := e.store.ConnectSessionByHash(e.ctx, h); linkd.ErrorCode(err) != linkd.ENOTFOUND {
			t.Fatalf("a link of the revoked token still opens: %v", err)
		}
	}
	for name, h := range map[string][]byte{"another token's": c, "the dashboard's": dash, "another tenant's": foreign} {
		if _, err := e.store.ConnectSessionByHash(e.ctx, h); err != nil {
			t.Fatalf("revoking a token took %s link: %v", name, err)
		}
	}
	if live, err := e.store.RevokeSessionToken(e.ctx, leaked.ID, now); err != nil || live {
		t.Fatalf("revoking again = %v, %v", live, err)
	}
	if live, err := e.store.RevokeSessionToken(e.ctx, linkd.NewID(), now); err != nil || live {
		t.Fatalf("revoking an unknown token = %v, %v", live, err)
	}
}
