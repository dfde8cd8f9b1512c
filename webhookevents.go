package linkd

import (
	"encoding/json"
	"time"
)

// EventTimeFormat is how payloads write createdAt: RFC 1123 in GMT, as the
// reference's (JavaScript's Date.toUTCString) does, e.g.
// "Mon, 07 Dec 2026 02:42:45 GMT".
const EventTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// eventTime is at as payloads write it.
func eventTime(at time.Time) string { return at.UTC().Format(EventTimeFormat) }

// newEvent builds an event whose payload is body marshalled. The payload
// shapes are fixed here and in the constructors below, and nowhere else,
// so what docs/webhooks.md promises is what every service sends.
func newEvent(typ, accountID, slug string, at time.Time, body any) *Event {
	payload, err := json.Marshal(body)
	if err != nil {
		// The bodies are structs of strings and numbers: this cannot fail.
		panic("webhook payload: " + err.Error())
	}
	return &Event{ID: NewEventID(), Type: typ, AccountID: accountID, Slug: slug, Payload: payload, CreatedAt: at}
}

// accountEventBody is the payload of the Linked Account events: ids only,
// never the name or UDFs, which are the tenant's data about its customer
// and would outlive a deleted account in the delivery log.
type accountEventBody struct {
	Event           string `json:"event"`
	LinkedAccountID string `json:"linked_account_id"`
	OrgID           string `json:"org_id"`
	Environment     string `json:"environment"`
	CreatedAt       string `json:"createdAt"`
}

// NewAccountEvent returns a Linked Account Created, Updated or Deleted
// event (typ) for the account accountID (the tenant's id) at now.
func NewAccountEvent(t Tenant, typ, accountID string, now time.Time) *Event {
	return newEvent(typ, accountID, "", now, accountEventBody{Event: typ, LinkedAccountID: accountID,
		OrgID: t.OrgID, Environment: string(t.Env), CreatedAt: eventTime(now)})
}

// connectionEventBody is the reference's connection payload.
type connectionEventBody struct {
	LinkedAccountID string `json:"linked_account_id"`
	OrgID           string `json:"org_id"`
	Environment     string `json:"environment"`
	Type            string `json:"type"`
	Event           string `json:"event"`
	Slug            string `json:"slug"`
	CreatedAt       string `json:"createdAt"`
}

// NewConnectionEvent returns a Connection Created, Deleted or Expired event
// (typ) for the account's connection to the app slug at now. Its Slug is
// set, so an endpoint filtered by app receives only that app's events.
func NewConnectionEvent(t Tenant, typ, accountID, slug string, now time.Time) *Event {
	return newEvent(typ, accountID, slug, now, connectionEventBody{LinkedAccountID: accountID, OrgID: t.OrgID,
		Environment: string(t.Env), Type: "General", Event: typ, Slug: slug, CreatedAt: eventTime(now)})
}

// importEventBody is the payload of Import Completed: the job and its
// counts, no row's data.
type importEventBody struct {
	Event       string `json:"event"`
	ImportJobID string `json:"import_job_id"`
	OrgID       string `json:"org_id"`
	Environment string `json:"environment"`
	State       string `json:"state"`
	Mode        string `json:"mode"`
	DryRun      bool   `json:"dry_run"`
	Rows        int64  `json:"rows"`
	Created     int64  `json:"created"`
	Updated     int64  `json:"updated"`
	Unchanged   int64  `json:"unchanged"`
	Failed      int64  `json:"failed"`
	CreatedAt   string `json:"createdAt"`
}

// NewImportEvent returns the Import Completed event of the job j, which
// ended in state at now. An import announces itself once, with its counts,
// instead of once per row: see docs/webhooks.md.
func NewImportEvent(j *ImportJob, state string, now time.Time) *Event {
	t := j.Tenant()
	return newEvent(EventImportCompleted, "", "", now, importEventBody{Event: EventImportCompleted, ImportJobID: j.ID,
		OrgID: t.OrgID, Environment: string(t.Env), State: state, Mode: j.Mode, DryRun: j.DryRun,
		Rows: j.RowsProcessed, Created: j.Created, Updated: j.Updated, Unchanged: j.Unchanged, Failed: j.Failed,
		CreatedAt: eventTime(now)})
}

// ConnectionEvents returns one event of type typ per app among conns,
// the connections of the account accountID: its connections to one app
// through several auth types are one connection to the receiver, whose
// payload names the app only.
func ConnectionEvents(t Tenant, typ, accountID string, conns []*Connection, now time.Time) []*Event {
	var out []*Event
	seen := map[string]bool{}
	for _, c := range conns {
		if seen[c.Slug] {
			continue
		}
		seen[c.Slug] = true
		out = append(out, NewConnectionEvent(t, typ, accountID, c.Slug, now))
	}
	return out
}
