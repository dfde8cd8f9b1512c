package storetest

import (
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// testBulkJobs pins down bulk jobs: stored with their selection, scoped by
// tenant, claimed by one owner at a time, taken over when the lease runs
// out, and progress saved only by the holder.
func testBulkJobs(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	after := now.Add(-time.Hour)
	j := &linkd.BulkJob{ID: linkd.NewID(), OrgID: e.t.OrgID, Env: e.t.Env, Actor: "user:1", Kind: linkd.BulkDelete, State: linkd.BulkQueued,
		Selection: linkd.BulkSelection{Query: "acme", CreatedAfter: &after, ConnectedApp: "slack"}, Total: 42, CreatedAt: now}
	if err := e.store.CreateBulkJob(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.BulkJob(e.ctx, e.t, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != j.ID || got.OrgID != j.OrgID || got.Env != j.Env || got.Actor != j.Actor || got.Kind != j.Kind || got.State != linkd.BulkQueued ||
		got.Total != 42 || got.Done != 0 || got.Cursor != "" || !got.CreatedAt.Equal(now) || got.FinishedAt != nil ||
		got.Selection.Query != "acme" || got.Selection.ConnectedApp != "slack" || got.Selection.CreatedAfter == nil ||
		!got.Selection.CreatedAfter.Equal(after) || got.Selection.CreatedBefore != nil || len(got.Selection.IDs) != 0 {
		t.Fatalf("BulkJob = %+v, want %+v", got, j)
	}
	_, err = e.store.BulkJob(e.ctx, linkd.Tenant{OrgID: e.t.OrgID, Env: linkd.EnvProduction}, j.ID)
	wantCode(t, err, linkd.ENOTFOUND)
	_, err = e.store.BulkJob(e.ctx, e.t, "nope")
	wantCode(t, err, linkd.ENOTFOUND)

	// Other tests' jobs may be claimable too (the database is shared per
	// package on some engines): claim until this one comes up.
	claim := func(owner string, at time.Time) *linkd.BulkJob {
		t.Helper()
		for range 100 {
			c, err := e.store.ClaimBulkJob(e.ctx, linkd.Claim{Owner: owner, Now: at, Lease: time.Minute})
			if linkd.ErrorCode(err) == linkd.ENOTFOUND {
				return nil
			} else if err != nil {
				t.Fatal(err)
			}
			if c.ID == j.ID {
				return c
			}
		}
		t.Fatal("claimed 100 other jobs")
		return nil
	}
	c := claim("a", now)
	if c == nil || c.State != linkd.BulkRunning {
		t.Fatalf("claim = %+v", c)
	}
	if again := claim("b", now.Add(time.Second)); again != nil {
		t.Fatal("a held job was claimed again")
	}
	c.Done, c.Failed, c.Cursor = 10, 1, "cursor-1"
	if err := e.store.SaveBulkJob(e.ctx, c, "a", now.Add(2*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.store.SaveBulkJob(e.ctx, c, "b", now, time.Minute), linkd.ECONFLICT)

	// A heartbeat extends the holder's lease (the save's ran to 62 s) and
	// nothing else; another owner's is refused.
	if err := e.store.HeartbeatBulkJob(e.ctx, c, "a", now.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.store.HeartbeatBulkJob(e.ctx, c, "b", now.Add(time.Hour)), linkd.ECONFLICT)
	if again := claim("b", now.Add(2*time.Minute)); again != nil {
		t.Fatal("a job was claimed within its heartbeat's lease")
	}

	// The lease runs out: b takes over where a stood.
	b := claim("b", now.Add(5*time.Minute))
	if b == nil || b.Done != 10 || b.Failed != 1 || b.Cursor != "cursor-1" {
		t.Fatalf("takeover = %+v", b)
	}
	wantCode(t, e.store.SaveBulkJob(e.ctx, c, "a", now, time.Minute), linkd.ECONFLICT)
	end := now.Add(6 * time.Minute)
	b.State, b.Done, b.FinishedAt = linkd.BulkSucceeded, 41, &end
	if err := e.store.SaveBulkJob(e.ctx, b, "b", end, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err = e.store.BulkJob(e.ctx, e.t, j.ID)
	if err != nil || got.State != linkd.BulkSucceeded || got.Done != 41 || got.FinishedAt == nil || !got.FinishedAt.Equal(end) {
		t.Fatalf("finished job = %+v, %v", got, err)
	}
	if again := claim("c", end.Add(time.Hour)); again != nil {
		t.Fatal("a finished job was claimed")
	}
}

// testBulkDeletePinned: a bulk delete pinned to the accounts made before it
// was confirmed deletes those, and leaves an account deleted since and made
// again under a picked id (AccountService.DeleteCreatedBefore), counting
// the picked one as done: it is gone.
func testBulkDeletePinned(t *testing.T, e *env) {
	e.create(t, e.t, "p1", "Picked", nil)
	e.create(t, e.t, "p2", "Picked, then made again", nil)
	pin := time.Now().Add(time.Microsecond)
	bulk := linkd.NewBulkService(e.store, e.svc)
	bulk.Owner, bulk.Lease = "o", time.Minute
	if _, err := bulk.QueueDelete(e.ctx, e.t, "k", linkd.BulkSelection{IDs: []string{"p1", "p2"}, CreatedBefore: &pin}, 2); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(e.ctx, e.t, "k", "p2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // the new p2's created_at is past the pin
	again := e.create(t, e.t, "p2", "Made again", nil)
	j, err := bulk.Claim(e.ctx, linkd.Claim{Owner: "o", Now: time.Now(), Lease: time.Minute})
	if err != nil || j == nil {
		t.Fatalf("claim: %v, %v", j, err)
	}
	if err := bulk.Run(e.ctx, j); err != nil || j.State != linkd.BulkSucceeded || j.Done != 2 || j.Failed != 0 {
		t.Fatalf("bulk delete: %v, %+v", err, j)
	}
	if _, err := e.store.FindAccount(e.ctx, e.t, "p1"); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("p1 after the job: %v", err)
	}
	if got, err := e.store.FindAccount(e.ctx, e.t, "p2"); err != nil || got.ID != again.ID {
		t.Fatalf("the p2 made after the pin: %v, %v; want it kept", got, err)
	}
}
