package dashboard

import (
	"encoding/json"
	"net/http"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
)

// maxErrorsShown is how many row errors the progress page lists; the CSV
// has them all.
const maxErrorsShown = 100

type importData struct {
	Job       *linkd.ImportJob
	Percent   int64
	Errors    []linkd.ImportRowError
	Truncated bool
	// Mapping is what each column of the file was read as, in the
	// header's order.
	Mapping []columnTarget
}

type columnTarget struct{ Column, Target string }

func (h *Handler) importData(r *http.Request) (*importData, error) {
	t := current(r).Tenant()
	id := r.PathValue("id")
	job, err := h.store.ImportJob(r.Context(), t, id)
	if err != nil {
		return nil, err
	}
	errs, err := h.store.ImportErrors(r.Context(), t, id, 0, maxErrorsShown+1)
	if err != nil {
		return nil, err
	}
	d := &importData{Job: job, Errors: errs}
	for _, c := range job.Columns {
		if t, ok := job.Options.Mapping[c]; ok {
			d.Mapping = append(d.Mapping, columnTarget{c, t})
		}
	}
	if len(errs) > maxErrorsShown {
		d.Errors, d.Truncated = errs[:maxErrorsShown], true
	}
	if job.RowsTotal > 0 {
		d.Percent = min(100, job.RowsProcessed*100/job.RowsTotal)
	}
	if job.State == linkd.ImportSucceeded {
		d.Percent = 100
	}
	return d, nil
}

// handleImport is an import job's progress page. While the job runs it
// refreshes itself (a meta refresh without JavaScript; app.js polls the
// status instead and updates the numbers in place). Closing it does not
// stop the job.
func (h *Handler) handleImport(w http.ResponseWriter, r *http.Request) error {
	d, err := h.importData(r)
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "import", Page{Title: "Import " + d.Job.FileName, Nav: "accounts", Data: d})
}

// handleImportStatus is the progress page's numbers as JSON, for polling.
func (h *Handler) handleImportStatus(w http.ResponseWriter, r *http.Request) error {
	d, err := h.importData(r)
	if err != nil {
		return err
	}
	j := d.Job
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(map[string]any{
		"state": j.State, "finished": j.Finished(), "percent": d.Percent, "rows_total": j.RowsTotal,
		"rows_processed": j.RowsProcessed, "created": j.Created, "updated": j.Updated, "unchanged": j.Unchanged,
		"failed": j.Failed, "error": j.Error,
	})
}

// handleImportErrors streams every row error of a job as CSV, like the
// API's errors.csv but under the dashboard session.
func (h *Handler) handleImportErrors(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="import-`+id+`-errors.csv"`)
	started, err := csvio.WriteImportErrors(r.Context(), w, h.store, current(r).Tenant(), id)
	if err != nil && started {
		h.logger.ErrorContext(r.Context(), "stream import errors", "err", err)
		return nil
	}
	return err
}
