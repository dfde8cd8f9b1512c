package linkd_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/postgres"
)

// TestDatabaseUnavailable: the errors a real PostgreSQL driver returns when
// the database cannot be reached are 503s that leak nothing; others stay
// internal.
func TestDatabaseUnavailable(t *testing.T) {
	// Nothing listens on port 1: the store cannot even open.
	_, err := postgres.Open(t.Context(), "postgres://postgres@127.0.0.1:1/linkd?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("opened a store on a closed port")
	}
	if code, msg := linkd.ErrorCode(err), linkd.ErrorMessage(err); code != linkd.EUNAVAILABLE || strings.Contains(msg, "127.0.0.1") {
		t.Fatalf("refused connection: code %q, message %q (error %v)", code, msg, err)
	}
	wrapped := fmt.Errorf("list accounts: %w", err)
	if linkd.ErrorCode(wrapped) != linkd.EUNAVAILABLE {
		t.Fatalf("wrapped: %q", linkd.ErrorCode(wrapped))
	}
	// A connection the server drops without a word mid-answer (an
	// immediate shutdown: TestReliabilityPostgresRestart met it as 500s).
	if code := linkd.ErrorCode(fmt.Errorf("api key by hash: %w", io.ErrUnexpectedEOF)); code != linkd.EUNAVAILABLE {
		t.Fatalf("a dropped connection: %q", code)
	}
	for _, other := range []error{errors.New("boom"), fmt.Errorf("decode: %w", os.ErrClosed)} {
		if linkd.ErrorCode(other) != linkd.EINTERNAL {
			t.Fatalf("%v is %q, want internal", other, linkd.ErrorCode(other))
		}
	}
	// A connection the server ends (as a shutdown does: SQLSTATE 57P01).
	if os.Getenv("LINKD_TEST_POSTGRES_URL") == "" {
		t.Skip("the server-side half needs LINKD_TEST_POSTGRES_URL")
	}
	conn, err := pgx.Connect(t.Context(), dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	_, err = conn.Exec(t.Context(), `SELECT pg_terminate_backend(pg_backend_pid())`)
	if linkd.ErrorCode(err) != linkd.EUNAVAILABLE {
		t.Fatalf("a terminated connection: code %q (error %v)", linkd.ErrorCode(err), err)
	}
	// A query error of the request's own stays internal.
	conn2, err := pgx.Connect(t.Context(), dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(t.Context())
	if _, err := conn2.Exec(t.Context(), `SELECT 1/0`); linkd.ErrorCode(err) != linkd.EINTERNAL {
		t.Fatalf("division by zero: code %q", linkd.ErrorCode(err))
	}
}
