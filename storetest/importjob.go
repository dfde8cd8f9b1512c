package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// testImportOptions pins down that the options an import was read with
// (delimiter, encoding, column mapping) are kept with the job and come back
// from every read, the claim included: a job resumed elsewhere must read its
// file the way the upload did. A job queued without options reads as the
// format before them (comma, UTF-8, no mapping).
func testImportOptions(t *testing.T, e *env) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	queue := func(name string, opts linkd.ImportOptions) *linkd.ImportJob {
		t.Helper()
		j := &linkd.ImportJob{ID: linkd.NewID(), OrgID: e.t.OrgID, Env: e.t.Env, Actor: "key-1", FileName: name, Mode: linkd.ImportCreate, CreatedAt: now}
		if err := e.store.CreateImportJob(e.ctx, j); err != nil {
			t.Fatal(err)
		}
		if err := e.store.AppendImportChunk(e.ctx, e.t, j.ID, 0, []byte("Account ID;Name;Plan\na;A;pro\n")); err != nil {
			t.Fatal(err)
		}
		if err := e.store.QueueImportJob(e.ctx, e.t, j.ID, 29, 1, []string{"Account ID", "Name", "Plan"}, opts); err != nil {
			t.Fatal(err)
		}
		return j
	}
	want := linkd.ImportOptions{Delimiter: linkd.DelimSemicolon, Encoding: linkd.EncodingWindows1252,
		Mapping: map[string]string{"Account ID": "linked_account_id", "Name": "name", "Plan": "udf.Plan", "Notes é": "ignore"}}
	mapped := queue("mapped.csv", want)
	plain := queue("plain.csv", linkd.ImportOptions{})
	old := linkd.ImportOptions{Delimiter: linkd.DelimComma, Encoding: linkd.EncodingUTF8, Mapping: map[string]string{}}

	check := func(how string, j *linkd.ImportJob, want linkd.ImportOptions) {
		t.Helper()
		if !reflect.DeepEqual(j.Options, want) {
			t.Errorf("%s: options %+v, want %+v", how, j.Options, want)
		}
	}
	got, err := e.store.ImportJob(e.ctx, e.t, mapped.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("ImportJob", got, want)
	if got, err = e.store.ImportJob(e.ctx, e.t, plain.ID); err != nil {
		t.Fatal(err)
	}
	check("ImportJob without options", got, old)

	list, _, err := e.store.ListImportJobs(e.ctx, e.t, 10, "")
	if err != nil || len(list) != 2 {
		t.Fatalf("ListImportJobs: %d jobs, %v", len(list), err)
	}
	check("ListImportJobs", list[1], want)

	claimed, err := e.store.ClaimImportJob(e.ctx, linkd.Claim{Owner: "i1", Now: now, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if claimed.ID != mapped.ID {
		t.Fatalf("claimed %s, want the older job %s", claimed.ID, mapped.ID)
	}
	check("ClaimImportJob", claimed, want)
	// Its instance dies; another takes it over after the lease, with the
	// same options.
	again, err := e.store.ClaimImportJob(e.ctx, linkd.Claim{Owner: "i2", Now: now.Add(2 * time.Minute), Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != mapped.ID {
		t.Fatalf("took over %s, want %s", again.ID, mapped.ID)
	}
	check("ClaimImportJob after the lease", again, want)
}
