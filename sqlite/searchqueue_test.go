package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

func openTestStore(t *testing.T) (*Store, linkd.Tenant) {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "linkd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	org := &linkd.Org{ID: linkd.NewID(), Name: "acme", CreatedAt: time.Now().UTC()}
	if err := s.CreateOrg(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	return s, linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
}

func testAccount(accountID, name string) *linkd.LinkedAccount {
	now := time.Now().UTC()
	return &linkd.LinkedAccount{ID: linkd.NewIDAt(now), AccountID: accountID, Name: name, CreatedAt: now, UpdatedAt: now}
}

// TestSearchQueueOneTransaction makes, renames and deletes accounts in one
// transaction, in an order that sends rowids down and uses one again, and
// checks that the index answers as the accounts are and that the queue is
// left empty.
func TestSearchQueueOneTransaction(t *testing.T) {
	s, tn := openTestStore(t)
	ctx := t.Context()
	kept := testAccount("acct-1", "Alphaville")
	err := s.tx(ctx, func(tx *wtx) error {
		for _, a := range []*linkd.LinkedAccount{kept, testAccount("acct-2", "Bravo Ltd")} {
			if err := insertAccount(ctx, tx, tn, a); err != nil {
				return err
			}
		}
		renamed := *kept
		renamed.Name = "Charlie & Co"
		if err := updateAccount(ctx, tx, tn, &renamed); err != nil {
			return err
		}
		// acct-2 had the largest rowid: acct-3 takes it again.
		if _, err := tx.ExecContext(ctx, `DELETE FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = 'acct-2'`, tn.OrgID, tn.Env); err != nil {
			return err
		}
		if err := insertAccount(ctx, tx, tn, testAccount("acct-3", "Delta Bravo")); err != nil {
			return err
		}
		// And an account made and deleted in the same transaction.
		if err := insertAccount(ctx, tx, tn, testAccount("acct-4", "Echo")); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = 'acct-4'`, tn.OrgID, tn.Env)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rowids := map[string]int64{}
	rows, err := s.read.QueryContext(ctx, `SELECT account_id, search_rowid FROM linked_accounts`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var r int64
		if err := rows.Scan(&id, &r); err != nil {
			t.Fatal(err)
		}
		rowids[id] = r
	}
	rows.Close()
	for q, want := range map[string]string{
		"alphaville": "[]",
		"charlie":    fmt.Sprintf("[%d]", rowids["acct-1"]),
		"bravo":      fmt.Sprintf("[%d]", rowids["acct-3"]),
		"ltd":        "[]",
		"echo":       "[]",
		"acct-":      fmt.Sprintf("[%d,%d]", rowids["acct-1"], rowids["acct-3"]),
	} {
		got, _, err := s.searchMatches(ctx, q, 100)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("search %q: index rows %s, want %s", q, got, want)
		}
	}
	checkSearchIndex(t, s)
}

// checkSearchIndex checks that the queue is empty and the index sound.
func checkSearchIndex(t *testing.T, s *Store) {
	t.Helper()
	var n int
	if err := s.read.QueryRowContext(t.Context(), `SELECT count(*) FROM search_queue`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d search index changes left in the queue after the commit", n)
	}
	if _, err := s.write.ExecContext(t.Context(), `INSERT INTO account_search (account_search, rank) VALUES ('integrity-check', 0)`); err != nil {
		t.Errorf("search index integrity check: %v", err)
	}
}

// TestSearchQueueOneSegment checks that a transaction's index changes make
// one new segment of the index, not one per account written.
func TestSearchQueueOneSegment(t *testing.T) {
	s, tn := openTestStore(t)
	ctx := t.Context()
	segments := func() int {
		var n int
		if err := s.read.QueryRowContext(ctx, `SELECT count(DISTINCT segid) FROM account_search_idx`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Each account is inserted and counted (addCount): two statements, as
	// in a create.
	err := s.tx(ctx, func(tx *wtx) error {
		for i := range 3 {
			if err := insertAccount(ctx, tx, tn, testAccount(fmt.Sprintf("acct-%d", i), "Name")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := segments(); n != 1 {
		t.Errorf("3 accounts written in one transaction: %d index segments, want 1", n)
	}
	// And through group commit: requests queued together commit together.
	release := make(chan struct{})
	held := make(chan struct{})
	go s.tx(context.Background(), func(*wtx) error { close(held); <-release; return nil })
	<-held
	errs := make(chan error, 3)
	for i := range 3 {
		a := testAccount(fmt.Sprintf("group-%d", i), "Grouped")
		go func() { errs <- s.CreateAccount(context.Background(), tn, a, nil) }()
	}
	for len(s.writes) < 3 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := segments(); n != 2 {
		t.Errorf("3 creates committed together: %d index segments in all, want 2", n)
	}
	checkSearchIndex(t, s)
}

// TestSearchIndexSettings checks the index's merge width
// (migration 0032), on which the cost of a secure delete depends.
func TestSearchIndexSettings(t *testing.T) {
	s, _ := openTestStore(t)
	for k, want := range map[string]int{"automerge": 2} {
		var v int
		if err := s.read.QueryRowContext(t.Context(), `SELECT v FROM account_search_config WHERE k = ?`, k).Scan(&v); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if v != want {
			t.Errorf("search index %s %d, want %d", k, v, want)
		}
	}
}

// TestSearchQueueOnlyRemovals empties a queue that holds removals only: a
// transaction that deletes an account and writes nothing else to the index.
func TestSearchQueueOnlyRemovals(t *testing.T) {
	s, tn := openTestStore(t)
	ctx := t.Context()
	if err := s.CreateAccount(ctx, tn, testAccount("acct-1", "Foxtrot"), nil); err != nil {
		t.Fatal(err)
	}
	err := s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM linked_accounts WHERE org_id = ? AND env = ? AND account_id = 'acct-1'`, tn.OrgID, tn.Env)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checkSearchIndex(t, s)
	if got, _, err := s.searchMatches(ctx, "foxtrot", 100); err != nil || got != "[]" {
		t.Errorf("search of a deleted account: index rows %s (%v), want []", got, err)
	}
}
