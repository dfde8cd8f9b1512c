package dashboard

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// listPageSize is how many accounts a list page shows.
const listPageSize = 25

// listFilter is the list's filter as the query string carries it, so that a
// filtered list is a link (and works without JavaScript).
type listFilter struct {
	Q    string
	From string // yyyy-mm-dd, inclusive
	To   string // yyyy-mm-dd, inclusive
	App  string // slug
}

// parseListFilter reads the filter from form values (the list's query
// string, or the hidden fields of a bulk action) and turns it into the
// store's filter. Errors name the field.
func parseListFilter(v url.Values) (listFilter, linkd.AccountFilter, error) {
	lf := listFilter{Q: strings.TrimSpace(v.Get("q")), From: v.Get("from"), To: v.Get("to"), App: v.Get("app")}
	f := linkd.AccountFilter{Query: lf.Q, ConnectedApp: lf.App}
	if lf.From != "" {
		d, err := time.Parse(time.DateOnly, lf.From)
		if err != nil {
			return lf, f, linkd.FieldError("from", "Use a date like 2026-01-31.")
		}
		after := d.Add(-time.Microsecond) // the filter is exclusive
		f.CreatedAfter = &after
	}
	if lf.To != "" {
		d, err := time.Parse(time.DateOnly, lf.To)
		if err != nil {
			return lf, f, linkd.FieldError("to", "Use a date like 2026-01-31.")
		}
		before := d.AddDate(0, 0, 1)
		f.CreatedBefore = &before
	}
	return lf, f, nil
}

// Active reports whether any filter is set.
func (lf listFilter) Active() bool { return lf.Q != "" || lf.From != "" || lf.To != "" || lf.App != "" }

// Values renders the filter as query values.
func (lf listFilter) Values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"q": lf.Q, "from": lf.From, "to": lf.To, "app": lf.App} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// link returns the list's URL with the filter and one extra parameter.
func (lf listFilter) link(k, v string) string {
	q := lf.Values()
	if k != "" {
		q.Set(k, v)
	}
	if len(q) == 0 {
		return "/accounts"
	}
	return "/accounts?" + q.Encode()
}

type appOption struct{ Slug, Name string }

type accountsData struct {
	Filter      listFilter
	FilterError map[string]string
	Apps        []appOption
	Accounts    []*linkd.LinkedAccount
	Total       int64 // -1: not counted (a search)
	PrevURL     string
	NextURL     string
	First       bool // the first page (newest accounts)
}

// handleAccounts lists the tenant's accounts, newest first, with keyset
// paging both ways: "after" continues past an id towards older accounts;
// "before" reads the newer ones in ascending order from an id and turns
// them round. Each page costs one indexed range read at any depth.
func (h *Handler) handleAccounts(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	q := r.URL.Query()
	data := accountsData{Apps: h.appOptions()}
	lf, f, err := parseListFilter(q)
	data.Filter = lf
	if err != nil {
		data.FilterError, _ = fieldErrors(err)
		return h.render(w, r, http.StatusBadRequest, "accounts", Page{Title: "Linked Accounts", Nav: "accounts", Data: data})
	}
	f.Limit = listPageSize
	// A search's exact count reads every account it matches, or every
	// account of the tenant when the search is common (seconds at a million
	// accounts), where its page needs a few: the page goes without it.
	f.SkipTotal = lf.Q != ""
	after, before := q.Get("after"), q.Get("before")
	switch {
	case before != "":
		f.Cursor, f.Desc = before, false
	case after != "":
		f.Cursor, f.Desc = after, true
	default:
		f.Desc = true
	}
	page, err := h.cfg.Services.Accounts.List(r.Context(), c.Tenant(), f)
	if err != nil {
		return err
	}
	accts := page.Accounts
	data.Total = page.Total
	switch {
	case before != "":
		// Read ascending from the cursor: turn the page round. More rows
		// beyond it mean there are newer pages still.
		slices.Reverse(accts)
		if len(accts) > 0 {
			data.NextURL = lf.link("after", accts[len(accts)-1].ID)
			if page.HasNext {
				data.PrevURL = lf.link("before", accts[0].ID)
			}
		}
		data.First = !page.HasNext
	case after != "":
		if len(accts) > 0 {
			data.PrevURL = lf.link("before", accts[0].ID)
		}
		if page.HasNext {
			data.NextURL = lf.link("after", accts[len(accts)-1].ID)
		}
	default:
		data.First = true
		if page.HasNext {
			data.NextURL = lf.link("after", accts[len(accts)-1].ID)
		}
	}
	data.Accounts = accts
	return h.render(w, r, http.StatusOK, "accounts", Page{Title: "Linked Accounts", Nav: "accounts", Data: data})
}

// appOptions lists the catalog's apps for filters.
func (h *Handler) appOptions() []appOption {
	if h.cfg.Connections == nil || h.cfg.Connections.Catalog == nil {
		return nil
	}
	var out []appOption
	for _, a := range h.cfg.Connections.Catalog.Apps() {
		out = append(out, appOption{a.Slug, a.Name})
	}
	return out
}

// appName returns an app's display name, or its slug.
func (h *Handler) appName(slug string) string {
	if h.cfg.Connections != nil && h.cfg.Connections.Catalog != nil {
		if a, ok := h.cfg.Connections.Catalog.App(slug); ok {
			return a.Name
		}
	}
	return slug
}
