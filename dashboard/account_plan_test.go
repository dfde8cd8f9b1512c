package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
)

func planHandler(t *testing.T) *Handler {
	t.Helper()
	cat, err := catalog.LoadFile("")
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{cfg: Config{Connections: &connect.Service{Catalog: cat}}}
}

// TestRemovalPlan: the confirmation says what happens to the credentials
// as the app was connected (a revocable OAuth grant, an OAuth grant without
// revocation, an API key) and which workflows go off.
func TestRemovalPlan(t *testing.T) {
	h := planHandler(t)
	acct := &linkd.LinkedAccount{AccountID: "acme", Name: "Acme"}
	slack, _ := h.catalogApp("slack")
	if slack.OAuth == nil || slack.OAuth.RevocationURL == "" {
		t.Fatal("the test expects Slack to revoke tokens")
	}
	cfg := &linkd.AppConfig{Slug: "slack", ConfigID: "acme", Workflows: []linkd.WorkflowState{{ID: "notify-channel", Enabled: true}, {ID: "sync-users", Enabled: true}}}
	for _, tt := range []struct {
		name string
		in   *integration
		conn string
		cfgs []*linkd.AppConfig
		want string
	}{
		{"oauth", &integration{Slug: "slack", Name: "Slack", OAuth: true, Revocable: true}, linkd.AuthOAuth2, []*linkd.AppConfig{cfg},
			"Remove the Slack connection of Acme? Its stored credentials are destroyed and the token is revoked at Slack. " +
				"Workflows of Slack are switched off (2 are active now: Notify a channel, Sync workspace members) and its config is removed."},
		{"oauth without revocation", &integration{Slug: "acme-crm", Name: "Acme CRM", OAuth: true}, linkd.AuthOAuth2, nil,
			"Remove the Acme CRM connection of Acme? Its stored credentials are destroyed. Acme CRM offers no way to revoke the token: " +
				"it stays valid there until it expires or the customer revokes it. Workflows of Acme CRM are switched off."},
		{"keys", &integration{Slug: "stripe", Name: "Stripe"}, linkd.AuthKeyBased, nil,
			"Remove the Stripe connection of Acme? Its stored credentials are destroyed. linkd cannot revoke an API key: " +
				"the customer can revoke it at Stripe. Workflows of Stripe are switched off."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := h.removalPlan(acct, tt.in, []*linkd.Connection{{Slug: tt.in.Slug, AuthType: tt.conn}}, tt.cfgs)
			got := p.Question + " " + strings.Join(p.Consequences, " ")
			if got != tt.want {
				t.Fatalf("plan =\n%s\nwant\n%s", got, tt.want)
			}
			if p.Label != "Remove "+tt.in.Name+" connection" || p.Action != "/account/acme/connections/"+tt.in.Slug+"/remove" {
				t.Fatalf("label %q, action %q", p.Label, p.Action)
			}
		})
	}
}

// TestDeletionPlan states the account's parts and counts.
func TestDeletionPlan(t *testing.T) {
	h := planHandler(t)
	acct := &linkd.LinkedAccount{AccountID: "acme", Name: "Acme", UDF: []linkd.UDF{{Key: "plan"}}, Credentials: []byte("sealed")}
	apps := []*integration{{Slug: "slack", Name: "Slack", OAuth: true, Revocable: true}, {Slug: "stripe", Name: "Stripe"}}
	cfgs := []*linkd.AppConfig{{Slug: "stripe", Workflows: []linkd.WorkflowState{{ID: "sync-customers", Enabled: true}, {ID: "invoice-paid-alerts"}}}}
	p := h.deletionPlan(acct, apps, cfgs)
	want := []string{
		"The linked account acme, its name and 1 user-defined field, and the your_app credentials stored for it.",
		"2 connections (Slack, Stripe): their stored credentials are destroyed and the OAuth tokens are revoked at the providers.",
		"1 config with 1 active workflow (Sync customers), switched off for good.",
		"Its session tokens: the SDK and hosted connect pages signed in as this account stop working at once.",
	}
	if p.Question != "Delete Acme (acme)?" || strings.Join(p.Items, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan = %q\n%q", p.Question, p.Items)
	}
	p = h.deletionPlan(&linkd.LinkedAccount{AccountID: "bare"}, nil, nil)
	if p.Question != "Delete bare?" || p.Items[0] != "The linked account bare." || !strings.HasPrefix(p.Items[1], "No connections") || !strings.HasPrefix(p.Items[2], "No configs") {
		t.Fatalf("bare plan = %q %q", p.Question, p.Items)
	}
}

// TestDescribe puts audit entries into words.
func TestDescribe(t *testing.T) {
	h := planHandler(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	names := map[string]string{"user:u1": "you", "api_key:k1": "API key “Backend”"}
	for _, tt := range []struct {
		e                  linkd.AuditEntry
		kind, title, actor string
		details            string
	}{
		{linkd.AuditEntry{Action: linkd.AuditAccountCreate, Actor: "api_key:k1", Fields: []string{"linked_account_id", "name", "udf.plan"}},
			"add", "Account created", "API key “Backend”", "name|UDF plan"},
		{linkd.AuditEntry{Action: linkd.AuditAccountUpdate, Actor: "user:u1", Fields: []string{linkd.CredentialsField}},
			"change", "Account updated", "you", "your_app credentials"},
		{linkd.AuditEntry{Action: "connection.create", Actor: "oauth:acme", Details: map[string]any{"slug": "slack", "auth_type": "oauth2"}},
			"add", "Connected Slack", "the customer (OAuth)", "OAuth 2.0"},
		{linkd.AuditEntry{Action: "connection.update", Actor: "linkd:refresher", Details: map[string]any{"slug": "slack", "status": "expired"}},
			"warn", "Slack connection expired", "linkd", "the customer must reconnect"},
		{linkd.AuditEntry{Action: "connection.delete", Actor: "user:u2", Details: map[string]any{"slug": "slack", "revocations_queued": 1.0}},
			"remove", "Disconnected Slack", "a dashboard user", "token revocation queued"},
		{linkd.AuditEntry{Action: "connection.revoke", Actor: "linkd:revoker", Details: map[string]any{"slug": "slack", "outcome": "revoked"}},
			"remove", "Slack token revoked", "linkd", "revoked"},
		{linkd.AuditEntry{Action: "config.update", Actor: "session:s1", AccountID: "acme", Fields: []string{"fields.base_id", "workflows.sync-records.enabled", "workflows.sync-records.fields.table"},
			Details: map[string]any{"slug": "airtable", "config_id": "second"}},
			"change", "Airtable config updated", "the customer (SDK)", "Base ID|Sync records toggled|Sync records: Table name or ID|config second"},
		{linkd.AuditEntry{Action: "config.create", Actor: "connect:c1", AccountID: "acme", Fields: []string{"workflows.sync-customers.enabled"}, Details: map[string]any{"slug": "stripe", "config_id": "acme"}},
			"add", "Stripe config created", "the customer (hosted page)", "Sync customers switched on"},
	} {
		tt.e.Time = now.Add(-90 * time.Minute)
		a := h.describe(&tt.e, names, now)
		if a.Kind != tt.kind || a.Title != tt.title || a.Actor != tt.actor || strings.Join(a.Details, "|") != tt.details || a.Ago != "1 hour ago" {
			t.Errorf("%s: got %+v", tt.e.Action, a)
		}
	}
	for d, want := range map[time.Duration]string{10 * time.Second: "just now", 2 * time.Minute: "2 minutes ago", 30 * time.Hour: "yesterday", 72 * time.Hour: "3 days ago", 90 * 24 * time.Hour: "Dec 1, 2025"} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}
