// Package dbtest opens real databases for tests: SQLite in a temporary
// directory always, PostgreSQL when LINKD_TEST_POSTGRES_URL names a server
// (a fresh database per call, dropped afterwards). There is no mock: every
// test that stores something runs on the engines users run.
package dbtest

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/vault"
)

// SQLite opens a new, migrated SQLite store in t's temporary directory.
func SQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "linkd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Postgres opens a new, migrated store on a fresh PostgreSQL database; it
// skips the test when LINKD_TEST_POSTGRES_URL is not set.
func Postgres(t testing.TB) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Engine is a way to open a store, by engine name.
type Engine struct {
	Name string
	Open func(t testing.TB) linkd.Store
}

// Engines lists the engines to test on: SQLite, and PostgreSQL when
// LINKD_TEST_POSTGRES_URL is set. In CI (CI=true) a missing PostgreSQL URL
// fails the test instead of quietly testing less.
func Engines(t testing.TB) []Engine {
	t.Helper()
	e := []Engine{{"sqlite", func(t testing.TB) linkd.Store { return SQLite(t) }}}
	if os.Getenv("LINKD_TEST_POSTGRES_URL") != "" {
		e = append(e, Engine{"postgres", func(t testing.TB) linkd.Store { return Postgres(t) }})
	} else if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but LINKD_TEST_POSTGRES_URL is not set: the PostgreSQL tests would be skipped")
	}
	return e
}

// ForEach runs fn as a subtest once per engine.
func ForEach(t *testing.T, fn func(t *testing.T, s linkd.Store)) {
	for _, e := range Engines(t) {
		t.Run(e.Name, func(t *testing.T) { fn(t, e.Open(t)) })
	}
}

// Accounts makes an organization on s and returns its test tenant and an
// account service with a fresh keyring: what a test needs to write
// accounts as the product does, through the domain service.
func Accounts(t testing.TB, s linkd.Store) (*linkd.AccountService, linkd.Tenant) {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := vault.New(master)
	if err != nil {
		t.Fatal(err)
	}
	org := &linkd.Org{ID: linkd.NewID(), Name: "org-" + linkd.NewID(), CreatedAt: time.Now().UTC()}
	if err := s.CreateOrg(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	return linkd.NewAccountService(s, keys), linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
}
