package storetest

import (
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// testJobBacklogs pins down what the job-lag metrics read: an item counts
// from the moment it is due until a worker holds it, across tenants; a
// worker's live lease hides it, an expired one shows it again from the
// lease's end; items not yet due, still uploading or finished never count.
func testJobBacklogs(t *testing.T, e *env) {
	start := time.Now().UTC().Truncate(time.Microsecond)
	want := func(at time.Time, kind string, n int, since time.Time) {
		t.Helper()
		got, err := e.store.JobBacklogs(e.ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(linkd.JobKinds) {
			t.Fatalf("JobBacklogs returned %d kinds, want %d", len(got), len(linkd.JobKinds))
		}
		for i, b := range got {
			if b.Kind != linkd.JobKinds[i] {
				t.Fatalf("kind %d = %q, want %q", i, b.Kind, linkd.JobKinds[i])
			}
			if b.Kind != kind {
				continue
			}
			if b.Waiting != n || !b.Since.Equal(since) {
				t.Errorf("at %v: %s backlog = %d since %v, want %d since %v", at.Sub(start), kind, b.Waiting, b.Since, n, since)
			}
		}
	}
	for _, k := range linkd.JobKinds {
		want(start, k, 0, time.Time{})
	}

	// Imports: an upload in progress waits for nobody; a queued job does.
	j := &linkd.ImportJob{ID: linkd.NewID(), OrgID: e.t.OrgID, Env: e.t.Env, Actor: "key-1", FileName: "a.csv", Mode: linkd.ImportCreate, CreatedAt: start}
	if err := e.store.CreateImportJob(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	want(start, linkd.JobImport, 0, time.Time{})
	if err := e.store.AppendImportChunk(e.ctx, e.t, j.ID, 0, []byte("Account ID\na\n")); err != nil {
		t.Fatal(err)
	}
	if err := e.store.QueueImportJob(e.ctx, e.t, j.ID, 13, 1, []string{"Account ID"}, linkd.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	queued, err := e.store.ImportJob(e.ctx, e.t, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	want(start, linkd.JobImport, 1, queued.UpdatedAt)
	claimAt := start.Add(time.Hour)
	if _, err := e.store.ClaimImportJob(e.ctx, linkd.Claim{Owner: "i1", Now: claimAt, Lease: time.Minute}); err != nil {
		t.Fatal(err)
	}
	want(claimAt.Add(30*time.Second), linkd.JobImport, 0, time.Time{})
	// Its holder dies: the job waits again from the end of the lease.
	want(claimAt.Add(5*time.Minute), linkd.JobImport, 1, claimAt.Add(time.Minute))

	// Bulk jobs, in another tenant: the metric is the operator's, not a
	// tenant's.
	other := linkd.Tenant{OrgID: e.newOrg(t, "other").ID, Env: linkd.EnvProduction}
	b := &linkd.BulkJob{ID: linkd.NewID(), OrgID: other.OrgID, Env: other.Env, Actor: "user:1", Kind: linkd.BulkDelete, State: linkd.BulkQueued,
		Selection: linkd.BulkSelection{IDs: []string{"x"}}, Total: 1, CreatedAt: start}
	if err := e.store.CreateBulkJob(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	want(start, linkd.JobBulk, 1, start)
	held, err := e.store.ClaimBulkJob(e.ctx, linkd.Claim{Owner: "a", Now: claimAt, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want(claimAt, linkd.JobBulk, 0, time.Time{})
	want(claimAt.Add(2*time.Minute), linkd.JobBulk, 1, claimAt.Add(time.Minute))
	held.State, held.Done = linkd.BulkSucceeded, 1
	fin := claimAt.Add(10 * time.Second)
	held.FinishedAt = &fin
	if err := e.store.SaveBulkJob(e.ctx, held, "a", fin, time.Minute); err != nil {
		t.Fatal(err)
	}
	want(claimAt.Add(time.Hour), linkd.JobBulk, 0, time.Time{})

	// Token refresh: due once the token has expired, hidden while a
	// refresh holds the connection's lease.
	e.create(t, e.t, "r1", "R1", nil)
	e.create(t, e.t, "r2", "R2", nil)
	c1 := e.putConn(t, e.t, "r1", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a", RefreshToken: "r"})
	e.putConn(t, e.t, "r2", "slack", linkd.AuthOAuth2, linkd.ConnectionSecrets{AccessToken: "a", RefreshToken: "r"})
	exp1, exp2 := start.Add(10*time.Minute), start.Add(20*time.Minute)
	e.expireToken(t, "r1", "slack", exp1)
	e.expireToken(t, "r2", "slack", exp2)
	want(start, linkd.JobRefresh, 0, time.Time{})
	want(exp1.Add(time.Second), linkd.JobRefresh, 1, exp1)
	want(exp2.Add(time.Second), linkd.JobRefresh, 2, exp1)
	leaseAt := exp2.Add(time.Second)
	if ok, err := e.store.LeaseRefresh(e.ctx, e.t, c1.ID, linkd.Claim{Owner: "x", Now: leaseAt, Lease: time.Minute}, leaseAt.Add(time.Hour), leaseAt); !ok || err != nil {
		t.Fatalf("LeaseRefresh: %v, %v", ok, err)
	}
	want(leaseAt.Add(time.Second), linkd.JobRefresh, 1, exp2)

	// Revocations: due at next_at, hidden while claimed.
	e.create(t, other, "gone", "Gone", nil)
	revAt := start.Add(3 * time.Minute)
	err = e.store.DeleteAccount(e.ctx, other, "gone", func(*linkd.LinkedAccount, []*linkd.Connection) ([]*linkd.Revocation, *linkd.AuditEntry, error) {
		r := &linkd.Revocation{ID: linkd.NewID(), OrgID: other.OrgID, Env: other.Env, AccountID: "gone", Slug: "app", Token: []byte("t"), DataKey: []byte("k"), NextAt: revAt, CreatedAt: start}
		return []*linkd.Revocation{r}, nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want(start, linkd.JobRevocation, 0, time.Time{})
	want(revAt, linkd.JobRevocation, 1, revAt)
	if got, err := e.store.ClaimRevocations(e.ctx, linkd.Claim{Owner: "r", Now: revAt, Lease: time.Minute, Limit: 10}); err != nil || len(got) != 1 {
		t.Fatalf("ClaimRevocations: %d, %v", len(got), err)
	}
	want(revAt.Add(time.Second), linkd.JobRevocation, 0, time.Time{})
	want(revAt.Add(2*time.Minute), linkd.JobRevocation, 1, revAt.Add(time.Minute))
}
