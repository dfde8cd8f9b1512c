package postgres_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/vault"
)

// newService returns an account service on s with a fresh keyring.
func newService(t *testing.T, s *postgres.Store) *linkd.AccountService {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := vault.New(master)
	if err != nil {
		t.Fatal(err)
	}
	return linkd.NewAccountService(s, keys)
}

// connect returns a PutConnection fn that seals sec for the connection,
// making the account's data key when it has none, as the connection code
// does; calls counts its runs.
func connect(svc *linkd.AccountService, tn linkd.Tenant, sec linkd.ConnectionSecrets, calls *atomic.Int32) func(*linkd.LinkedAccount, *linkd.Connection, linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error) {
	return func(acct *linkd.LinkedAccount, cur *linkd.Connection, _ linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error) {
		calls.Add(1)
		now := time.Now().UTC().Truncate(time.Microsecond)
		next := &linkd.Connection{ID: linkd.NewID(), Status: linkd.ConnActive, CreatedAt: now, UpdatedAt: now}
		if cur != nil {
			next.ID, next.CreatedAt = cur.ID, cur.CreatedAt
		}
		key, made := acct.DataKey, []byte(nil)
		if key == nil {
			var err error
			if key, err = svc.Keys.NewDataKey(linkd.KeyOwner(tn, acct.ID)); err != nil {
				return nil, nil, nil, err
			}
			made = key
		}
		b, _ := json.Marshal(sec)
		sealed, err := svc.Keys.Seal(key, linkd.KeyOwner(tn, acct.ID), linkd.ConnectionField(next.ID), b)
		if err != nil {
			return nil, nil, nil, err
		}
		next.Credentials = sealed
		return next, made, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "test", Action: "connection.create", AccountID: acct.AccountID}, nil
	}
}

// TestConnectRaceRunsFnAgain lets another instance connect the same app
// after this put found no connection: the insert fails on the unique index
// of (account, app, auth type), and the put must run again, see that
// connection and replace it rather than fail or make a second one.
func TestConnectRaceRunsFnAgain(t *testing.T) {
	ctx := t.Context()
	dsn := dbtest.PostgresURL(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tn := newTenant(t, s)
	if _, _, err := s.PutAccount(ctx, tn, "a", newAccount("a")); err != nil {
		t.Fatal(err)
	}
	theirs := linkd.NewID()
	var seen []*linkd.Connection
	c, err := s.PutConnection(ctx, tn, "a", "slack", linkd.AuthOAuth2, func(acct *linkd.LinkedAccount, cur *linkd.Connection, _ linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error) {
		seen = append(seen, cur)
		if len(seen) == 1 {
			// A row of its own takes no lock on the account: nothing stops it.
			if _, err := other.Exec(ctx, `INSERT INTO connections (org_id, env, id, account_pk, slug, auth_type, status, created_at, updated_at)
				VALUES ($1, $2, $3, $4, 'slack', 'oauth2', 'active', now(), now())`, tn.OrgID, tn.Env, theirs, acct.ID); err != nil {
				return nil, nil, nil, err
			}
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		next := &linkd.Connection{ID: linkd.NewID(), Identifier: "mine", Status: linkd.ConnActive, CreatedAt: now, UpdatedAt: now}
		if cur != nil {
			next.ID, next.CreatedAt = cur.ID, cur.CreatedAt
		}
		return next, nil, nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != nil || seen[1] == nil || seen[1].ID != theirs || c.ID != theirs {
		t.Fatalf("fn ran %d times, saw %v; want twice, nothing then the other's connection", len(seen), seen)
	}
	acct, conns, err := s.Connections(ctx, tn, "a")
	if err != nil || len(conns) != 1 || conns[0].ID != theirs || conns[0].Identifier != "mine" || acct.ConnectedApps != 1 {
		t.Fatalf("Connections = %+v %+v, %v", acct, conns, err)
	}
}

// TestConcurrentConnections connects, disconnects and deletes one account
// from many goroutines at once: puts queue on the account, so all share the
// data key the first made; one removal of a connection runs fn, the others
// find nothing; and a delete leaves no connection behind.
func TestConcurrentConnections(t *testing.T) {
	ctx := t.Context()
	dsn := dbtest.PostgresURL(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc := newService(t, s)
	tn := newTenant(t, s)
	name := "A"
	if _, err := svc.Create(ctx, tn, "test", linkd.AccountInput{AccountID: "a", Name: &name}); err != nil {
		t.Fatal(err)
	}

	var calls atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			slug := fmt.Sprintf("app%d", i%4)
			sec := linkd.ConnectionSecrets{AccessToken: fmt.Sprintf("at-%d", i), RefreshToken: fmt.Sprintf("rt-%d", i)}
			if _, err := s.PutConnection(ctx, tn, "a", slug, linkd.AuthOAuth2, connect(svc, tn, sec, &calls)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	acct, conns, err := s.Connections(ctx, tn, "a")
	if err != nil || len(conns) != 4 || acct.ConnectedApps != 4 {
		t.Fatalf("Connections = %d, count %d, %v; want 4 of each", len(conns), acct.ConnectedApps, err)
	}
	for i, c := range conns {
		if c.Slug != fmt.Sprintf("app%d", i) {
			t.Errorf("connection %d is of %s", i, c.Slug)
		}
		if _, err := svc.OpenConnection(tn, acct, c); err != nil {
			t.Errorf("a connection sealed with another data key: %v", err)
		}
	}

	var removeCalls, removedN atomic.Int32
	remove := func(acct *linkd.LinkedAccount, removed []*linkd.Connection) ([]*linkd.Revocation, *linkd.AuditEntry, error) {
		removeCalls.Add(1)
		revs, err := svc.Revocations(tn, acct, removed)
		return revs, &linkd.AuditEntry{ID: linkd.NewID(), Time: time.Now(), Actor: "test", Action: "connection.delete", AccountID: acct.AccountID}, err
	}
	for range 8 {
		wg.Go(func() {
			removed, err := s.RemoveConnections(ctx, tn, "a", "app0", "", remove)
			if err != nil {
				t.Error(err)
			}
			removedN.Add(int32(len(removed)))
		})
	}
	wg.Wait()
	if removeCalls.Load() != 1 || removedN.Load() != 1 {
		t.Fatalf("fn ran %d times, %d connections removed; want one of each", removeCalls.Load(), removedN.Load())
	}

	// Puts racing the delete either finish first (and the delete takes
	// their connection with it) or find no account.
	for i := range 8 {
		wg.Go(func() {
			var err error
			if i == 4 {
				err = svc.Delete(ctx, tn, "test", "a")
			} else {
				_, err = s.PutConnection(ctx, tn, "a", fmt.Sprintf("late%d", i), linkd.AuthOAuth2, connect(svc, tn, linkd.ConnectionSecrets{RefreshToken: "r"}, &calls))
				if linkd.ErrorCode(err) == linkd.ENOTFOUND {
					err = nil
				}
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var orphans, revocations int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM connections WHERE account_pk = $1`, acct.ID).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d connections outlive their account (%v)", orphans, err)
	}
	// One from the removal, then one per connection the delete found
	// (three left, plus the late ones that came first).
	if err := db.QueryRow(ctx, `SELECT count(*) FROM revocations WHERE org_id = $1 AND account_id = 'a'`, tn.OrgID).Scan(&revocations); err != nil || revocations < 4 {
		t.Errorf("%d revocations queued (%v), want at least 4", revocations, err)
	}
}
