package postgres_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
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
	if err := s.RevokeAPIKey(ctx, tn.OrgID, "k1", time.Now(), nil); linkd.ErrorCode(err) != linkd.ENOTFOUND {
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

// importScenario drives a store through the life of import jobs, as the
// importer and the API would, and returns a transcript of every result and
// error. Ids and times are chosen by the caller, so two engines given the
// same ids must produce the same transcript.
func importScenario(t *testing.T, s linkd.Store, ids func(string) string) []string {
	ctx := t.Context()
	var out []string
	base := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC) // nanoseconds: stores keep microseconds
	at := func(d time.Duration) time.Time { return base.Add(d) }
	mask := func(j *linkd.ImportJob) *linkd.ImportJob {
		if j != nil && j.UpdatedAt.After(base.Add(24*time.Hour)) {
			j.UpdatedAt = time.Time{} // QueueImportJob's own clock
		}
		return j
	}
	rec := func(step string, v any, err error) {
		t.Helper()
		if j, ok := v.(*linkd.ImportJob); ok {
			v = mask(j)
		}
		if js, ok := v.([]*linkd.ImportJob); ok {
			for _, j := range js {
				mask(j)
			}
		}
		b, jerr := json.Marshal(v)
		if jerr != nil {
			t.Fatal(jerr)
		}
		line := step + ": " + string(b)
		if err != nil {
			var e *linkd.Error
			if !errors.As(err, &e) {
				t.Fatalf("%s: %v", step, err)
			}
			line += " error " + e.Code + " " + e.Field + " " + e.Message
		}
		out = append(out, line)
	}
	o := &linkd.Org{ID: ids("org"), Name: "acme", CreatedAt: base}
	if err := s.CreateOrg(ctx, o); err != nil {
		t.Fatal(err)
	}
	tn := linkd.Tenant{OrgID: o.ID, Env: linkd.EnvTest}
	other := linkd.Tenant{OrgID: o.ID, Env: linkd.EnvProduction}

	newJob := func(name, mode string, dry bool) *linkd.ImportJob {
		j := &linkd.ImportJob{ID: ids(name), OrgID: tn.OrgID, Env: tn.Env, Actor: "key-1", FileName: name + ".csv", Mode: mode, DryRun: dry, CreatedAt: at(0)}
		rec("create "+name, nil, s.CreateImportJob(ctx, j))
		return j
	}
	j1 := newJob("j1", linkd.ImportCreate, false)
	j2 := newJob("j2", linkd.ImportUpsert, true)
	newJob("j3", linkd.ImportCreate, false)

	got, err := s.ImportJob(ctx, tn, j1.ID)
	rec("job j1 uploading", got, err)
	got, err = s.ImportJob(ctx, other, j1.ID)
	rec("job j1 other env", got, err)
	got, err = s.ImportJob(ctx, tn, ids("nope"))
	rec("job unknown", got, err)
	got, err = s.ImportJob(ctx, tn, "not-a-uuid")
	rec("job foreign id", got, err)
	list, next, err := s.ListImportJobs(ctx, tn, 10, "")
	rec("list while uploading "+next, list, err)

	rec("append j1 0", nil, s.AppendImportChunk(ctx, tn, j1.ID, 0, []byte("linked_account_id,name\n")))
	rec("append j1 1", nil, s.AppendImportChunk(ctx, tn, j1.ID, 1, []byte("a1,A one\n")))
	rec("append other env", nil, s.AppendImportChunk(ctx, other, j1.ID, 2, []byte("x")))
	rec("append unknown", nil, s.AppendImportChunk(ctx, tn, ids("nope"), 0, []byte("x")))
	rec("queue j1", nil, s.QueueImportJob(ctx, tn, j1.ID, 32, 4, []string{"linked_account_id", "name"},
		linkd.ImportOptions{Delimiter: linkd.DelimSemicolon, Encoding: linkd.EncodingWindows1252, Mapping: map[string]string{"Name": "name", "x": "udf.X"}}))
	rec("queue j1 again", nil, s.QueueImportJob(ctx, tn, j1.ID, 32, 4, nil, linkd.ImportOptions{}))
	rec("append j1 queued", nil, s.AppendImportChunk(ctx, tn, j1.ID, 2, []byte("x")))
	rec("append j2 0", nil, s.AppendImportChunk(ctx, tn, j2.ID, 0, []byte("linked_account_id\n")))
	rec("queue j2", nil, s.QueueImportJob(ctx, tn, j2.ID, 10, 1, []string{}, linkd.ImportOptions{}))
	rec("delete j3", nil, s.DeleteImportJob(ctx, tn, ids("j3")))
	rec("delete j3 again", nil, s.DeleteImportJob(ctx, tn, ids("j3")))
	got, err = s.ImportJob(ctx, tn, j1.ID)
	rec("job j1 queued", got, err)

	got, err = s.ClaimImportJob(ctx, linkd.Claim{Owner: "A", Now: at(time.Second), Lease: time.Minute})
	rec("claim A", got, err)
	got, err = s.ClaimImportJob(ctx, linkd.Claim{Owner: "B", Now: at(2 * time.Second), Lease: time.Minute})
	rec("claim B", got, err)
	got, err = s.ClaimImportJob(ctx, linkd.Claim{Owner: "C", Now: at(3 * time.Second), Lease: time.Minute})
	rec("claim C", got, err)
	chunk, err := s.ImportChunk(ctx, j1.ID, 1)
	rec("chunk j1 1", string(chunk), err)
	chunk, err = s.ImportChunk(ctx, j1.ID, 7)
	rec("chunk j1 7", string(chunk), err)

	// An account that exists before the import.
	udf := func(k, v string, d time.Duration) linkd.UDF {
		return linkd.UDF{Key: k, Value: json.RawMessage(v), CreatedAt: at(d), UpdatedAt: at(d)}
	}
	_, _, err = s.PutAccount(ctx, tn, "existing", func(cur *linkd.LinkedAccount) (*linkd.LinkedAccount, *linkd.AuditEntry, error) {
		a := &linkd.LinkedAccount{ID: ids("existing"), AccountID: "existing", Name: "Old", UDF: []linkd.UDF{udf("plan", `"free"`, 0)},
			CreatedAt: at(0), UpdatedAt: at(0)}
		return a, &linkd.AuditEntry{ID: ids("audit-existing"), Time: at(0), Actor: "key-1", Action: linkd.AuditAccountCreate, AccountID: "existing"}, nil
	})
	rec("put existing", nil, err)

	j1run := *j1
	batch := func(cur map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		var seen []string
		for k := range cur {
			seen = append(seen, k)
		}
		slices.Sort(seen)
		rec("fn saw", seen, nil)
		up := *cur["existing"]
		up.Name, up.ImportJob, up.UpdatedAt = "New", j1.ID, at(10*time.Second)
		up.UDF = append(up.UDF, udf("seats", "12", 10*time.Second))
		return &linkd.ImportBatch{
			Creates: []*linkd.LinkedAccount{
				{ID: ids("a1"), AccountID: "a1", Name: "A one", UDF: []linkd.UDF{udf("plan", `"gold"`, 10*time.Second), udf("vip", "true", 10*time.Second)},
					ImportJob: j1.ID, CreatedAt: at(10 * time.Second), UpdatedAt: at(10 * time.Second)},
				{ID: ids("a2"), AccountID: "a2", Name: "A two", DataKey: []byte("wrapped"), Credentials: []byte("sealed"),
					ImportJob: j1.ID, CreatedAt: at(10 * time.Second), UpdatedAt: at(10 * time.Second)},
			},
			Updates:   []*linkd.LinkedAccount{&up},
			Errors:    []linkd.ImportRowError{{Row: 5, Column: "name", AccountID: "bad", Message: "name is too long"}, {Row: 3, Column: "", AccountID: "", Message: "wrong number of fields"}},
			Offset:    32,
			Processed: 5, Created: 2, Updated: 1, Failed: 2,
		}, nil
	}
	got, err = s.CommitImportBatch(ctx, &j1run, "A", []string{"a1", "a2", "existing", "bad"}, batch, at(10*time.Second), time.Minute)
	rec("commit j1 A", got, err)
	got, err = s.CommitImportBatch(ctx, &j1run, "B", []string{"a1"}, batch, at(11*time.Second), time.Minute)
	rec("commit j1 B", got, err)
	got, err = s.CommitImportBatch(ctx, &j1run, "A", []string{"zz"}, func(map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		return nil, linkd.FieldError("file", "refused")
	}, at(11*time.Second), time.Minute)
	rec("commit j1 fn error", got, err)
	got, err = s.CommitImportBatch(ctx, &j1run, "A", nil, func(cur map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		rec("fn saw nothing", len(cur), nil)
		return &linkd.ImportBatch{Offset: 40, Processed: 1, Unchanged: 1}, nil
	}, at(12*time.Second), time.Minute)
	rec("commit j1 empty batch", got, err)

	page, err := s.ListAccounts(ctx, tn, linkd.AccountFilter{})
	rec("list accounts", page, err)
	for _, f := range []linkd.AccountFilter{
		{}, {Desc: true}, {Query: "A T"}, {UDF: []linkd.UDFMatch{{Key: "plan", Value: "gold"}}}, {UDF: []linkd.UDFMatch{{Key: "seats", Value: "12"}}},
		{UDF: []linkd.UDFMatch{{Key: "vip", Value: "true"}}}, {CreatedAfter: ptr(at(5 * time.Second)), Limit: 1, Offset: 5},
	} {
		var each []*linkd.LinkedAccount
		err := s.EachAccount(ctx, tn, f, func(a *linkd.LinkedAccount) error { each = append(each, a); return nil })
		b, _ := json.Marshal(f)
		rec("each "+string(b), each, err)
	}
	stop := errors.New("stop")
	n := 0
	err = s.EachAccount(ctx, tn, linkd.AccountFilter{}, func(*linkd.LinkedAccount) error { n++; return stop })
	rec("each stops", n, map[bool]error{true: nil, false: err}[errors.Is(err, stop)])
	err = s.EachAccount(ctx, other, linkd.AccountFilter{}, func(*linkd.LinkedAccount) error { return stop })
	rec("each other env", nil, err)

	rowErrs, err := s.ImportErrors(ctx, tn, j1.ID, 0, 10)
	rec("errors", rowErrs, err)
	rowErrs, err = s.ImportErrors(ctx, tn, j1.ID, 3, 10)
	rec("errors after 3", rowErrs, err)
	rowErrs, err = s.ImportErrors(ctx, tn, j1.ID, 0, 1)
	rec("errors limit 1", rowErrs, err)
	rowErrs, err = s.ImportErrors(ctx, tn, j1.ID, 5, 10)
	rec("errors after 5", rowErrs, err)
	rowErrs, err = s.ImportErrors(ctx, other, j1.ID, 0, 10)
	rec("errors other env", rowErrs, err)

	// The dry run restarts, then is cancelled under its holder.
	j2run := *j2
	got, err = s.CommitImportBatch(ctx, &j2run, "B", []string{"existing"}, func(cur map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		return &linkd.ImportBatch{Errors: []linkd.ImportRowError{{Row: 2, Message: "x"}}, Offset: 10, Processed: 1, Failed: 1}, nil
	}, at(13*time.Second), time.Minute)
	rec("commit j2", got, err)
	got, err = s.RestartImportJob(ctx, &j2run, "A")
	rec("restart j2 A", got, err)
	got, err = s.RestartImportJob(ctx, &j2run, "B")
	rec("restart j2 B", got, err)
	rowErrs, err = s.ImportErrors(ctx, tn, j2.ID, 0, 10)
	rec("errors j2 after restart", rowErrs, err)
	got, err = s.CancelImportJob(ctx, tn, j2.ID, at(14*time.Second), nil)
	rec("cancel j2", got, err)
	got, err = s.CancelImportJob(ctx, tn, j2.ID, at(15*time.Second), nil)
	rec("cancel j2 again", got, err)
	got, err = s.CancelImportJob(ctx, other, j2.ID, at(15*time.Second), nil)
	rec("cancel j2 other env", got, err)
	got, err = s.CommitImportBatch(ctx, &j2run, "B", nil, func(map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		t.Error("fn ran for a cancelled job")
		return &linkd.ImportBatch{}, nil
	}, at(16*time.Second), time.Minute)
	rec("commit j2 cancelled", got, err)
	got, err = s.FinishImportJob(ctx, &j2run, "B", linkd.ImportSucceeded, "", nil, at(16*time.Second))
	rec("finish j2 cancelled", got, err)
	chunk, err = s.ImportChunk(ctx, j2.ID, 0)
	rec("chunk j2 after cancel", string(chunk), err)

	// A holds j1 until its lease runs out; C takes it over and finishes.
	got, err = s.ClaimImportJob(ctx, linkd.Claim{Owner: "C", Now: at(time.Minute), Lease: time.Minute})
	rec("claim C before lease end", got, err)
	got, err = s.ClaimImportJob(ctx, linkd.Claim{Owner: "C", Now: at(2 * time.Minute), Lease: time.Minute})
	rec("claim C after lease end", got, err)
	got, err = s.FinishImportJob(ctx, &j1run, "A", linkd.ImportFailed, "lost", nil, at(2*time.Minute))
	rec("finish j1 A", got, err)
	ev := &linkd.AuditEntry{ID: ids("audit-j1"), Time: at(3 * time.Minute), Actor: "key-1", Action: linkd.AuditAccountImport,
		Details: map[string]any{"job_id": j1.ID, "file_name": "j1.csv", "created": 2, "dry_run": false, "ratio": 0.5}}
	got, err = s.FinishImportJob(ctx, &j1run, "C", linkd.ImportSucceeded, "", ev, at(3*time.Minute))
	rec("finish j1 C", got, err)
	chunk, err = s.ImportChunk(ctx, j1.ID, 0)
	rec("chunk j1 after finish", string(chunk), err)
	got, err = s.CancelImportJob(ctx, tn, j1.ID, at(4*time.Minute), nil)
	rec("cancel j1 finished", got, err)
	entries, next, err := s.ListAudit(ctx, tn, linkd.AuditFilter{})
	rec("audit "+next, entries, err)

	list, next, err = s.ListImportJobs(ctx, tn, 1, "")
	rec("list 1 "+next, list, err)
	list, next, err = s.ListImportJobs(ctx, tn, 1, next)
	rec("list 2 "+next, list, err)
	list, next, err = s.ListImportJobs(ctx, tn, 0, "")
	rec("list limit 0 "+next, list, err)
	list, next, err = s.ListImportJobs(ctx, other, 10, "")
	rec("list other env "+next, list, err)
	got, err = s.ClaimImportJob(ctx, linkd.Claim{Owner: "D", Now: at(time.Hour), Lease: time.Minute})
	rec("claim D at the end", got, err)
	return out
}

func ptr[T any](v T) *T { return &v }

// TestImportMatchesSQLite runs one import scenario on both engines: every
// result, error code and message must be the same.
func TestImportMatchesSQLite(t *testing.T) {
	known := map[string]string{}
	ids := func(name string) string {
		if known[name] == "" {
			known[name] = linkd.NewID()
		}
		return known[name]
	}
	// The jobs' ids decide the claim order: make them in order (ids made
	// in a process only increase).
	for _, n := range []string{"org", "j1", "j2", "j3"} {
		ids(n)
	}
	pg := open(t)
	want := importScenario(t, dbtest.SQLite(t), ids)
	got := importScenario(t, pg, ids)
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Errorf("step %d differs:\nsqlite:   %s\npostgres: %s", i, w, g)
		}
	}
	if testing.Verbose() {
		for _, l := range got {
			t.Log(l)
		}
	}
}

// queueJobs makes n queued import jobs in tn.
func queueJobs(t testing.TB, s *postgres.Store, tn linkd.Tenant, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		j := &linkd.ImportJob{ID: linkd.NewID(), OrgID: tn.OrgID, Env: tn.Env, Actor: "test", FileName: fmt.Sprintf("f%d.csv", i),
			Mode: linkd.ImportUpsert, CreatedAt: time.Now()}
		if err := s.CreateImportJob(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		if err := s.QueueImportJob(t.Context(), tn, j.ID, 0, 0, []string{"linked_account_id"}, linkd.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	return ids
}

// TestClaimConcurrently has several instances claim at once: every job
// goes to exactly one of them, first when queued and again when all
// leases have run out.
func TestClaimConcurrently(t *testing.T) {
	s := open(t)
	tn := newTenant(t, s)
	jobs := queueJobs(t, s, tn, 30)
	now := time.Now()
	for round, at := range []time.Time{now, now.Add(2 * time.Minute)} {
		var mu sync.Mutex
		claimed := map[string]string{}
		var wg sync.WaitGroup
		for w := range 8 {
			owner := fmt.Sprintf("instance-%d-%d", round, w)
			wg.Go(func() {
				for {
					j, err := s.ClaimImportJob(t.Context(), linkd.Claim{Owner: owner, Now: at, Lease: time.Minute})
					if linkd.ErrorCode(err) == linkd.ENOTFOUND {
						return
					} else if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if prev, ok := claimed[j.ID]; ok {
						t.Errorf("round %d: job %s claimed by %s and %s", round, j.ID, prev, owner)
					}
					claimed[j.ID] = owner
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(claimed) != len(jobs) {
			t.Fatalf("round %d: %d of %d jobs claimed", round, len(claimed), len(jobs))
		}
		for id := range claimed {
			j, err := s.ImportJob(t.Context(), tn, id)
			if err != nil {
				t.Fatal(err)
			}
			// The last holder wins: an earlier holder is refused.
			_, err = s.FinishImportJob(t.Context(), j, "nobody", linkd.ImportFailed, "", nil, at)
			if linkd.ErrorCode(err) != linkd.ECONFLICT {
				t.Fatalf("finish by a non-holder: %v", err)
			}
		}
	}
}

// TestImportBatchRetriedAfterRacingCreate lets an API create insert an
// account that the batch, having found it absent, is about to create: the
// COPY fails on the unique id, and the batch must run again, see the
// account and update it, leaving one account counted once.
func TestImportBatchRetriedAfterRacingCreate(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	tn := newTenant(t, s)
	queueJobs(t, s, tn, 1)
	j, err := s.ClaimImportJob(ctx, linkd.Claim{Owner: "me", Now: time.Now(), Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var calls int
	var sawExisting []bool
	out, err := s.CommitImportBatch(ctx, j, "me", []string{"racy", "fresh"}, func(cur map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		calls++
		sawExisting = append(sawExisting, cur["racy"] != nil)
		if calls == 1 {
			// The API creates the account now, on another connection,
			// after the batch read it as absent; the batch holds no lock
			// that stops it.
			if _, _, err := s.PutAccount(ctx, tn, "racy", newAccount("racy")); err != nil {
				return nil, err
			}
		}
		b := &linkd.ImportBatch{Offset: 10, Processed: 2}
		fresh := &linkd.LinkedAccount{ID: linkd.NewID(), AccountID: "fresh", Name: "from file", ImportJob: j.ID, CreatedAt: now, UpdatedAt: now}
		b.Creates, b.Created = append(b.Creates, fresh), 1
		if a := cur["racy"]; a != nil {
			up := *a
			up.Name, up.ImportJob, up.UpdatedAt = "from file", j.ID, now
			b.Updates, b.Updated = append(b.Updates, &up), 1
		} else {
			a := &linkd.LinkedAccount{ID: linkd.NewID(), AccountID: "racy", Name: "from file", ImportJob: j.ID, CreatedAt: now, UpdatedAt: now}
			b.Creates, b.Created = append(b.Creates, a), 2
		}
		return b, nil
	}, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || !slices.Equal(sawExisting, []bool{false, true}) {
		t.Fatalf("fn ran %d times, saw the account %v; want twice, absent then present", calls, sawExisting)
	}
	if out.Created != 1 || out.Updated != 1 || out.RowsProcessed != 2 {
		t.Fatalf("job counts %+v, want those of the retried batch only", out)
	}
	p, err := s.ListAccounts(ctx, tn, linkd.AccountFilter{})
	if err != nil || p.Total != 2 || len(p.Accounts) != 2 {
		t.Fatalf("accounts: %+v, %v; want 2, counted once each", p, err)
	}
	for _, a := range p.Accounts {
		if a.Name != "from file" || a.ImportJob != j.ID {
			t.Errorf("account %+v not written by the batch", a)
		}
	}
}

// TestImportBatchRepeatedIDFails checks that a batch creating one id twice
// fails at once rather than being retried as if a concurrent write caused
// the conflict.
func TestImportBatchRepeatedIDFails(t *testing.T) {
	s := open(t)
	tn := newTenant(t, s)
	queueJobs(t, s, tn, 1)
	j, err := s.ClaimImportJob(t.Context(), linkd.Claim{Owner: "me", Now: time.Now(), Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	calls := 0
	_, err = s.CommitImportBatch(t.Context(), j, "me", []string{"x"}, func(map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		calls++
		return &linkd.ImportBatch{Creates: []*linkd.LinkedAccount{
			{ID: linkd.NewID(), AccountID: "x", Name: "x", CreatedAt: now, UpdatedAt: now},
			{ID: linkd.NewID(), AccountID: "x", Name: "x", CreatedAt: now, UpdatedAt: now},
		}}, nil
	}, now, time.Minute)
	if err == nil || calls != 1 {
		t.Fatalf("err %v after %d calls; want an error after one", err, calls)
	}
}

// TestEachAccountStopsEarly stops a scan of many accounts after one: the
// error comes back as fn returned it, and the store keeps working.
func TestEachAccountStopsEarly(t *testing.T) {
	s := open(t)
	tn := newTenant(t, s)
	importAccounts(t, s, tn, 20_000, 5_000)
	stop := errors.New("stop")
	for range 3 {
		n := 0
		err := s.EachAccount(t.Context(), tn, linkd.AccountFilter{}, func(*linkd.LinkedAccount) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("EachAccount: %v after %d accounts", err, n)
		}
	}
	n, prev := 0, ""
	err := s.EachAccount(t.Context(), tn, linkd.AccountFilter{}, func(a *linkd.LinkedAccount) error {
		if a.ID <= prev {
			t.Fatalf("%s after %s", a.ID, prev)
		}
		n, prev = n+1, a.ID
		return nil
	})
	if err != nil || n != 20_000 {
		t.Fatalf("EachAccount: %v after %d accounts", err, n)
	}
}

// importAccounts creates n accounts with UDFs through import batches of
// size batch, as the importer does, and returns the seconds the batches took.
func importAccounts(t testing.TB, s *postgres.Store, tn linkd.Tenant, n, batch int) float64 {
	t.Helper()
	ctx := t.Context()
	queueJobs(t, s, tn, 1)
	j, err := s.ClaimImportJob(ctx, linkd.Claim{Owner: "bench", Now: time.Now(), Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	prefix := linkd.NewID()[24:]
	var spent time.Duration
	for start := 0; start < n; start += batch {
		m := min(batch, n-start)
		ids := make([]string, m)
		accts := make([]*linkd.LinkedAccount, m)
		for i := range m {
			now := time.Now().UTC().Truncate(time.Microsecond)
			id := fmt.Sprintf("%s-%d", prefix, start+i)
			ids[i] = id
			accts[i] = &linkd.LinkedAccount{ID: linkd.NewIDAt(now), AccountID: id, Name: "Customer " + id, ImportJob: j.ID, CreatedAt: now, UpdatedAt: now,
				UDF: []linkd.UDF{
					{Key: "plan", Value: json.RawMessage(`"gold"`), CreatedAt: now, UpdatedAt: now},
					{Key: "region", Value: json.RawMessage(`"eu-west-1"`), CreatedAt: now, UpdatedAt: now},
					{Key: "seats", Value: json.RawMessage(fmt.Sprint((start + i) % 500)), CreatedAt: now, UpdatedAt: now},
				}}
		}
		began := time.Now()
		j, err = s.CommitImportBatch(ctx, j, "bench", ids, func(cur map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
			if len(cur) != 0 {
				return nil, fmt.Errorf("%d accounts exist", len(cur))
			}
			return &linkd.ImportBatch{Creates: accts, Processed: int64(m), Created: int64(m), Offset: int64(start + m)}, nil
		}, time.Now(), time.Hour)
		spent += time.Since(began)
		if err != nil {
			t.Fatal(err)
		}
	}
	return spent.Seconds()
}

// TestImportedAccountsListAndFilter checks what an import batch writes:
// the total and a filter on an imported UDF.
func TestImportedAccountsListAndFilter(t *testing.T) {
	const n = 2_000
	s := open(t)
	tn := newTenant(t, s)
	importAccounts(t, s, tn, n, 500)
	p, err := s.ListAccounts(t.Context(), tn, linkd.AccountFilter{Limit: 1})
	if err != nil || p.Total != int64(n) {
		t.Fatalf("total %+v, %v", p, err)
	}
	want := int64(0)
	for i := range n {
		if i%500 == 7 {
			want++
		}
	}
	p, err = s.ListAccounts(t.Context(), tn, linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "seats", Value: "7"}}, Limit: 1})
	if err != nil || p.Total != want || len(p.Accounts) != 1 || string(p.Accounts[0].UDFValue("plan")) != `"gold"` {
		t.Fatalf("filter on an imported UDF: %+v, %v", p, err)
	}
}

// BenchmarkImportBatches measures how many accounts a second import
// batches of 5,000 create (20,000 per iteration, a new tenant each).
func BenchmarkImportBatches(b *testing.B) {
	s, err := postgres.Open(b.Context(), dbtest.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	const n = 20_000
	var secs float64
	for b.Loop() {
		o := &linkd.Org{ID: linkd.NewID(), Name: "org-" + linkd.NewID(), CreatedAt: time.Now()}
		if err := s.CreateOrg(b.Context(), o); err != nil {
			b.Fatal(err)
		}
		secs += importAccounts(b, s, linkd.Tenant{OrgID: o.ID, Env: linkd.EnvTest}, n, 5_000)
	}
	b.ReportMetric(float64(n*b.N)/secs, "rows/s")
}

// TestWorkSignalsReachOtherInstances: a delivery made through one instance
// wakes the webhooks loop of another on the same database (LISTEN/NOTIFY),
// well before its poll.
func TestWorkSignalsReachOtherInstances(t *testing.T) {
	dsn := dbtest.PostgresURL(t)
	a, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	woke := make(chan struct{}, 1)
	b.OnWork(linkd.WorkWebhooks, func() {
		select {
		case woke <- struct{}{}:
		default:
		}
	})
	now := time.Now().UTC().Truncate(time.Microsecond)
	org := &linkd.Org{ID: linkd.NewID(), Name: "signals", CreatedAt: now}
	if err := a.CreateOrg(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	tn := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
	w := &linkd.Webhook{ID: linkd.NewID(), Enabled: true, Events: []string{linkd.EventAccountCreated}, URL: "https://hooks.example.com/x",
		Type: "default", Method: "POST", CreatedAt: now, UpdatedAt: now}
	if err := a.CreateWebhook(t.Context(), tn, w, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t", Action: "webhook.create"}); err != nil {
		t.Fatal(err)
	}
	// b's listener connects in the background: create until it hears one
	// (each create is a new delivery and a new notification).
	deadline := time.After(10 * time.Second)
	for i := 0; ; i++ {
		id := fmt.Sprintf("acct-%d", i)
		ev := &linkd.Event{ID: linkd.NewEventID(), Type: linkd.EventAccountCreated, AccountID: id, Payload: json.RawMessage(`{}`), CreatedAt: now}
		acct := &linkd.LinkedAccount{ID: linkd.NewID(), AccountID: id, Name: id, CreatedAt: now, UpdatedAt: now}
		if err := a.CreateAccount(t.Context(), tn, acct, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t",
			Action: linkd.AuditAccountCreate, AccountID: id, Events: []*linkd.Event{ev}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-woke:
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("another instance's commits never woke this one's webhooks loop")
		}
	}
}

// TestMigrateIndexesExistingAccounts takes a database back to before the
// search and UDF indexes (migrations 0019, 0020 and 0029), as one made by an
// older linkd, and opens it again: the migrations must index the accounts
// already there (search text folded in Go, UDF values), so that search and
// filters find them.
func TestMigrateIndexesExistingAccounts(t *testing.T) {
	dsn := dbtest.PostgresURL(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	tn := newTenant(t, s)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i, name := range []string{"Zoë Straße", "ΣΊΣΥΦΟΣ", "Plain Name"} {
		a := newAccount(fmt.Sprintf("old-%d", i))
		if i < 2 {
			a = newAccount(fmt.Sprintf("old-%d", i), linkd.UDF{ID: linkd.NewID(), Key: "plan", Value: json.RawMessage(`"pro"`), CreatedAt: now, UpdatedAt: now})
		}
		put := func(cur *linkd.LinkedAccount) (*linkd.LinkedAccount, *linkd.AuditEntry, error) {
			next, ev, err := a(cur)
			if next != nil {
				next.Name = name
			}
			return next, ev, err
		}
		if _, _, err := s.PutAccount(t.Context(), tn, fmt.Sprintf("old-%d", i), put); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for _, q := range []string{
		`DROP TABLE account_udf`, `DROP FUNCTION account_udf_insert, account_udf_update, account_udf_delete CASCADE`,
		`DROP FUNCTION account_udf_entries`, `ALTER TABLE linked_accounts DROP COLUMN search`,
		`ALTER TABLE linked_accounts DROP COLUMN search_trgm`, `DELETE FROM schema_migrations WHERE version IN (19, 20, 29)`,
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()

	s, err = postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		f    linkd.AccountFilter
		want string
	}{
		{linkd.AccountFilter{Query: "STRASSE"}, "[old-0]"},
		{linkd.AccountFilter{Query: "σίσυφος"}, "[old-1]"},
		{linkd.AccountFilter{Query: "name"}, "[old-2]"},
		{linkd.AccountFilter{Query: "old-"}, "[old-0 old-1 old-2]"},
		{linkd.AccountFilter{Query: "ë stra"}, "[old-0]"},
		{linkd.AccountFilter{UDF: []linkd.UDFMatch{{Key: "plan", Value: "pro"}}}, "[old-0 old-1]"},
	} {
		p, err := s.ListAccounts(t.Context(), tn, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range p.Accounts {
			got = append(got, a.AccountID)
		}
		if fmt.Sprint(got) != c.want {
			t.Errorf("%+v: %v, want %s", c.f, got, c.want)
		}
	}
}

// TestSearchWithoutTrigramIndex: where pg_trgm could not be created,
// migration 0019 leaves the search index out; searches still find the same
// accounts, by reading the tenant.
func TestSearchWithoutTrigramIndex(t *testing.T) {
	storetest.Search(t, func(t *testing.T) linkd.Store {
		dsn := dbtest.PostgresURL(t)
		s, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(t.Context(), `DROP INDEX linked_accounts_search`)
		conn.Close(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s, err = postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
