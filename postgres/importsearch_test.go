package postgres_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/worker"
)

// TestImportLeavesNoPendingSearchEntries imports a file and then asks
// PostgreSQL to clean the search index's pending list: an import grows the
// list past the server's default (importsearch.go) and must have merged it
// into the index itself at the end, so there is nothing left to clean and
// searches find every imported account through the index.
func TestImportLeavesNoPendingSearchEntries(t *testing.T) {
	url := dbtest.PostgresURL(t)
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc, tn := dbtest.Accounts(t, s)
	var b strings.Builder
	b.WriteString("linked_account_id,name\n")
	const rows = 3000
	for i := range rows {
		fmt.Fprintf(&b, "cus_%05d,Customer number %d of the pending list\n", i, i)
	}
	im := csvio.NewImporter(s, svc, 1<<24)
	if _, err := im.Upload(t.Context(), csvio.UploadRequest{Tenant: tn, Actor: "api_key:test", FileName: "a.csv", Mode: linkd.ImportCreate},
		strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
	if ran, err := csvio.NewRunner(im, worker.Options{Owner: "r"}, 1000).Drain(t.Context()); err != nil || ran != 1 {
		t.Fatalf("run: %d %v", ran, err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var fast string
	if err := conn.QueryRow(t.Context(), `SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class WHERE relname = 'linked_accounts_search'`).Scan(&fast); err != nil {
		t.Fatalf("the search index is missing (pg_trgm): %v", err)
	}
	if strings.Contains(fast, "fastupdate=off") {
		t.Fatal("the search index has no pending list: the test would prove nothing")
	}
	var pages int64
	if err := conn.QueryRow(t.Context(), `SELECT gin_clean_pending_list('linked_accounts_search')`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != 0 {
		t.Errorf("%d pages of pending search entries left after the import", pages)
	}
	page, err := s.ListAccounts(t.Context(), tn, linkd.AccountFilter{Query: linkd.FoldSearch("number 2999 of"), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Accounts) != 1 || page.Accounts[0].AccountID != "cus_02999" {
		t.Fatalf("search after the import found %d accounts", len(page.Accounts))
	}
}
