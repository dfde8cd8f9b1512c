package http

import (
	"net/http"
	"strconv"

	"github.com/linkd-dev/linkd"
)

type auditJSON struct {
	ID              string         `json:"_id"`
	Action          string         `json:"action"`
	Actor           string         `json:"actor"`
	LinkedAccountID string         `json:"linked_account_id"`
	Fields          []string       `json:"fields"`
	Details         map[string]any `json:"details,omitempty"`
	CreatedAt       string         `json:"createdAt"`
}

// handleListAudit serves the audit log (an extension of the compatible API),
// newest first, optionally for one linked account.
func (s *Server) handleListAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := linkd.AuditFilter{AccountID: q.Get("linked_account_id"), Limit: linkd.DefaultPageLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > linkd.MaxPageLimit {
			return linkd.FieldError("limit", "limit must be a whole number from 1 to %d", linkd.MaxPageLimit)
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		c, err := decodeCursor(v)
		if err != nil {
			return err
		}
		f.Cursor = c
	}
	if f.AccountID != "" {
		if err := linkd.ValidateAccountID(f.AccountID); err != nil {
			return err
		}
	}
	entries, next, err := s.store.ListAudit(r.Context(), tenant(r), f)
	if err != nil {
		return err
	}
	out := struct {
		Docs        []auditJSON `json:"docs"`
		Limit       int         `json:"limit"`
		HasNextPage bool        `json:"hasNextPage"`
		NextCursor  *string     `json:"next_cursor"`
	}{Docs: make([]auditJSON, 0, len(entries)), Limit: f.Limit}
	for _, e := range entries {
		fields := e.Fields
		if fields == nil {
			fields = []string{}
		}
		out.Docs = append(out.Docs, auditJSON{ID: e.ID, Action: e.Action, Actor: e.Actor, LinkedAccountID: e.AccountID,
			Fields: fields, Details: e.Details, CreatedAt: wireTime(e.Time)})
	}
	if next != "" {
		c := encodeCursor(next)
		out.NextCursor, out.HasNextPage = &c, true
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
