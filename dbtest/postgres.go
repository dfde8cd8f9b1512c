package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresURL creates an empty database for t on the PostgreSQL server that
// LINKD_TEST_POSTGRES_URL points at, drops it when t ends, and returns its
// URL (the server's URL with the database name replaced). t is skipped when
// the variable is unset, so that `go test ./...` needs no server.
func PostgresURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv("LINKD_TEST_POSTGRES_URL")
	if server == "" {
		t.Skip("LINKD_TEST_POSTGRES_URL not set")
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("LINKD_TEST_POSTGRES_URL must be a postgres:// URL: %q", server)
	}
	var b [8]byte
	rand.Read(b[:])
	name := "linkd_test_" + hex.EncodeToString(b[:])
	// t.Context is done by the time cleanups run, so neither step uses it.
	exec := func(sql string) error {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
