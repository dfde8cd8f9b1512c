package postgres_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/storetest"
)

func open(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) linkd.Store { return open(t) })
}

// TestOpenConcurrently starts two instances on one new database at once:
// both must come up, and each migration must have run once.
func TestOpenConcurrently(t *testing.T) {
	dsn := dbtest.PostgresURL(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			s, err := postgres.Open(t.Context(), dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations WHERE version = 1`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("migration 1 recorded %d times (%v)", n, err)
	}
}

// newAccount returns a PutFunc that creates a bare account, as the account
// service would, without needing a keyring.
func newAccount(accountID string, udf ...linkd.UDF) linkd.PutFunc {
	return func(cur *linkd.LinkedAccount) (*linkd.LinkedAccount, *linkd.AuditEntry, error) {
		if cur != nil {
			return nil, nil, nil
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		a := &linkd.LinkedAccount{ID: linkd.NewID(), AccountID: accountID, Name: accountID, UDF: udf,
			DataKey: []byte("key"), CreatedAt: now, UpdatedAt: now}
		return a, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "test", Action: linkd.AuditAccountCreate, AccountID: accountID}, nil
	}
}

func newTenant(t *testing.T, s *postgres.Store) linkd.Tenant {
	t.Helper()
	o := &linkd.Org{ID: linkd.NewID(), Name: "org-" + linkd.NewID(), CreatedAt: time.Now()}
	if err := s.CreateOrg(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	return linkd.Tenant{OrgID: o.ID, Env: linkd.EnvTest}
}

// TestCreateRaceRunsFnAgain makes two creates of one id both decide before
// either writes: the loser's insert fails on the unique id, and its
// transaction must run again and see the winner's row instead of failing.
func TestCreateRaceRunsFnAgain(t *testing.T) {
	s := open(t)
	tn := newTenant(t, s)
	var both sync.WaitGroup
	both.Add(2)
	var calls atomic.Int32
	type result struct {
		created bool
		err     error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			first := true
			create := newAccount("race")
			_, created, err := s.PutAccount(t.Context(), tn, "race", func(cur *linkd.LinkedAccount) (*linkd.LinkedAccount, *linkd.AuditEntry, error) {
				calls.Add(1)
				if first {
					first = false
					both.Done()
					both.Wait()
				}
				return create(cur)
			})
			results <- result{created, err}
		}()
	}
	createdN := 0
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.created {
			createdN++
		}
	}
	if createdN != 1 || calls.Load() != 3 {
		t.Fatalf("%d creates reported, fn ran %d times; want 1 and 3", createdN, calls.Load())
	}
	p, err := s.ListAccounts(t.Context(), tn, linkd.AccountFilter{})
	if err != nil || p.Total != 1 {
		t.Fatalf("total %d, %v", p.Total, err)
	}
}

// TestLargeUDFValue stores a value larger than a B-tree index entry may be
// and finds the account by it.
func TestLargeUDFValue(t *testing.T) {
	s := open(t)
	tn := newTenant(t, s)
	b := make([]byte, (linkd.MaxUDFValueBytes-2)/2)
	rand.Read(b)
	text := hex.EncodeToString(b)
	now := time.Now().UTC().Truncate(time.Microsecond)
	udf := linkd.UDF{ID: linkd.NewID(), Key: "big", Value: json.RawMessage(`"` + text + `"`), CreatedAt: now, UpdatedAt: now}
	if _, _, err := s.PutAccount(t.Context(), tn, "big", newAccount("big", udf)); err != nil {
		t.Fatal(err)
	}
	p, err := s.ListAccounts(t.Context(), tn, linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "big", Value: text}}})
	if err != nil || len(p.Accounts) != 1 || p.Total != 1 {
		t.Fatalf("match on a %d-byte value: %v %+v", len(udf.Value), err, p)
	}
	p, err = s.ListAccounts(t.Context(), tn, linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "big", Value: text[:256] + "x"}}})
	if err != nil || len(p.Accounts) != 0 {
		t.Fatalf("a value sharing the indexed prefix matched: %v %+v", err, p)
	}
}

// TestForeignIDs passes strings that are not UUIDs where ids go: they must
// read as absent or invalid, as on SQLite, not fail as database errors.
func TestForeignIDs(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	tn := newTenant(t, s)
	_, err := s.ListAccounts(ctx, tn, linkd.AccountFilter{Cursor: "not-a-cursor"})
	if e := (*linkd.Error)(nil); !errors.As(err, &e) || e.Code != linkd.EINVALID || e.Field != "cursor" {
		t.Errorf("ListAccounts with a bad cursor: %v", err)
	}
	_, _, err = s.ListAudit(ctx, tn, linkd.AuditFilter{Cursor: "not-a-cursor"})
	if linkd.ErrorCode(err) != linkd.EINVALID {
		t.Errorf("ListAudit with a bad cursor: %v", err)
	}
	bad := linkd.Tenant{OrgID: "acme", Env: linkd.EnvTest}
	if _, err := s.FindAccount(ctx, bad, "x"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Errorf("FindAccount: %v", err)
	}
	if err := s.DeleteAccount(ctx, bad, "x", nil); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Errorf("DeleteAccount: %v", err)
	}
	if p, err := s.ListAccounts(ctx, bad, linkd.AccountFilter{}); err != nil || p.Total != 0 || len(p.Accounts) != 0 {
		t.Errorf("ListAccounts: %+v, %v", p, err)
	}
	if err := s.RevokeAPIKey(ctx, tn.OrgID, "k1", time.Now()); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Errorf("RevokeAPIKey: %v", err)
	}
	if err := s.TouchAPIKey(ctx, "k1", time.Now()); err != nil {
		t.Errorf("TouchAPIKey: %v", err)
	}
}

// TestTimesAreUTC checks that times come back in UTC whatever the session's
// time zone, as they do from SQLite.
func TestTimesAreUTC(t *testing.T) {
	u, err := url.Parse(dbtest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("timezone", "America/New_York")
	u.RawQuery = q.Encode()
	s, err := postgres.Open(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tn := newTenant(t, s)
	if _, _, err := s.PutAccount(t.Context(), tn, "tz", newAccount("tz")); err != nil {
		t.Fatal(err)
	}
	a, err := s.FindAccount(t.Context(), tn, "tz")
	if err != nil {
		t.Fatal(err)
	}
	if a.CreatedAt.Location() != time.UTC || a.UpdatedAt.Location() != time.UTC {
		t.Fatalf("times in %v, %v", a.CreatedAt.Location(), a.UpdatedAt.Location())
	}
}
