package csvio_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/vault"
	"github.com/linkd-dev/linkd/worker"
)

type fixture struct {
	t      *testing.T
	store  linkd.Store
	svc    *linkd.AccountService
	imp    *csvio.Importer
	tenant linkd.Tenant
	ctx    context.Context
}

func newFixture(t *testing.T, store linkd.Store) *fixture {
	master := make([]byte, 32)
	rand.Read(master)
	keys, _ := vault.New(master)
	svc := linkd.NewAccountService(store, keys)
	org := &linkd.Org{ID: linkd.NewID(), Name: "org-" + linkd.NewID(), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := store.CreateOrg(t.Context(), org); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: store, svc: svc, imp: csvio.NewImporter(store, svc, 1<<20),
		tenant: linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}, ctx: t.Context()}
}

func (f *fixture) runner(owner string, batch int, lease time.Duration) *csvio.Runner {
	return csvio.NewRunner(f.imp, worker.Options{Owner: owner, Lease: lease}, batch)
}

func (f *fixture) upload(file, mode string, dryRun bool) (*linkd.ImportJob, error) {
	return f.imp.Upload(f.ctx, csvio.UploadRequest{Tenant: f.tenant, Actor: "api_key:test", FileName: "accounts.csv", Mode: mode, DryRun: dryRun},
		strings.NewReader(file))
}

// importFile uploads and runs a file to its end.
func (f *fixture) importFile(file, mode string, dryRun bool) (*linkd.ImportJob, []linkd.ImportRowError) {
	f.t.Helper()
	job, err := f.upload(file, mode, dryRun)
	if err != nil {
		f.t.Fatalf("upload: %v", err)
	}
	if ran, err := f.runner("r1", 3, time.Minute).Drain(f.ctx); err != nil || ran != 1 {
		f.t.Fatalf("run: %v %v", ran, err)
	}
	job, err = f.store.ImportJob(f.ctx, f.tenant, job.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	errs, err := f.store.ImportErrors(f.ctx, f.tenant, job.ID, 0, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	if job.RowsProcessed != job.Created+job.Updated+job.Unchanged+job.Failed || job.Failed != int64(len(errs)) {
		f.t.Fatalf("counts do not add up: %+v with %d errors", job, len(errs))
	}
	return job, errs
}

func (f *fixture) account(id string) *linkd.LinkedAccount {
	f.t.Helper()
	a, err := f.svc.Get(f.ctx, f.tenant, id)
	if err != nil {
		f.t.Fatalf("get %s: %v", id, err)
	}
	return a
}

func (f *fixture) total() int64 {
	p, err := f.svc.List(f.ctx, f.tenant, linkd.AccountFilter{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p.Total
}

func TestImport(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		for name, fn := range map[string]func(*testing.T, *fixture){
			"GoodAndBadRows":   testGoodAndBadRows,
			"DuplicatesInFile": testDuplicatesInFile,
			"Upsert":           testUpsert,
			"DryRun":           testDryRun,
			"RefusedUploads":   testRefusedUploads,
			"ResumeAfterDeath": testResumeAfterDeath,
			"Cancel":           testCancel,
			"ExportRoundTrip":  testExportRoundTrip,
		} {
			t.Run(name, func(t *testing.T) { fn(t, newFixture(t, store)) })
		}
	})
}

func testGoodAndBadRows(t *testing.T, f *fixture) {
	file := "\uFEFF\"linked_account_id\",name,udf.plan,udf.seats,udf.vip\r\n" +
		"acme,Acme Inc.,pro,250,true\r\n" +
		"\r\n" + // blank lines are skipped and not numbered: rows are records
		"globex,\"Globex, \"\"The\"\" Corp\",,25,\r\n" +
		",No id,pro,1,false\r\n" +
		"toolong" + strings.Repeat("x", 300) + ",x,,,\r\n" +
		"short,row\r\n" +
		"'=formula,\"=1+2\",'42,'true,\r\n"
	job, errs := f.importFile(file, "", false)
	if job.State != linkd.ImportSucceeded || job.RowsTotal != 6 || job.RowsProcessed != 6 || job.Created != 3 || job.Failed != 3 {
		t.Fatalf("job = %+v", job)
	}
	want := []struct {
		row int64
		col string
	}{{4, "linked_account_id"}, {5, "linked_account_id"}, {6, ""}}
	for i, w := range want {
		if errs[i].Row != w.row || errs[i].Column != w.col || errs[i].Message == "" {
			t.Errorf("error %d = %+v, want row %d column %q", i, errs[i], w.row, w.col)
		}
	}
	a := f.account("acme")
	if a.Name != "Acme Inc." || string(a.UDFValue("plan")) != `"pro"` || string(a.UDFValue("seats")) != "250" || string(a.UDFValue("vip")) != "true" || a.ImportJob != job.ID {
		t.Fatalf("acme = %+v", a)
	}
	if g := f.account("globex"); g.Name != `Globex, "The" Corp` || g.UDFValue("plan") != nil || g.UDFValue("vip") != nil {
		t.Fatalf("globex = %+v", g)
	}
	if x := f.account("=formula"); x.Name != "=1+2" || string(x.UDFValue("plan")) != `"42"` || string(x.UDFValue("seats")) != `"true"` {
		t.Fatalf("escaped cells = %+v", x)
	}
	entries, _, _ := f.store.ListAudit(f.ctx, f.tenant, linkd.AuditFilter{})
	if len(entries) != 1 || entries[0].Action != linkd.AuditAccountImport || entries[0].Details["file_name"] != "accounts.csv" ||
		fmt.Sprint(entries[0].Details["created"]) != "3" || fmt.Sprint(entries[0].Details["failed"]) != "3" {
		t.Fatalf("audit = %+v", entries)
	}
	if _, err := f.store.ImportChunk(f.ctx, job.ID, 0); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("the file is kept after the job: %v", err)
	}
}

func testDuplicatesInFile(t *testing.T, f *fixture) {
	// Duplicates within one batch (rows 2, 3) and across batches (row 6; batches of 3).
	file := "linked_account_id,name\na,First\na,Second\nb,B\nc,C\na,Third\n"
	for _, mode := range []string{linkd.ImportCreate, linkd.ImportUpsert} {
		f := newFixture(t, f.store)
		job, errs := f.importFile(file, mode, false)
		if job.Created != 3 || job.Failed != 2 || len(errs) != 2 || errs[0].Row != 3 || errs[1].Row != 6 ||
			!strings.Contains(errs[0].Message, "earlier in this file") {
			t.Fatalf("%s: job %+v errors %+v", mode, job, errs)
		}
		if a := f.account("a"); a.Name != "First" {
			t.Fatalf("%s: the first row must win, got %q", mode, a.Name)
		}
	}
	// An id that existed before the import is not "earlier in this file".
	job, errs := f.importFile("linked_account_id\npre\n", "", false)
	if job.Created != 1 {
		t.Fatal(errs)
	}
	_, errs = f.importFile("linked_account_id\npre\n", linkd.ImportCreate, false)
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "already exists") {
		t.Fatalf("existing id in create mode: %+v", errs)
	}
}

func testUpsert(t *testing.T, f *fixture) {
	f.importFile("linked_account_id,name,udf.plan,udf.region\nu1,One,free,eu\nu2,Two,free,us\n", "", false)
	job, errs := f.importFile("linked_account_id,name,udf.plan,udf.region\nu1,,pro,\nu2,Two,free,us\nu3,Three,,\n", linkd.ImportUpsert, false)
	if len(errs) != 0 || job.Created != 1 || job.Updated != 1 || job.Unchanged != 1 {
		t.Fatalf("job %+v errors %+v", job, errs)
	}
	u1 := f.account("u1")
	if u1.Name != "One" || string(u1.UDFValue("plan")) != `"pro"` || string(u1.UDFValue("region")) != `"eu"` {
		t.Fatalf("empty cells must leave values alone: %+v", u1)
	}
}

func testDryRun(t *testing.T, f *fixture) {
	f.importFile("linked_account_id\nexisting\n", "", false)
	job, errs := f.importFile("linked_account_id,name\nnew1,N\nexisting,E\nnew1,again\nnew2,\n", linkd.ImportCreate, true)
	if !job.DryRun || job.Created != 2 || job.Failed != 2 || len(errs) != 2 {
		t.Fatalf("dry run: %+v %+v", job, errs)
	}
	if f.total() != 1 {
		t.Fatalf("a dry run wrote accounts: total %d", f.total())
	}
}

func testRefusedUploads(t *testing.T, f *fixture) {
	cases := map[string]struct {
		file string
		code string
		msg  string
	}{
		"not UTF-8":        {"linked_account_id,name\na,\xff\xfe\n", linkd.EINVALID, "not UTF-8"},
		"no header":        {"", linkd.EINVALID, "empty"},
		"no id column":     {"name,udf.plan\nx,y\n", linkd.EINVALID, "linked_account_id"},
		"unknown column":   {"linked_account_id,plan\nx,y\n", linkd.EINVALID, `"plan"`},
		"header only":      {"linked_account_id,name\n", linkd.EINVALID, "no rows"},
		"too large":        {"linked_account_id\n" + strings.Repeat("abcdefghij\n", 200_000), linkd.ETOOLARGE, "larger than"},
		"cut in character": {"linked_account_id\nx\xe2\x82", linkd.EINVALID, "UTF-8"},
	}
	for name, c := range cases {
		_, err := f.upload(c.file, "", false)
		if linkd.ErrorCode(err) != c.code || !strings.Contains(linkd.ErrorMessage(err), c.msg) {
			t.Errorf("%s: %v, want %s mentioning %q", name, err, c.code, c.msg)
		}
	}
	if _, err := f.upload("linked_account_id\nx\n", "merge", false); linkd.ErrorCode(err) != linkd.EINVALID {
		t.Errorf("bad mode: %v", err)
	}
	jobs, _, err := f.store.ListImportJobs(f.ctx, f.tenant, 100, "")
	if err != nil || len(jobs) != 0 {
		t.Fatalf("refused uploads left %d jobs: %v", len(jobs), err)
	}
	// An upload whose instance died mid-request is swept later.
	dead := &linkd.ImportJob{ID: linkd.NewID(), OrgID: f.tenant.OrgID, Env: f.tenant.Env, Actor: "x", FileName: "f.csv", Mode: linkd.ImportCreate,
		CreatedAt: time.Now().UTC().Add(-25 * time.Hour).Truncate(time.Microsecond)}
	if err := f.store.CreateImportJob(f.ctx, dead); err != nil {
		t.Fatal(err)
	}
	if err := f.store.AppendImportChunk(f.ctx, f.tenant, dead.ID, 0, []byte("linked_account_id\n")); err != nil {
		t.Fatal(err)
	}
	if n, err := f.store.PurgeStaleUploads(f.ctx, time.Now().Add(-csvio.StaleUpload)); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if _, err := f.store.ImportChunk(f.ctx, dead.ID, 0); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("the dead upload's chunk is kept: %v", err)
	}
	if ran, _ := f.runner("r", 10, time.Minute).Drain(f.ctx); ran != 0 {
		t.Fatal("a refused upload left a job to run")
	}
}

// testResumeAfterDeath runs part of a job, abandons it as a killed process
// would, and lets another runner finish it once the lease has run out: every
// row ends up committed once.
func testResumeAfterDeath(t *testing.T, f *fixture) {
	var b strings.Builder
	b.WriteString("linked_account_id,name,udf.n\n")
	const n = 50
	for i := range n {
		fmt.Fprintf(&b, "acct-%03d,Account %d,%d\n", i, i, i)
	}
	b.WriteString("acct-007,duplicate,1\n")
	job, err := f.upload(b.String(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	// Runner A commits two batches of 7 rows and then dies: its context
	// ends right after the second commit, without finishing or releasing
	// anything, as a killed process would leave it.
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	dying := csvio.NewImporter(&cancelAfter{Store: f.store, commits: 2, cancel: cancel}, f.svc, 0)
	a := csvio.NewRunner(dying, worker.Options{Owner: "A", Lease: time.Minute}, 7)
	if ran, err := a.Drain(ctx); ran != 1 || err == nil {
		t.Fatalf("runner A: ran %v, err %v; want it cut off", ran, err)
	}
	mid, _ := f.store.ImportJob(f.ctx, f.tenant, job.ID)
	if mid.State != linkd.ImportRunning || mid.RowsProcessed == 0 || mid.RowsProcessed >= n {
		t.Fatalf("after A: %+v", mid)
	}
	if mid.RowsProcessed != 14 || mid.Created != 14 {
		t.Fatalf("A left a partial batch: %+v", mid)
	}
	// B cannot take it while A's lease holds.
	if ran, _ := f.runner("B", 7, time.Minute).Drain(f.ctx); ran != 0 {
		t.Fatal("B claimed a job under a live lease")
	}
	// A minute later (by B's clock) the lease has run out.
	later := func() time.Time { return time.Now().Add(time.Minute + time.Second) }
	bRunner := csvio.NewRunner(f.imp, worker.Options{Owner: "B", Lease: time.Minute, Clock: later}, 7)
	if ran, err := bRunner.Drain(f.ctx); ran != 1 || err != nil {
		t.Fatalf("B after the lease: %v %v", ran, err)
	}
	done, _ := f.store.ImportJob(f.ctx, f.tenant, job.ID)
	errs, _ := f.store.ImportErrors(f.ctx, f.tenant, job.ID, 0, 100)
	if done.State != linkd.ImportSucceeded || done.RowsProcessed != n+1 || done.Created != n || done.Failed != 1 || len(errs) != 1 || errs[0].Row != n+2 {
		t.Fatalf("after B: %+v errors %+v", done, errs)
	}
	if f.total() != n {
		t.Fatalf("%d accounts, want %d", f.total(), n)
	}
	// A, come back to life, can no longer write to the job.
	_, err = f.store.CommitImportBatch(f.ctx, mid, "A", nil, func(map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
		return &linkd.ImportBatch{Offset: 1}, nil
	}, time.Now(), time.Minute)
	if linkd.ErrorCode(err) != linkd.ECONFLICT {
		t.Fatalf("a stale runner committed: %v", err)
	}
}

func testCancel(t *testing.T, f *fixture) {
	job, err := f.upload("linked_account_id\na\nb\nc\n", "", false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.store.CancelImportJob(f.ctx, f.tenant, job.ID, time.Now(), func(j *linkd.ImportJob) *linkd.AuditEntry {
		return csvio.ImportAudit(j, "api_key:canceller", linkd.ImportCancelled, time.Now())
	})
	if err != nil || got.State != linkd.ImportCancelled {
		t.Fatalf("cancel: %v %+v", err, got)
	}
	entries, _, _ := f.store.ListAudit(f.ctx, f.tenant, linkd.AuditFilter{})
	if len(entries) != 1 || entries[0].Actor != "api_key:canceller" || entries[0].Details["state"] != linkd.ImportCancelled {
		t.Fatalf("cancel audit: %+v", entries)
	}
	if ran, _ := f.runner("r", 10, time.Minute).Drain(f.ctx); ran != 0 {
		t.Fatal("a cancelled job ran")
	}
	if _, err := f.store.CancelImportJob(f.ctx, f.tenant, job.ID, time.Now(), nil); linkd.ErrorCode(err) != linkd.EINVALID {
		t.Fatalf("second cancel: %v", err)
	}
	other := linkd.Tenant{OrgID: f.tenant.OrgID, Env: linkd.EnvProduction}
	if _, err := f.store.ImportJob(f.ctx, other, job.ID); linkd.ErrorCode(err) != linkd.ENOTFOUND {
		t.Fatalf("another tenant sees the job: %v", err)
	}
	if f.total() != 0 {
		t.Fatal("a cancelled job wrote accounts")
	}
}

// testExportRoundTrip exports hostile values and imports them into another
// tenant: everything comes back exactly, and no cell starts a formula.
func testExportRoundTrip(t *testing.T, f *fixture) {
	names := []string{"=HYPERLINK(\"http://evil\")", "+1", "-2", "@SUM(A1)", "|pipe", "'quoted", "Normal, Inc.", `Say "hi"`, "ünïcødé", ""}
	udfs := []string{`"=cmd|' /C calc'!A0"`, `"42"`, `42`, `-7.5`, `"true"`, `"\tTab"`, `"line1\nline2"`, `""`, `"'"`, `"-"`}
	for i, name := range names {
		in := linkd.AccountInput{AccountID: fmt.Sprintf("%sid-%d", []string{"", "=", "+", "-", "@", "'"}[i%6], i), Name: &names[i],
			UDF: map[string]json.RawMessage{"v": json.RawMessage(udfs[i]), "k" + fmt.Sprint(i%3): json.RawMessage(`"x"`)}}
		if _, err := f.svc.Create(f.ctx, f.tenant, "test", in); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		_ = name
	}
	var out bytes.Buffer
	n, err := csvio.Export(f.ctx, f.store, f.tenant, linkd.AccountFilter{}, &out)
	if err != nil || n != int64(len(names)) {
		t.Fatalf("export: %d, %v", n, err)
	}
	recs, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "linked_account_id,name,udf.k0,udf.k1,udf.k2,udf.v" {
		t.Fatalf("header = %v", recs[0])
	}
	for _, rec := range recs[1:] {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+@\t\r", rune(cell[0])) {
				t.Fatalf("cell %q would run in a spreadsheet", cell)
			}
		}
	}
	g := newFixture(t, f.store)
	job, errs := g.importFile(out.String(), linkd.ImportCreate, false)
	if len(errs) != 0 || job.Created != int64(len(names)) {
		t.Fatalf("re-import: %+v %+v\n%s", job, errs, out.String())
	}
	p1, _ := f.svc.List(f.ctx, f.tenant, linkd.AccountFilter{Limit: 100})
	for _, a := range p1.Accounts {
		b := g.account(a.AccountID)
		if b.Name != a.Name || len(b.UDF) != len(a.UDF) {
			t.Fatalf("%q: name %q → %q, udf %v → %v", a.AccountID, a.Name, b.Name, a.UDF, b.UDF)
		}
		for i := range a.UDF {
			if a.UDF[i].Key != b.UDF[i].Key || !bytes.Equal(a.UDF[i].Value, b.UDF[i].Value) {
				t.Fatalf("%q udf %s: %s → %s", a.AccountID, a.UDF[i].Key, a.UDF[i].Value, b.UDF[i].Value)
			}
		}
	}
	// Filters apply to the export.
	out.Reset()
	if n, err := csvio.Export(f.ctx, f.store, f.tenant, linkd.AccountFilter{Query: "Normal"}, &out); err != nil || n != 1 {
		t.Fatalf("filtered export: %d %v", n, err)
	}
}

// cancelAfter is a store whose context is cancelled after a number of import
// batches commit: a process that dies between two batches.
type cancelAfter struct {
	linkd.Store
	commits int
	cancel  func()
}

func (c *cancelAfter) CommitImportBatch(ctx context.Context, j *linkd.ImportJob, owner string, ids []string, fn linkd.ImportBatchFunc, now time.Time, lease time.Duration) (*linkd.ImportJob, error) {
	job, err := c.Store.CommitImportBatch(ctx, j, owner, ids, fn, now, lease)
	if c.commits--; c.commits == 0 {
		c.cancel()
	}
	return job, err
}
