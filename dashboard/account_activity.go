package dashboard

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// activity is one audit entry of the account, in words.
type activity struct {
	Kind    string // add, remove, change, warn: the marker's colour
	Title   string // "Connected Stripe"
	Details []string
	Actor   string // "you", "API key “Backend”", "the customer (SDK)"…
	Time    time.Time
	Ago     string // "5 minutes ago"
}

// accountWebhookEvents is how many of the account's newest events the
// activity card lists the deliveries of.
const accountWebhookEvents = 10

// lastChangePages bounds how far back the page looks for the account's
// last connection change when the recent entries hold none.
const lastChangePages = 5

// loadActivity reads the account's newest audit entries and its newest
// connection change. Entries older than the account belong to an earlier
// account that had the same id, and are left out.
func (h *Handler) loadActivity(ctx context.Context, c *Current, acct *linkd.LinkedAccount, v *accountView) error {
	t := c.Tenant()
	entries, next, err := h.store.ListAudit(ctx, t, linkd.AuditFilter{AccountID: acct.AccountID, Limit: activityLimit})
	if err != nil {
		return err
	}
	var mine []*linkd.AuditEntry
	older := false
	for _, e := range entries {
		if e.Time.Before(acct.CreatedAt) {
			older = true
			break
		}
		mine = append(mine, e)
	}
	var last *linkd.AuditEntry
	for _, e := range mine {
		if strings.HasPrefix(e.Action, "connection.") {
			last = e
			break
		}
	}
	for page := 0; last == nil && !older && next != "" && page < lastChangePages; page++ {
		var more []*linkd.AuditEntry
		more, next, err = h.store.ListAudit(ctx, t, linkd.AuditFilter{AccountID: acct.AccountID, Limit: 200, Cursor: next})
		if err != nil {
			return err
		}
		for _, e := range more {
			if e.Time.Before(acct.CreatedAt) {
				older = true
				break
			}
			if strings.HasPrefix(e.Action, "connection.") {
				last = e
				break
			}
		}
	}
	// The webhooks sent about this account (not an earlier one of its id).
	if v.Webhooks, err = h.store.AccountDeliveries(ctx, t, acct.AccountID, acct.CreatedAt, accountWebhookEvents); err != nil {
		return err
	}
	names, err := h.actorNames(ctx, c, append(mine, last))
	if err != nil {
		return err
	}
	now := h.now()
	for _, e := range mine {
		v.Activity = append(v.Activity, h.describe(e, names, now))
	}
	if last != nil {
		v.LastChange = h.describe(last, names, now)
	}
	return nil
}

// actorNames names the actors of entries that are not self-explanatory:
// the tenant's API keys by their names.
func (h *Handler) actorNames(ctx context.Context, c *Current, entries []*linkd.AuditEntry) (map[string]string, error) {
	names := map[string]string{}
	for _, e := range entries {
		if e != nil && strings.HasPrefix(e.Actor, "api_key:") {
			keys, err := h.store.ListAPIKeys(ctx, c.Session.OrgID)
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				names["api_key:"+k.ID] = "API key “" + k.Name + "”"
			}
			break
		}
	}
	names["user:"+c.Session.UserID] = "you"
	return names, nil
}

// actorName says who did something, from an audit entry's actor.
func actorName(actor string, names map[string]string) string {
	if n, ok := names[actor]; ok {
		return n
	}
	kind, rest, _ := strings.Cut(actor, ":")
	switch kind {
	case "user":
		return "a dashboard user"
	case "api_key":
		return "an API key"
	case "session":
		return "the customer (SDK)"
	case "connect":
		return "the customer (hosted page)"
	case "oauth":
		return "the customer (OAuth)"
	case "linkd":
		return "linkd"
	case "cli":
		if rest != "" {
			return "the CLI (" + rest + ")"
		}
		return "the CLI"
	}
	return actor
}

// describe puts an audit entry into words.
func (h *Handler) describe(e *linkd.AuditEntry, names map[string]string, now time.Time) *activity {
	a := &activity{Kind: "change", Actor: actorName(e.Actor, names), Time: e.Time, Ago: ago(now, e.Time)}
	slug, _ := e.Details["slug"].(string)
	app, _ := h.catalogApp(slug)
	appName := h.appName(slug)
	switch e.Action {
	case linkd.AuditAccountCreate:
		a.Kind, a.Title = "add", "Account created"
		a.Details = accountFields(e.Fields)
	case linkd.AuditAccountUpdate:
		a.Title = "Account updated"
		a.Details = accountFields(e.Fields)
	case linkd.AuditAccountDelete:
		a.Kind, a.Title = "remove", "Account deleted"
	case "connection.create":
		a.Kind, a.Title = "add", "Connected "+appName
		a.Details = authDetail(e.Details)
	case "connection.update":
		if st, _ := e.Details["status"].(string); st == linkd.ConnExpired {
			a.Kind, a.Title = "warn", appName+" connection expired"
			a.Details = []string{"the customer must reconnect"}
		} else {
			a.Title = "Reconnected " + appName
			a.Details = authDetail(e.Details)
		}
	case "connection.delete":
		a.Kind, a.Title = "remove", "Disconnected "+appName
		if n, _ := e.Details["revocations_queued"].(float64); n > 0 {
			a.Details = []string{"token revocation queued"}
		}
	case "connection.revoke":
		a.Kind, a.Title = "remove", appName+" token revoked"
		if o, _ := e.Details["outcome"].(string); o != "" {
			a.Details = []string{o}
		}
	case "config.create", "config.update":
		a.Title = appName + " config updated"
		if e.Action == "config.create" {
			a.Kind, a.Title = "add", appName+" config created"
		}
		a.Details = configFields(app, e.Fields, e.Action == "config.create")
		if id, _ := e.Details["config_id"].(string); id != "" && id != e.AccountID {
			a.Details = append(a.Details, "config "+id)
		}
	case "config.delete":
		a.Kind, a.Title = "remove", appName+" config removed"
	case linkd.AuditEventTrigger:
		ev, _ := e.Details["event"].(string)
		n, _ := e.Details["executions"].(float64)
		a.Title = "Event " + ev + " fired"
		a.Details = []string{countNoun(int(n), "run started", "runs started")}
	case linkd.AuditWorkflowRun, linkd.AuditScheduleFired:
		wf, _ := e.Details["workflow_id"].(string)
		a.Title = workflowName(app, wf) + " run started"
		if e.Action == linkd.AuditScheduleFired {
			a.Details = []string{"on its schedule"}
		}
	case linkd.AuditExecStop:
		a.Kind, a.Title = "warn", "Run stopped"
		a.Details = execDetail(e.Details, "execution_id")
	case linkd.AuditExecRerun:
		a.Title = "Run started again"
		a.Details = execDetail(e.Details, "rerun_of")
	default:
		a.Title = e.Action
		a.Details = e.Fields
	}
	return a
}

// execDetail names the run an entry is about.
func execDetail(d map[string]any, key string) []string {
	if id, _ := d[key].(string); id != "" {
		return []string{"run " + id}
	}
	return nil
}

// accountFields names the account fields an entry changed.
func accountFields(fields []string) []string {
	var out []string
	for _, f := range fields {
		switch {
		case f == "linked_account_id":
		case f == "name":
			out = append(out, "name")
		case strings.HasPrefix(f, "udf."):
			out = append(out, "UDF "+strings.TrimPrefix(f, "udf."))
		case f == linkd.CredentialsField:
			out = append(out, "your_app credentials")
		default:
			out = append(out, f)
		}
	}
	return out
}

// authDetail says how a connection was made.
func authDetail(d map[string]any) []string {
	switch t, _ := d["auth_type"].(string); t {
	case linkd.AuthOAuth2:
		return []string{"OAuth 2.0"}
	case linkd.AuthKeyBased:
		return []string{"API key"}
	}
	return nil
}

// configFields names the config fields and workflows an entry changed. The
// audit log keeps names, never values: a workflow's switch is "toggled",
// except in a new config, where every workflow starts off.
func configFields(app *linkd.App, fields []string, created bool) []string {
	fieldName := func(fs []linkd.ConfigField, id string) string {
		for _, f := range fs {
			if f.ID == id {
				return f.Name
			}
		}
		return id
	}
	var out []string
	for _, f := range fields {
		if rest, ok := strings.CutPrefix(f, "workflows."); ok {
			// workflows.<id>.enabled or workflows.<id>.fields.<field>
			if id, ok := strings.CutSuffix(rest, ".enabled"); ok {
				if created {
					out = append(out, workflowName(app, id)+" switched on")
				} else {
					out = append(out, workflowName(app, id)+" toggled")
				}
				continue
			}
			if id, field, ok := strings.Cut(rest, ".fields."); ok {
				var wf *linkd.Workflow
				if app != nil {
					for i := range app.Workflows {
						if app.Workflows[i].ID == id {
							wf = &app.Workflows[i]
						}
					}
				}
				name := field
				if wf != nil {
					name = fieldName(wf.Fields, field)
				}
				out = append(out, workflowName(app, id)+": "+name)
				continue
			}
		}
		if id, ok := strings.CutPrefix(f, "fields."); ok {
			if app != nil {
				id = fieldName(app.ConfigFields, id)
			}
			out = append(out, id)
			continue
		}
		out = append(out, f)
	}
	return out
}

// ago says how long before now t was, roughly.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return countNoun(int(d/time.Minute), "minute", "minutes") + " ago"
	case d < 24*time.Hour:
		return countNoun(int(d/time.Hour), "hour", "hours") + " ago"
	case d < 48*time.Hour:
		return "yesterday"
	case d < 30*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
	return t.UTC().Format("Jan 2, 2006")
}
