package dashboard

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
)

// maxSelected bounds the accounts picked one by one (a page shows 25; the
// rest is "all matching the filter").
const maxSelected = 1000

// bulkForm is a bulk action's selection as the list's form posts it.
type bulkForm struct {
	Filter listFilter
	All    bool
	IDs    []string
	Count  int64 // what the confirmation showed
}

// Values renders the selection as hidden form fields.
func (b bulkForm) Values() url.Values {
	q := b.Filter.Values()
	if b.All {
		q.Set("all", "1")
	}
	for _, id := range b.IDs {
		q.Add("id", id)
	}
	return q
}

func (h *Handler) parseBulk(r *http.Request) (bulkForm, linkd.BulkSelection, error) {
	if err := r.ParseForm(); err != nil {
		return bulkForm{}, linkd.BulkSelection{}, linkd.FieldError("body", "The form could not be read.")
	}
	lf, f, err := parseListFilter(r.PostForm)
	b := bulkForm{Filter: lf, All: r.PostForm.Get("all") == "1"}
	if err != nil {
		return b, linkd.BulkSelection{}, err
	}
	b.Count, _ = strconv.ParseInt(r.PostForm.Get("count"), 10, 64)
	if b.All {
		return b, linkd.BulkSelection{Query: f.Query, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore, ConnectedApp: f.ConnectedApp}, nil
	}
	seen := map[string]bool{}
	for _, id := range r.PostForm["id"] {
		if id != "" && !seen[id] {
			seen[id] = true
			b.IDs = append(b.IDs, id)
		}
	}
	if len(b.IDs) > maxSelected {
		return b, linkd.BulkSelection{}, linkd.Errorf(linkd.EINVALID, "Select at most %d accounts one by one, or all that match the filter.", maxSelected)
	}
	return b, linkd.BulkSelection{IDs: b.IDs}, nil
}

// selected returns the accounts picked one by one that exist.
func (h *Handler) selected(r *http.Request, ids []string) ([]*linkd.LinkedAccount, error) {
	t := current(r).Tenant()
	var out []*linkd.LinkedAccount
	for _, id := range ids {
		a, err := h.cfg.Services.Accounts.Get(r.Context(), t, id)
		if linkd.ErrorCode(err) == linkd.ENOTFOUND || linkd.ErrorCode(err) == linkd.EINVALID {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// count is how many accounts a selection holds now.
func (h *Handler) count(r *http.Request, sel linkd.BulkSelection) (int64, error) {
	if len(sel.IDs) > 0 {
		accts, err := h.selected(r, sel.IDs)
		return int64(len(accts)), err
	}
	f := sel.Filter()
	f.Limit = 1
	page, err := h.cfg.Services.Accounts.List(r.Context(), current(r).Tenant(), f)
	if err != nil {
		return 0, err
	}
	return page.Total, nil
}

type bulkDeleteData struct {
	Form     bulkForm
	Count    int64
	Sample   []*linkd.LinkedAccount // a few of the accounts, to name them
	Changed  bool                   // the count differs from what was confirmed
	Hidden   url.Values
	BackLink string
}

// handleBulk runs the list's bulk actions: export streams the selection as
// CSV; delete asks for confirmation, stating the exact count.
func (h *Handler) handleBulk(w http.ResponseWriter, r *http.Request) error {
	b, sel, err := h.parseBulk(r)
	if err != nil {
		return err
	}
	back := b.Filter.link("", "")
	if !b.All && len(b.IDs) == 0 {
		h.redirectNotice(w, r, back, "Select at least one account first.")
		return nil
	}
	t := current(r).Tenant()
	switch r.PostForm.Get("action") {
	case "export":
		name := "linked-accounts-" + string(t.Env) + "-" + h.now().Format("20060102-150405") + ".csv"
		if b.All {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
			if _, err := csvio.Export(r.Context(), h.store, t, sel.Filter(), w); err != nil {
				h.logger.ErrorContext(r.Context(), "export", "err", err)
				panic(http.ErrAbortHandler) // cut the download so it shows as failed
			}
			return nil
		}
		accts, err := h.selected(r, b.IDs)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		return csvio.WriteAccounts(w, accts)
	case "delete":
		return h.confirmBulkDelete(w, r, b, sel, false)
	}
	return linkd.FieldError("action", "Choose export or delete.")
}

func (h *Handler) confirmBulkDelete(w http.ResponseWriter, r *http.Request, b bulkForm, sel linkd.BulkSelection, changed bool) error {
	d := bulkDeleteData{Form: b, Changed: changed, BackLink: b.Filter.link("", "")}
	var err error
	if d.Count, err = h.count(r, sel); err != nil {
		return err
	}
	if len(sel.IDs) > 0 {
		accts, err := h.selected(r, sel.IDs)
		if err != nil {
			return err
		}
		d.Sample = accts[:min(len(accts), 10)]
	} else {
		f := sel.Filter()
		f.Limit, f.Desc, f.SkipTotal = 10, true, true
		page, err := h.cfg.Services.Accounts.List(r.Context(), current(r).Tenant(), f)
		if err != nil {
			return err
		}
		d.Sample = page.Accounts
	}
	d.Hidden = b.Values()
	d.Hidden.Set("count", strconv.FormatInt(d.Count, 10))
	return h.render(w, r, http.StatusOK, "bulk_delete", Page{Title: "Delete accounts", Nav: "accounts", Data: d})
}

// handleBulkDelete starts a confirmed bulk delete as a background job. A
// filter selection is pinned to the accounts that existed when it was
// confirmed; if the count no longer matches what the user saw, the
// confirmation is shown again with the new count.
func (h *Handler) handleBulkDelete(w http.ResponseWriter, r *http.Request) error {
	b, sel, err := h.parseBulk(r)
	if err != nil {
		return err
	}
	if !b.All && len(b.IDs) == 0 {
		h.redirectNotice(w, r, b.Filter.link("", ""), "Select at least one account first.")
		return nil
	}
	now := h.now()
	// Either selection is pinned to the accounts made before the user
	// confirmed it: a filter's list ends there, and an account deleted
	// and made again under a picked id since is not the one picked
	// (AccountService.DeleteCreatedBefore).
	limit := now.Add(time.Microsecond)
	if sel.CreatedBefore == nil || sel.CreatedBefore.After(limit) {
		sel.CreatedBefore = &limit
	}
	var n int64
	if len(sel.IDs) > 0 {
		// A picked selection is pinned to the accounts that exist now, the
		// ones its count counts. The job counts an id it finds gone as done
		// (a runner that takes over after a crash finds gone those its
		// predecessor deleted since its last save), so an id that never
		// was an account, or was deleted before the user confirmed, made
		// the job's Deleted exceed its Selected, and an invalid one counted
		// as failed.
		accts, err := h.selected(r, sel.IDs)
		if err != nil {
			return err
		}
		if len(accts) == 0 {
			// No ids would make the job a filter selection of every account.
			h.redirectNotice(w, r, b.Filter.link("", ""), "None of the selected accounts exists any more.")
			return nil
		}
		sel.IDs = make([]string, len(accts))
		for i, a := range accts {
			sel.IDs[i] = a.AccountID
		}
		n = int64(len(accts))
	} else {
		if n, err = h.count(r, sel); err != nil {
			return err
		}
	}
	if n != b.Count {
		return h.confirmBulkDelete(w, r, b, sel, true)
	}
	c := current(r)
	j, err := h.cfg.Services.Bulk.QueueDelete(r.Context(), c.Tenant(), c.Actor(), sel, n)
	if err != nil {
		return err
	}
	if h.cfg.WakeBulk != nil {
		h.cfg.WakeBulk()
	}
	http.Redirect(w, r, "/bulk/"+j.ID, http.StatusSeeOther)
	return nil
}

type bulkJobData struct {
	Job     *linkd.BulkJob
	Percent int64
}

// handleBulkJob shows a bulk job's progress; it refreshes itself until the
// job ends.
func (h *Handler) handleBulkJob(w http.ResponseWriter, r *http.Request) error {
	j, err := h.store.BulkJob(r.Context(), current(r).Tenant(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d := bulkJobData{Job: j}
	if j.Total > 0 {
		d.Percent = min(100, (j.Done+j.Failed)*100/j.Total)
	}
	if j.Finished() {
		d.Percent = 100
	}
	return h.render(w, r, http.StatusOK, "bulk_job", Page{Title: "Deleting accounts", Nav: "accounts", Data: d})
}
