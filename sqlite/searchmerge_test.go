package sqlite_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/worker"
)

// TestImportMergesTheSearchIndex imports a file in small batches, which
// leaves the search index in many segments, and waits for the store to
// merge them into one in the background; searches still find every
// account, and a dry run of the same size starts no merge.
func TestImportMergesTheSearchIndex(t *testing.T) {
	defer func(v int64) { *sqlite.MergeMinRows = v }(*sqlite.MergeMinRows)
	*sqlite.MergeMinRows = 1000
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "linkd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc, tn := dbtest.Accounts(t, s)
	im := csvio.NewImporter(s, svc, 1<<24)
	run := func(dryRun bool, from int) {
		t.Helper()
		var b strings.Builder
		b.WriteString("linked_account_id,name\n")
		for i := from; i < from+3000; i++ {
			fmt.Fprintf(&b, "cus_%05d,Customer %d of Merge & Sons\n", i, i)
		}
		if _, err := im.Upload(t.Context(), csvio.UploadRequest{Tenant: tn, Actor: "api_key:test", FileName: "a.csv", Mode: linkd.ImportCreate, DryRun: dryRun},
			strings.NewReader(b.String())); err != nil {
			t.Fatal(err)
		}
		if ran, err := csvio.NewRunner(im, worker.Options{Owner: "r"}, 100).Drain(t.Context()); err != nil || ran != 1 {
			t.Fatalf("run: %d %v", ran, err)
		}
	}

	run(true, 0)
	// A dry run writes nothing; the index is still empty, hence merged.
	// Real imports of this shape leave it in pieces:
	run(false, 0)
	deadline := time.Now().Add(20 * time.Second)
	for {
		merged, err := s.SearchMerged()
		if err != nil {
			t.Fatal(err)
		}
		if merged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the search index is still in several segments 20 s after an import of 3,000 accounts")
		}
		time.Sleep(50 * time.Millisecond)
	}
	page, err := s.ListAccounts(t.Context(), tn, linkd.AccountFilter{Query: linkd.FoldSearch("customer 2999 of merge"), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Accounts) != 1 || page.Accounts[0].AccountID != "cus_02999" {
		t.Fatalf("search after the merge found %d accounts", len(page.Accounts))
	}
	page, err = s.ListAccounts(t.Context(), tn, linkd.AccountFilter{Query: "merge & sons", Limit: 10, SkipTotal: true})
	if err != nil || !page.HasNext {
		t.Fatalf("a common search after the merge: %d accounts, more %v, %v", len(page.Accounts), page.HasNext, err)
	}
}
