package csvio_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestImportEvents: an import announces Import Completed once, when it
// ends (also cancelled), with its counts; its rows announce nothing,
// however many accounts they create or update.
func TestImportEvents(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		now := time.Now().UTC().Truncate(time.Microsecond)
		w := &linkd.Webhook{ID: linkd.NewID(), Enabled: true, URL: "https://hooks.example.com/", Type: "default", Method: "POST",
			Events: []string{linkd.EventAccountCreated, linkd.EventAccountUpdated, linkd.EventImportCompleted}, CreatedAt: now, UpdatedAt: now}
		if err := store.CreateWebhook(f.ctx, f.tenant, w, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "t", Action: "webhook.create"}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		// expect returns the payload of the one new delivery to w, which
		// must be Import Completed.
		expect := func(what string) map[string]any {
			t.Helper()
			ds, err := store.Deliveries(f.ctx, f.tenant, w.ID, 1000)
			if err != nil {
				t.Fatal(err)
			}
			var fresh []*linkd.Delivery
			for _, d := range ds {
				if !seen[d.EventID] {
					seen[d.EventID] = true
					fresh = append(fresh, d)
				}
			}
			if len(fresh) != 1 {
				t.Fatalf("%s: %d deliveries, want one (Import Completed)", what, len(fresh))
			}
			ev, err := store.WebhookEvent(f.ctx, f.tenant, fresh[0].EventID)
			if err != nil || ev.Type != linkd.EventImportCompleted || ev.AccountID != "" {
				t.Fatalf("%s: %+v, %v", what, ev, err)
			}
			var m map[string]any
			if err := json.Unmarshal(ev.Payload, &m); err != nil || len(m) != 13 || m["event"] != linkd.EventImportCompleted ||
				m["org_id"] != f.tenant.OrgID || m["environment"] != "test" {
				t.Fatalf("%s: payload %s, %v", what, ev.Payload, err)
			}
			if _, err := time.Parse(linkd.EventTimeFormat, m["createdAt"].(string)); err != nil {
				t.Fatalf("%s: createdAt: %v", what, err)
			}
			return m
		}

		job, _ := f.importFile("linked_account_id,name\na,A\nb,B\nc,C\nd,D\n,no id\n", linkd.ImportCreate, false)
		m := expect("a create import")
		if m["import_job_id"] != job.ID || m["state"] != linkd.ImportSucceeded || m["mode"] != linkd.ImportCreate || m["dry_run"] != false ||
			m["rows"] != 5.0 || m["created"] != 4.0 || m["updated"] != 0.0 || m["unchanged"] != 0.0 || m["failed"] != 1.0 {
			t.Fatalf("payload %v, job %+v", m, job)
		}
		job, _ = f.importFile("linked_account_id,name\na,A2\nb,B\ne,E\n", linkd.ImportUpsert, false)
		if m := expect("an upsert import"); m["import_job_id"] != job.ID || m["created"] != 1.0 || m["updated"] != 1.0 || m["unchanged"] != 1.0 {
			t.Fatalf("payload %v", m)
		}
		job, _ = f.importFile("linked_account_id,name\nz,Z\n", linkd.ImportCreate, true)
		if m := expect("a dry run"); m["import_job_id"] != job.ID || m["dry_run"] != true {
			t.Fatalf("payload %v", m)
		}
		// A cancelled job ends too.
		job, err := f.upload("linked_account_id,name\nq,Q\n", linkd.ImportCreate, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.imp.Cancel(f.ctx, f.tenant, "api_key:c", job.ID); err != nil {
			t.Fatal(err)
		}
		if m := expect("a cancel"); m["import_job_id"] != job.ID || m["state"] != linkd.ImportCancelled {
			t.Fatalf("payload %v", m)
		}
		// Cancelling an ended job changes nothing and announces nothing.
		f.imp.Cancel(f.ctx, f.tenant, "api_key:c", job.ID)
		if ds, _ := store.Deliveries(f.ctx, f.tenant, w.ID, 1000); len(ds) != len(seen) {
			t.Fatalf("a second cancel delivered %d more", len(ds)-len(seen))
		}
	})
}
