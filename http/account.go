package http

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/linkd-dev/linkd"
)

// accountJSON is a linked account on the wire, in the compatible API's shape.
// has_auth_credentials is an extension: credentials are never returned, but a
// client may need to know whether any are set.
type accountJSON struct {
	ID                 string    `json:"_id"`
	AssociatedOrg      string    `json:"associated_org"`
	AccountID          string    `json:"account_id"`
	Name               string    `json:"name"`
	Environment        string    `json:"environment"`
	UDF                []udfJSON `json:"udf"`
	IsSeed             bool      `json:"is_seed"`
	TenantAccountID    *string   `json:"tenant_account_id"`
	Integrations       []any     `json:"integrations"`
	HasAuthCredentials bool      `json:"has_auth_credentials"`
	ConnectedApps      int       `json:"connected_apps"`
	ActiveWorkflows    int       `json:"active_workflows"`
	CreatedAt          string    `json:"createdAt"`
	UpdatedAt          string    `json:"updatedAt"`
	V                  int       `json:"__v"`
	NewAccount         *bool     `json:"new_account,omitempty"`
}

type udfJSON struct {
	KeyName   string          `json:"key_name"`
	KeyValue  json.RawMessage `json:"key_value"`
	ID        string          `json:"_id"`
	CreatedAt string          `json:"createdAt"`
	UpdatedAt string          `json:"updatedAt"`
}

func renderAccount(t linkd.Tenant, a *linkd.LinkedAccount) *accountJSON {
	out := &accountJSON{
		ID: a.ID, AssociatedOrg: t.OrgID, AccountID: a.AccountID, Name: a.Name, Environment: string(t.Env),
		UDF: make([]udfJSON, 0, len(a.UDF)), Integrations: []any{}, HasAuthCredentials: a.HasCredentials(), ConnectedApps: a.ConnectedApps, ActiveWorkflows: a.ActiveWorkflows,
		CreatedAt: wireTime(a.CreatedAt), UpdatedAt: wireTime(a.UpdatedAt),
	}
	for _, u := range a.UDF {
		out.UDF = append(out.UDF, udfJSON{KeyName: u.Key, KeyValue: u.Value, ID: u.ID,
			CreatedAt: wireTime(u.CreatedAt), UpdatedAt: wireTime(u.UpdatedAt)})
	}
	return out
}

// accountRequest is the body of create and upsert. Pointers tell absent from
// empty. Unknown fields are ignored, as the compatible API does, so clients
// written for it keep working.
type accountRequest struct {
	LinkedAccountID *string         `json:"linked_account_id"`
	AccountID       *string         `json:"account_id"`
	Name            *string         `json:"name"`
	UDF             udfInput        `json:"udf"`
	YourApp         *yourAppInput   `json:"your_app"`
	Payload         json.RawMessage `json:"payload"`
}

type yourAppInput struct {
	AppID           json.RawMessage `json:"app_id"`
	AuthCredentials json.RawMessage `json:"auth_credentials"`
}

// udfInput accepts UDFs as an object {"key": value} (the documented input) or
// as the array [{key_name, key_value}] that reads return, so a client can
// send back what it read.
type udfInput struct {
	set    bool
	values map[string]json.RawMessage
}

func (u *udfInput) UnmarshalJSON(b []byte) error {
	u.set = true
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		u.set = false
		return nil
	case len(b) > 0 && b[0] == '[':
		var items []struct {
			KeyName  *string         `json:"key_name"`
			KeyValue json.RawMessage `json:"key_value"`
		}
		if err := json.Unmarshal(b, &items); err != nil {
			return linkd.FieldError("udf", "udf must be an object of key/value pairs or an array of {key_name, key_value}")
		}
		u.values = make(map[string]json.RawMessage, len(items))
		for i, it := range items {
			if it.KeyName == nil {
				return linkd.FieldError(fmt.Sprintf("udf[%d].key_name", i), "udf[%d].key_name is required", i)
			}
			if _, dup := u.values[*it.KeyName]; dup {
				return linkd.FieldError("udf."+*it.KeyName, "udf key %q is given twice", *it.KeyName)
			}
			if it.KeyValue == nil {
				it.KeyValue = json.RawMessage("null")
			}
			u.values[*it.KeyName] = it.KeyValue
		}
		return nil
	}
	if err := json.Unmarshal(b, &u.values); err != nil {
		return linkd.FieldError("udf", "udf must be an object of key/value pairs")
	}
	return nil
}

// input turns the request into the domain's input. payload, when present,
// wins over the flat fields, as the compatible upsert documents.
func (req *accountRequest) input() (linkd.AccountInput, error) {
	if p := bytes.TrimSpace(req.Payload); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		var inner accountRequest
		if err := json.Unmarshal(p, &inner); err != nil {
			return linkd.AccountInput{}, jsonError(err, "payload.")
		}
		if inner.LinkedAccountID != nil || inner.AccountID != nil {
			req.LinkedAccountID, req.AccountID = inner.LinkedAccountID, inner.AccountID
		}
		if inner.Name != nil {
			req.Name = inner.Name
		}
		if inner.UDF.set {
			req.UDF = inner.UDF
		}
		if inner.YourApp != nil {
			req.YourApp = inner.YourApp
		}
	}
	var in linkd.AccountInput
	switch {
	case req.LinkedAccountID != nil && req.AccountID != nil && *req.LinkedAccountID != *req.AccountID:
		return in, linkd.FieldError("account_id", "linked_account_id and account_id disagree; send one of them")
	case req.LinkedAccountID != nil:
		in.AccountID = *req.LinkedAccountID
	case req.AccountID != nil:
		in.AccountID = *req.AccountID
	}
	in.Name = req.Name
	in.UDF = req.UDF.values
	if req.YourApp != nil {
		c := bytes.TrimSpace(req.YourApp.AuthCredentials)
		if len(c) == 0 || bytes.Equal(c, []byte("null")) {
			return in, linkd.FieldError("your_app.auth_credentials", "Valid App ID and Auth credentials required in your_app: your_app.auth_credentials is missing")
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, c); err != nil {
			return in, linkd.FieldError("your_app.auth_credentials", "your_app.auth_credentials is not valid JSON")
		}
		in.Credentials = compact.Bytes()
	}
	return in, nil
}

func decodeAccountInput(body []byte) (linkd.AccountInput, error) {
	var req accountRequest
	if err := decodeJSON(body, &req); err != nil {
		return linkd.AccountInput{}, err
	}
	return req.input()
}

func (s *Server) handleCreateAccount(w http.ResponseWriter, r *http.Request, body []byte) error {
	in, err := decodeAccountInput(body)
	if err != nil {
		return err
	}
	noteAccount(r, in.AccountID)
	t := tenant(r)
	a, err := s.accounts.Create(r.Context(), t, actor(r), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderAccount(t, a))
	return nil
}

func (s *Server) handleUpsertAccount(w http.ResponseWriter, r *http.Request, body []byte) error {
	in, err := decodeAccountInput(body)
	if err != nil {
		return err
	}
	t := tenant(r)
	var a *linkd.LinkedAccount
	var created bool
	if own := sessionAccount(r); own != "" {
		// A session token updates its own account and no other, and only
		// as far as the tenant's settings let it (AccountService.UpdateOwn).
		if in.AccountID != "" && in.AccountID != own {
			return linkd.AccountNotFound(in.AccountID)
		}
		in.AccountID = own
		noteAccount(r, own)
		a, err = s.accounts.UpdateOwn(r.Context(), t, actor(r), s.settings, in)
	} else {
		noteAccount(r, in.AccountID)
		a, created, err = s.accounts.Upsert(r.Context(), t, actor(r), in)
	}
	if err != nil {
		return err
	}
	out := renderAccount(t, a)
	out.NewAccount = &created
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleGetAccount(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("linked_account_id")
	if err := linkd.ValidateAccountID(id); err != nil {
		return err
	}
	if own := sessionAccount(r); own != "" && id != own {
		return linkd.AccountNotFound(id)
	}
	return s.writeAccount(w, r, tenant(r), id)
}

// writeAccount answers with one account and its integrations.
func (s *Server) writeAccount(w http.ResponseWriter, r *http.Request, t linkd.Tenant, id string) error {
	a, conns, err := s.store.Connections(r.Context(), t, id)
	if err != nil {
		return err
	}
	out := renderAccount(t, a)
	for _, c := range conns {
		app, _ := s.catalogApp(c.Slug)
		out.Integrations = append(out.Integrations, integrationJSON{ID: c.ID, Type: c.Slug, Name: app.Name, Icon: app.IconURL,
			AuthType: c.AuthType, Identifier: c.Identifier, Status: c.Status, ReauthRequired: c.Status == linkd.ConnExpired,
			CreatedAt: wireTime(c.CreatedAt), UpdatedAt: wireTime(c.UpdatedAt)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// integrationJSON is a connection as the account object lists it; secrets
// never appear.
type integrationJSON struct {
	ID             string `json:"_id"`
	Type           string `json:"type"`
	Name           string `json:"name"`
	Icon           string `json:"icon"`
	AuthType       string `json:"auth_type"`
	Identifier     string `json:"identifier"`
	Status         string `json:"status"`
	ReauthRequired bool   `json:"reauth_required"`
	CreatedAt      string `json:"createdAt"`
	UpdatedAt      string `json:"updatedAt"`
}

// catalogApp returns the catalog's app, or a bare one named by its slug
// for a connection whose app has left the catalog.
func (s *Server) catalogApp(slug string) (*linkd.App, bool) {
	if s.connections != nil {
		if app, ok := s.connections.Catalog.App(slug); ok {
			return app, true
		}
	}
	return &linkd.App{Slug: slug, Name: slug}, false
}

func (s *Server) handleDeleteAccount(w http.ResponseWriter, r *http.Request) error {
	if err := s.accounts.Delete(r.Context(), tenant(r), actor(r), r.PathValue("linked_account_id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "User deleted successfully"})
	return nil
}

// listJSON is the paginated shape of the compatible API plus next_cursor, an
// extension for keyset paging.
type listJSON struct {
	Docs          []*accountJSON `json:"docs"`
	TotalDocs     *int64         `json:"totalDocs"`
	Limit         int            `json:"limit"`
	TotalPages    *int64         `json:"totalPages"`
	Page          *int           `json:"page"`
	PagingCounter *int           `json:"pagingCounter"`
	HasPrevPage   bool           `json:"hasPrevPage"`
	HasNextPage   bool           `json:"hasNextPage"`
	PrevPage      *int           `json:"prevPage"`
	NextPage      *int           `json:"nextPage"`
	NextCursor    *string        `json:"next_cursor"`
}

func (s *Server) handleListAccounts(w http.ResponseWriter, r *http.Request) error {
	f, page, err := parseAccountFilter(r.URL.Query())
	if err != nil {
		return err
	}
	t := tenant(r)
	p, err := s.accounts.List(r.Context(), t, f)
	if err != nil {
		return err
	}
	out := listJSON{Limit: f.Limit, HasNextPage: p.HasNext}
	if p.Total >= 0 {
		pages := int64(math.Ceil(float64(p.Total) / float64(f.Limit)))
		out.TotalDocs, out.TotalPages = &p.Total, &pages
	}
	if p.NextCursor != "" {
		c := encodeCursor(p.NextCursor)
		out.NextCursor = &c
	}
	if f.Cursor == "" {
		counter := f.Offset + 1
		out.Page, out.PagingCounter = &page, &counter
		out.HasPrevPage = page > 1
		if page > 1 {
			prev := page - 1
			out.PrevPage = &prev
		}
		if p.HasNext {
			next := page + 1
			out.NextPage = &next
		}
	} else {
		// A cursor page follows some earlier page, but has no page number.
		out.HasPrevPage = true
	}
	writeAccountList(w, t, p.Accounts, out)
	return nil
}

// maxOffset bounds offset paging; deeper pages must use the cursor, which
// stays fast at any depth where OFFSET reads and discards every skipped row.
const maxOffset = 100_000

// parseAccountFilter reads the list query: page/limit (offset paging) or
// cursor, q, created_after/created_before, udf.<key>=<value>, order and
// include_total. It returns the page number for offset paging.
func parseAccountFilter(q url.Values) (linkd.AccountFilter, int, error) {
	f := linkd.AccountFilter{Limit: linkd.DefaultPageLimit}
	page := 1
	var err error
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > linkd.MaxPageLimit {
			return f, 0, linkd.FieldError("limit", "limit must be a whole number from 1 to %d", linkd.MaxPageLimit)
		}
	}
	if v := q.Get("page"); v != "" {
		// Bounded before it is multiplied: page=9223372036854775807 made
		// the offset overflow to a negative number, which answered page 1.
		maxPage := maxOffset/f.Limit + 1
		if page, err = strconv.Atoi(v); err != nil || page < 1 || page > maxPage {
			return f, 0, linkd.FieldError("page", "page must be a whole number from 1 to %d with limit %d; use cursor (next_cursor of the previous page) to go deeper", maxPage, f.Limit)
		}
	}
	if v := q.Get("cursor"); v != "" {
		if q.Get("page") != "" {
			return f, 0, linkd.FieldError("cursor", "send either page or cursor, not both")
		}
		if f.Cursor, err = decodeCursor(v); err != nil {
			return f, 0, err
		}
	} else {
		f.Offset = (page - 1) * f.Limit
		if f.Offset > maxOffset {
			return f, 0, linkd.FieldError("page", "page reaches past row %d; use cursor (next_cursor of the previous page) to go deeper", maxOffset)
		}
	}
	f.Query = q.Get("q")
	if len(f.Query) > linkd.MaxNameBytes {
		return f, 0, linkd.FieldError("q", "q is longer than %d bytes", linkd.MaxNameBytes)
	}
	// application: only accounts connected to that app (slug).
	if f.ConnectedApp = q.Get("application"); f.ConnectedApp != "" {
		if len(f.ConnectedApp) > 64 {
			return f, 0, linkd.FieldError("application", "application must be an app's slug")
		}
	}
	for _, name := range []string{"created_after", "created_before"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		tm, err := parseTime(v)
		if err != nil {
			return f, 0, linkd.FieldError(name, "%s must be an RFC 3339 time (2024-05-01T12:00:00Z) or a date (2024-05-01)", name)
		}
		if name == "created_after" {
			f.CreatedAfter = &tm
		} else {
			f.CreatedBefore = &tm
		}
	}
	for name, vals := range q {
		key, ok := strings.CutPrefix(name, "udf.")
		if !ok {
			continue
		}
		if err := linkd.ValidateUDF(key, json.RawMessage(`""`), false); err != nil {
			return f, 0, err
		}
		if len(vals) != 1 {
			return f, 0, linkd.FieldError(name, "%s is given %d times; give it once", name, len(vals))
		}
		f.UDF = append(f.UDF, linkd.UDFMatch{Key: key, Value: vals[0]})
	}
	if len(f.UDF) > 10 {
		return f, 0, linkd.FieldError("udf", "at most 10 udf filters are allowed")
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		f.Desc = true
	default:
		return f, 0, linkd.FieldError("order", "order must be asc or desc")
	}
	switch q.Get("include_total") {
	case "", "true":
	case "false":
		f.SkipTotal = true
	default:
		return f, 0, linkd.FieldError("include_total", "include_total must be true or false")
	}
	return f, page, nil
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	return time.Parse("2006-01-02", v)
}

// Cursors are opaque to clients (base64 of the last internal id) so the
// paging key can change without breaking them.
func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if _, err = uuid.Parse(string(b)); err == nil {
			return string(b), nil
		}
	}
	return "", linkd.FieldError("cursor", "cursor is not one this server issued; pass next_cursor from a previous page")
}
