package http_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/oauthtest"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/sqlite"
)

// TestNoSecretInClearAtRest makes every kind of secret the API handles,
// each through a write with an Idempotency-Key where the route takes one,
// and then reads the database as someone with a copy of it would: the SQLite
// file and its WAL byte for byte, every PostgreSQL row as text. None of the
// secrets may be there in clear (issue 9, item 11: minted session tokens
// were in the stored idempotent answers, a live hosted-link token in a
// pending OAuth state's return_to).
func TestNoSecretInClearAtRest(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "linkd.db")
		store, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		secrets := makeSecrets(t, newOAuthFixture(t, store))
		var disk []byte
		for _, p := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(p)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			disk = append(disk, b...)
		}
		for what, s := range secrets {
			if bytes.Contains(disk, []byte(s)) {
				t.Errorf("%s is in clear in the database file or WAL", what)
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		url := dbtest.PostgresURL(t)
		store, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		secrets := makeSecrets(t, newOAuthFixture(t, store))
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		rows, err := conn.Query(t.Context(), `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		for _, table := range tables {
			rows, err := conn.Query(t.Context(), `SELECT t::text FROM `+pgx.Identifier{table}.Sanitize()+` t`)
			if err != nil {
				t.Fatal(err)
			}
			texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range texts {
				all.WriteString(s + "\n")
			}
		}
		for what, s := range secrets {
			// bytea columns render as hex.
			if strings.Contains(all.String(), s) || strings.Contains(all.String(), hex.EncodeToString([]byte(s))) {
				t.Errorf("%s is in clear in a PostgreSQL row", what)
			}
		}
	})
}

// makeSecrets creates one of each kind of secret and returns them by name.
func makeSecrets(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	marker := linkd.NewID()[24:]
	secrets := map[string]string{"API key": f.keys["a"], "app client secret": oauthtest.ClientSecret}
	f.setUpOAuth()
	// your_app credentials, with a key: the stored answer must not hold them.
	secrets["your_app credentials"] = "yourapp-" + marker
	if res := f.do("PUT", la, "a", map[string]any{"linked_account_id": "cust", "your_app": map[string]any{"auth_credentials": map[string]any{"api_token": secrets["your_app credentials"]}}},
		"Idempotency-Key", "creds"); res.status != 200 {
		t.Fatalf("credentials: %d %s", res.status, res.raw)
	}
	// A session token and its refresh token, minted with a key: the
	// stored answer holds both.
	res := f.do("POST", "/api/v2/public/session-token", "a", map[string]any{"linked_account_id": "cust"}, "Idempotency-Key", "mint")
	if res.status != 200 {
		t.Fatalf("session token: %d %s", res.status, res.raw)
	}
	secrets["session token"], secrets["refresh token"] = res.json["token"].(string), res.json["refresh_token"].(string)
	// Key-based app credentials.
	secrets["app key"] = "sk_test_" + marker
	if res := f.do("PUT", la+"/integration/save-key-credentials/stripe", "a", map[string]any{"secret_key": secrets["app key"]},
		"linked_account_id", "cust", "Idempotency-Key", "keys"); res.status != 200 {
		t.Fatalf("save keys: %d %s", res.status, res.raw)
	}
	// OAuth tokens, migrated in with a key.
	secrets["migrated access token"], secrets["migrated refresh token"] = "mat-"+marker, "mrt-"+marker
	f.do("POST", la, "a", map[string]any{"linked_account_id": "migrated"})
	if res := f.do("PUT", "/api/v2/public/migrate-token", "a", map[string]any{"linked_account_id": "migrated", "slug": "testprov",
		"auth_object": map[string]any{"access_token": secrets["migrated access token"], "refresh_token": secrets["migrated refresh token"], "expires_in": 3600}},
		"Idempotency-Key", "migrate"); res.status != 200 {
		t.Fatalf("migrate token: %d %s", res.status, res.raw)
	}
	// OAuth tokens from a real flow on the hosted page.
	link := f.hostedLink()
	b := browser(t)
	follow(t, b, f.startHosted(b, link))
	tn := linkd.Tenant{OrgID: orgOf(t, f, "a"), Env: linkd.EnvTest}
	acct, conns, err := f.store.Connections(t.Context(), tn, "cust")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if c.Slug != "testprov" {
			continue
		}
		sec, err := f.accounts.OpenConnection(tn, acct, c)
		if err != nil {
			t.Fatal(err)
		}
		secrets["OAuth access token"], secrets["OAuth refresh token"] = sec.AccessToken, sec.RefreshToken
	}
	if secrets["OAuth access token"] == "" {
		t.Fatal("the OAuth flow did not connect")
	}
	// A live hosted link in a flow still pending at the provider.
	pending := f.hostedLink()
	f.startHosted(browser(t), pending)
	secrets["hosted link token"] = strings.TrimPrefix(pending, "/connect/")
	for what, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("%s is too short to search for: %q", what, s)
		}
	}
	return secrets
}
