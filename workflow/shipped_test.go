package workflow_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/workflow"
)

// want is a request a step must send: method and escaped path, the query
// (decoded, compared as a whole when set), and JSON body fields by path.
type want struct {
	method, path string
	query        url.Values
	body         map[string]any // dotted path → value
	header       map[string]string
}

func (w want) check(t *testing.T, s seen) {
	t.Helper()
	if s.Method != w.method || s.Path != w.path {
		t.Fatalf("request %s %s, want %s %s", s.Method, s.Path, w.method, w.path)
	}
	if w.query != nil {
		got, _ := url.ParseQuery(s.Query)
		if !reflect.DeepEqual(got, w.query) {
			t.Errorf("%s query %v, want %v", w.path, got, w.query)
		}
	}
	for path, v := range w.body {
		var cur any = s.Body
		for _, seg := range strings.Split(path, ".") {
			switch c := cur.(type) {
			case map[string]any:
				cur = c[seg]
			case []any:
				var i int
				fmt.Sscan(seg, &i)
				if i < len(c) {
					cur = c[i]
				} else {
					cur = nil
				}
			default:
				cur = nil
			}
		}
		if !reflect.DeepEqual(cur, v) {
			t.Errorf("%s body %s = %#v, want %#v (body %s)", w.path, path, cur, v, s.Raw)
		}
	}
	for k, v := range w.header {
		if got := s.Header.Get(k); got != v {
			t.Errorf("%s header %s = %q, want %q", w.path, k, got, v)
		}
	}
}

// TestShippedWorkflows runs every workflow of the shipped catalog against
// loopback apps and checks the requests its steps send (as the providers'
// API docs give them) and what it returns.
func TestShippedWorkflows(t *testing.T) {
	type route struct {
		method, path string
		replies      []reply
	}
	cases := []struct {
		slug, wf  string
		keys      map[string]string
		appFields map[string]any
		wfFields  map[string]any
		event     string // "" for a scheduled workflow
		payload   any
		routes    []route
		want      []want
		ret       string
	}{
		{slug: "slack", wf: "notify-channel", wfFields: map[string]any{"channel": "C123", "message_template": "Order {{event.order.id}} paid"},
			event: "Notify Channel", payload: map[string]any{"order": map[string]any{"id": "o-9"}},
			routes: []route{{"POST", "/slack/chat.postMessage", []reply{{200, nil, `{"ok":true,"channel":"C123","ts":"1712.01"}`}}}},
			want: []want{{method: "POST", path: "/slack/chat.postMessage", body: map[string]any{"channel": "C123", "text": "Order o-9 paid"},
				header: map[string]string{"Authorization": "Bearer tok", "Content-Type": "application/json; charset=utf-8"}}},
			ret: `{"channel":"C123","ts":"1712.01"}`},
		{slug: "slack", wf: "sync-users",
			routes: []route{{"GET", "/slack/users.list", []reply{
				{200, nil, `{"ok":true,"members":[{"id":"U1","real_name":"Ada","tz":"Europe/London","profile":{"email":"ada@x.example"}},{"id":"B1","is_bot":true,"profile":{}}],"response_metadata":{"next_cursor":"c2"}}`},
				{200, nil, `{"ok":true,"members":[{"id":"U2","name":"bob","profile":{}}],"response_metadata":{"next_cursor":""}}`}}}},
			want: []want{{method: "GET", path: "/slack/users.list", query: url.Values{"limit": {"200"}}},
				{method: "GET", path: "/slack/users.list", query: url.Values{"limit": {"200"}, "cursor": {"c2"}}}},
			ret: `[{"email":"ada@x.example","id":"U1","name":"Ada","tz":"Europe/London"},{"email":null,"id":"U2","name":"bob","tz":null}]`},
		{slug: "hubspot", wf: "sync-contacts", wfFields: map[string]any{"lifecycle_stage": "lead"},
			event: "Contact Updated", payload: map[string]any{"email": "ada@x.example", "firstname": "Ada"},
			routes: []route{{"POST", "/hubspot/crm/v3/objects/contacts/batch/upsert", []reply{{200, nil, `{"status":"COMPLETE","results":[{"id":"101","new":true}]}`}}}},
			want: []want{
				{method: "POST", path: "/hubspot/crm/v3/objects/contacts/batch/upsert", body: map[string]any{"inputs.0.idProperty": "email",
					"inputs.0.id": "ada@x.example", "inputs.0.properties.firstname": "Ada", "inputs.0.properties.lastname": "", "inputs.0.properties.email": "ada@x.example"}},
				{method: "PATCH", path: "/hubspot/crm/v3/objects/contacts/101", body: map[string]any{"properties.lifecyclestage": "lead"}}},
			ret: `{"contact_id":"101"}`},
		{slug: "hubspot", wf: "create-deals", wfFields: map[string]any{"pipeline_id": "default", "deal_stage": "closedwon"},
			event: "Deal Won", payload: map[string]any{"name": "Big one", "amount": 1200},
			routes: []route{{"POST", "/hubspot/crm/v3/objects/deals", []reply{{201, nil, `{"id":"55"}`}}}},
			want: []want{{method: "POST", path: "/hubspot/crm/v3/objects/deals", body: map[string]any{"properties.dealname": "Big one",
				"properties.amount": float64(1200), "properties.pipeline": "default", "properties.dealstage": "closedwon"}}},
			ret: `{"deal_id":"55"}`},
		{slug: "github", wf: "sync-issues", wfFields: map[string]any{"repository": "octo-org/octo-repo", "label": "bug"},
			event: "Ticket Created", payload: map[string]any{"title": "Broken", "body": "It broke"},
			routes: []route{{"POST", "/github/repos/octo-org/octo-repo/issues", []reply{{201, nil, `{"number":7,"html_url":"https://github.com/octo-org/octo-repo/issues/7"}`}}}},
			want: []want{{method: "POST", path: "/github/repos/octo-org/octo-repo/issues", body: map[string]any{"title": "Broken", "body": "It broke",
				"labels": []any{"bug"}}, header: map[string]string{"Accept": "application/vnd.github+json", "X-Github-Api-Version": "2022-11-28"}}},
			ret: `{"number":7,"url":"https://github.com/octo-org/octo-repo/issues/7"}`},
		{slug: "github", wf: "notify-releases", wfFields: map[string]any{"repository": "octo-org/octo-repo"},
			routes: []route{
				{"GET", "/github/repos/octo-org/octo-repo/releases", []reply{{200, map[string]string{"Link": `<{{server}}/github/repositories/1/releases?per_page=30&page=2>; rel="next", <{{server}}/github/repositories/1/releases?per_page=30&page=2>; rel="last"`},
					`[{"tag_name":"v2","name":"Two","html_url":"u2","published_at":"2026-12-01T00:00:00Z"}]`}}},
				{"GET", "/github/repositories/1/releases", []reply{{200, nil, `[{"tag_name":"v1","name":"One","html_url":"u1","published_at":"2026-11-01T00:00:00Z"}]`}}}},
			want: []want{{method: "GET", path: "/github/repos/octo-org/octo-repo/releases", query: url.Values{"per_page": {"30"}}},
				{method: "GET", path: "/github/repositories/1/releases", query: url.Values{"per_page": {"30"}, "page": {"2"}}}},
			ret: `[{"name":"Two","published_at":"2026-12-01T00:00:00Z","tag":"v2","url":"u2"},{"name":"One","published_at":"2026-11-01T00:00:00Z","tag":"v1","url":"u1"}]`},
		{slug: "google-sheets", wf: "export-rows", appFields: map[string]any{"spreadsheet_id": "S1"}, wfFields: map[string]any{"sheet_name": "Q4 sales"},
			event: "Row Added", payload: map[string]any{"values": []any{"Acme", 12}},
			routes: []route{{"POST", "/google-sheets/v4/spreadsheets/S1/values/Q4%20sales:append", []reply{{200, nil, `{"updates":{"updatedRange":"'Q4 sales'!A2:B2"}}`}}}},
			want: []want{{method: "POST", path: "/google-sheets/v4/spreadsheets/S1/values/Q4%20sales:append",
				query: url.Values{"valueInputOption": {"USER_ENTERED"}, "insertDataOption": {"INSERT_ROWS"}}, body: map[string]any{"values": []any{[]any{"Acme", float64(12)}}}}},
			ret: `{"updated_range":"'Q4 sales'!A2:B2"}`},
		{slug: "google-sheets", wf: "import-rows", appFields: map[string]any{"spreadsheet_id": "S1"}, wfFields: map[string]any{"sheet_name": "In"},
			routes: []route{{"GET", "/google-sheets/v4/spreadsheets/S1/values/In", []reply{{200, nil, `{"range":"In!A1:B2","values":[["a","b"],["c","d"]]}`}}}},
			want:   []want{{method: "GET", path: "/google-sheets/v4/spreadsheets/S1/values/In", query: url.Values{"majorDimension": {"ROWS"}}}},
			ret:    `[["a","b"],["c","d"]]`},
		{slug: "salesforce", wf: "sync-contacts", event: "Contact Updated", payload: map[string]any{"email": "ada@x.example", "firstname": "Ada", "lastname": "Lovelace"},
			routes: []route{{"POST", "/salesforce/services/data/v61.0/sobjects/Contact/", []reply{{201, nil, `{"id":"003A","success":true,"errors":[]}`}}}},
			want: []want{{method: "POST", path: "/salesforce/services/data/v61.0/sobjects/Contact/", body: map[string]any{"Email": "ada@x.example",
				"FirstName": "Ada", "LastName": "Lovelace"}}},
			ret: `{"contact_id":"003A"}`},
		{slug: "salesforce", wf: "sync-opportunities", wfFields: map[string]any{"stage_mapping": map[string]any{"won": "Closed Won"}},
			event: "Deal Won", payload: map[string]any{"name": "Big one", "amount": 1200, "stage": "won", "close_date": "2026-12-31"},
			routes: []route{{"POST", "/salesforce/services/data/v61.0/sobjects/Opportunity/", []reply{{201, nil, `{"id":"006A","success":true}`}}}},
			want: []want{{method: "POST", path: "/salesforce/services/data/v61.0/sobjects/Opportunity/", body: map[string]any{"Name": "Big one",
				"Amount": float64(1200), "StageName": "Closed Won", "CloseDate": "2026-12-31"}}},
			ret: `{"opportunity_id":"006A"}`},
		{slug: "notion", wf: "create-pages", wfFields: map[string]any{"database_id": "db1"}, event: "Page Requested", payload: map[string]any{"title": "Hello"},
			routes: []route{{"POST", "/notion/v1/pages", []reply{{200, nil, `{"object":"page","id":"p1","url":"https://notion.so/p1"}`}}}},
			want: []want{{method: "POST", path: "/notion/v1/pages", body: map[string]any{"parent.database_id": "db1",
				"properties.Name.title.0.text.content": "Hello"}, header: map[string]string{"Notion-Version": "2022-06-28"}}},
			ret: `{"page_id":"p1","url":"https://notion.so/p1"}`},
		{slug: "stripe", wf: "sync-customers", keys: map[string]string{"secret_key": "sk_test_1"}, event: "Customer Lookup", payload: map[string]any{"email": "ada@x.example"},
			routes: []route{{"GET", "/stripe/v1/customers", []reply{{200, nil, `{"object":"list","data":[{"id":"cus_1","email":"ada@x.example"}],"has_more":false}`}}}},
			want: []want{{method: "GET", path: "/stripe/v1/customers", query: url.Values{"email": {"ada@x.example"}, "limit": {"1"}},
				header: map[string]string{"Authorization": "Bearer sk_test_1"}}},
			ret: `{"customer_id":"cus_1"}`},
		{slug: "stripe", wf: "invoice-paid-alerts", keys: map[string]string{"secret_key": "sk_test_1"}, wfFields: map[string]any{"events": "invoice.paid"},
			routes: []route{{"GET", "/stripe/v1/events", []reply{{200, nil, `{"object":"list","data":[{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1","customer":"cus_1","amount_paid":500,"currency":"eur"}}}]}`}}}},
			want: []want{{method: "GET", path: "/stripe/v1/events", query: url.Values{"type": {"invoice.paid"}, "limit": {"100"},
				"created[gte]": {"1796104800"}, "created[lt]": {"1796108400"}}}},
			ret: `[{"amount_paid":500,"currency":"eur","customer":"cus_1","event_id":"evt_1","invoice_id":"in_1","type":"invoice.paid"}]`},
		{slug: "airtable", wf: "sync-records", keys: map[string]string{"personal_access_token": "pat1"}, appFields: map[string]any{"base_id": "app1"},
			wfFields: map[string]any{"table": "Leads", "key_field": "Email"}, event: "Record Changed", payload: map[string]any{"fields": map[string]any{"Email": "ada@x.example"}},
			routes: []route{{"PATCH", "/airtable/v0/app1/Leads", []reply{{200, nil, `{"records":[{"id":"rec1"}]}`}}}},
			want: []want{{method: "PATCH", path: "/airtable/v0/app1/Leads", body: map[string]any{"performUpsert.fieldsToMergeOn": []any{"Email"},
				"records.0.fields.Email": "ada@x.example"}, header: map[string]string{"Authorization": "Bearer pat1"}}},
			ret: `{"record_id":"rec1"}`},
		{slug: "sendgrid", wf: "send-transactional-email", keys: map[string]string{"api_key": "SG.k", "region": "eu"}, appFields: map[string]any{"from_email": "no-reply@acme.example"},
			wfFields: map[string]any{"template_id": "d-1"}, event: "Send Email", payload: map[string]any{"to": "ada@x.example", "data": map[string]any{"name": "Ada"}},
			routes: []route{{"POST", "/sendgrid-eu/v3/mail/send", []reply{{202, map[string]string{"X-Message-Id": "m-1"}, ``}}}},
			want: []want{{method: "POST", path: "/sendgrid-eu/v3/mail/send", body: map[string]any{"from.email": "no-reply@acme.example",
				"personalizations.0.to.0.email": "ada@x.example", "personalizations.0.dynamic_template_data.name": "Ada", "template_id": "d-1"},
				header: map[string]string{"Authorization": "Bearer SG.k"}}},
			ret: `{"message_id":"m-1"}`},
		{slug: "sendgrid", wf: "sync-contacts", keys: map[string]string{"api_key": "SG.k", "region": "global"}, appFields: map[string]any{"from_email": "no-reply@acme.example"},
			wfFields: map[string]any{"list_id": "L1"}, event: "Contact Updated", payload: map[string]any{"email": "ada@x.example", "firstname": "Ada", "lastname": "L"},
			routes: []route{{"PUT", "/sendgrid/v3/marketing/contacts", []reply{{202, nil, `{"job_id":"j1"}`}}}},
			want: []want{{method: "PUT", path: "/sendgrid/v3/marketing/contacts", body: map[string]any{"list_ids": []any{"L1"},
				"contacts.0.email": "ada@x.example", "contacts.0.first_name": "Ada"}}},
			ret: `{"job_id":"j1"}`},
	}
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		// Scheduled runs fire for the period starting 2026-12-01T07:00Z
		// (1796108400): Stripe's window is the hour before it.
		covered := map[string]bool{}
		for _, c := range cases {
			t.Run(c.slug+"/"+c.wf, func(t *testing.T) {
				f.t = t
				account := c.slug + "-" + c.wf
				f.account(f.tn, account)
				f.connect(f.tn, account, c.slug, c.keys)
				f.enable(f.tn, account, c.slug, c.wf, c.appFields, c.wfFields)
				f.apps.reset()
				for _, r := range c.routes {
					f.apps.on(r.method, r.path, r.replies...)
				}
				var execs []*linkd.Execution
				if c.event != "" {
					execs = f.trigger(f.tn, account, c.event, c.payload)
				} else {
					app, _ := f.cat.App(c.slug)
					var wf *linkd.Workflow
					for i := range app.Workflows {
						if app.Workflows[i].ID == c.wf {
							wf = &app.Workflows[i]
						}
					}
					slot := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
					if fired, err := f.svcs.Executions.FireSchedule(t.Context(), "workflow:"+c.slug+"/"+c.wf, slot, "test", app, wf); err != nil || !fired.Won {
						t.Fatalf("fire: %v, won %t", err, fired.Won)
					}
					page, err := store.ListExecutions(t.Context(), f.tn, linkd.ExecutionFilter{AccountID: account})
					if err != nil {
						t.Fatal(err)
					}
					execs = page.Executions
				}
				if len(execs) != 1 {
					t.Fatalf("%d runs queued, want 1", len(execs))
				}
				f.drain()
				e := f.get(f.tn, execs[0].ID)
				if e.Status != linkd.ExecCompleted {
					t.Fatalf("status %s (%s); nodes %s", e.Status, e.Error, nodesOf(e))
				}
				got := f.apps.requests()
				if len(got) != len(c.want) {
					t.Fatalf("%d requests, want %d: %+v", len(got), len(c.want), got)
				}
				for i, w := range c.want {
					w.check(t, got[i])
					if w.method != "GET" {
						if k := got[i].Header.Get("Idempotency-Key"); !strings.HasPrefix(k, "linkd-"+e.ID+"-") {
							t.Errorf("Idempotency-Key %q", k)
						}
					}
				}
				var gotRet, wantRet any
				json.Unmarshal(e.ReturnValue, &gotRet)
				json.Unmarshal([]byte(c.ret), &wantRet)
				if !reflect.DeepEqual(gotRet, wantRet) {
					t.Fatalf("return value %s, want %s", e.ReturnValue, c.ret)
				}
				covered[c.slug+"/"+c.wf] = true
			})
		}
		for _, a := range f.cat.Apps() {
			if a.Slug == "lcapp" {
				continue // the tests' own
			}
			for _, w := range a.Workflows {
				if !covered[a.Slug+"/"+w.ID] {
					t.Errorf("shipped workflow %s/%s is not run end to end", a.Slug, w.ID)
				}
			}
		}
	})
}

func nodesOf(e *linkd.Execution) string {
	var b strings.Builder
	for _, n := range e.Nodes {
		fmt.Fprintf(&b, "[%d %s %s attempts=%d err=%q out=%s] ", n.Index, n.StepID, n.Status, n.Attempts, n.Error, n.Output)
	}
	return b.String()
}

var _ = workflow.IdempotencyKey
