package dashboard_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestBulkDeletePickedPinsExisting: a bulk delete of accounts picked one by
// one acts on those that exist when the user confirms, the ones the
// confirmation counted. An id that is no account (never made, deleted
// before, not a valid id) is left out of the job, so its Deleted equals its
// Selected; with none of the picked ids an account, no job starts (a job
// without ids would select every account). Before, the job kept every id:
// it counted those gone as done (Deleted 4 of 2) and the invalid one as
// failed, and a selection of only gone ids queued a job.
func TestBulkDeletePickedPinsExisting(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, s linkd.Store) {
		e := newEnv(t, s)
		ctx := t.Context()
		e.user("ada@example.com", "correct horse battery")
		for _, id := range []string{"pick-1", "pick-2", "keep-1", "gone-1"} {
			e.account(e.test, id, id, nil)
		}
		if err := e.accounts.Delete(ctx, e.test, "test", "gone-1"); err != nil {
			t.Fatal(err)
		}
		c := e.client()
		wantStatus(t, e.login(c, "ada@example.com", "correct horse battery"), http.StatusSeeOther)
		tooLong := strings.Repeat("x", linkd.MaxAccountIDBytes+1)

		// Only ids that are no account: nothing to delete, no job.
		resp := e.post(c, "/accounts/bulk/delete", url.Values{"id": {"none-1", "gone-1", tooLong}, "count": {"0"}}, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "/bulk/") {
			t.Fatalf("a job started for ids that are no account: %s", loc)
		}

		// Two accounts among three other ids: a job for the two.
		resp = e.post(c, "/accounts/bulk/delete", url.Values{"id": {"none-1", "pick-1", tooLong, "gone-1", "pick-2"}, "count": {"2"}}, e.url)
		wantStatus(t, resp, http.StatusSeeOther)
		id, ok := strings.CutPrefix(resp.Header.Get("Location"), "/bulk/")
		if !ok {
			t.Fatalf("bulk delete: redirected to %q", resp.Header.Get("Location"))
		}
		var j *linkd.BulkJob
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var err error
			if j, err = s.BulkJob(ctx, e.test, id); err != nil {
				t.Fatal(err)
			}
			if j.Finished() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the job is still %s", j.State)
			}
		}
		if j.State != linkd.BulkSucceeded || j.Total != 2 || j.Done != 2 || j.Failed != 0 || !slices.Equal(j.Selection.IDs, []string{"pick-1", "pick-2"}) {
			t.Errorf("job: %s, total %d, done %d, failed %d, ids %q; want succeeded, 2 of 2 done, ids pick-1 and pick-2",
				j.State, j.Total, j.Done, j.Failed, j.Selection.IDs)
		}
		for _, id := range []string{"pick-1", "pick-2"} {
			if _, err := s.FindAccount(ctx, e.test, id); linkd.ErrorCode(err) != linkd.ENOTFOUND {
				t.Errorf("%s after the job: %v", id, err)
			}
		}
		if _, err := s.FindAccount(ctx, e.test, "keep-1"); err != nil {
			t.Errorf("keep-1, not picked: %v", err)
		}
	})
}
