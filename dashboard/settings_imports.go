package dashboard

import (
	"net/http"
	"net/url"
	"time"

	"github.com/linkd-dev/linkd"
)

// settingsImportsPageSize is how many import jobs a page lists.
const settingsImportsPageSize = 25

type settingsImportsData struct {
	Env     linkd.Environment
	Jobs    []settingsImportRow
	NextURL string
	Paged   bool // not the first page
}

// settingsImportRow is a job with its times written short enough for the
// table: the year only when it is not this one, the finish's date only when
// it is not the start's.
type settingsImportRow struct {
	*linkd.ImportJob
	Started, Finished string
}

func newSettingsImportRow(j *linkd.ImportJob, now time.Time) settingsImportRow {
	row := settingsImportRow{ImportJob: j}
	short := func(t time.Time) string {
		t = t.UTC()
		if t.Year() != now.Year() {
			return t.Format("Jan 2, 2006 15:04")
		}
		return t.Format("Jan 2, 15:04")
	}
	if j.StartedAt != nil {
		row.Started = short(*j.StartedAt)
	}
	if j.FinishedAt != nil {
		row.Finished = short(*j.FinishedAt)
		if j.StartedAt != nil && j.StartedAt.UTC().Format(time.DateOnly) == j.FinishedAt.UTC().Format(time.DateOnly) {
			row.Finished = j.FinishedAt.UTC().Format("15:04")
		}
	}
	return row
}

// handleImportJobs lists the environment's import jobs, newest first, each
// linking to its progress page (/imports/{id}). Pages continue after an id,
// as the API's list does.
func (h *Handler) handleImportJobs(w http.ResponseWriter, r *http.Request) error {
	t := current(r).Tenant()
	after := r.URL.Query().Get("after")
	jobs, next, err := h.store.ListImportJobs(r.Context(), t, settingsImportsPageSize, after)
	if err != nil {
		return err
	}
	d := settingsImportsData{Env: t.Env, Paged: after != ""}
	now := h.now()
	for _, j := range jobs {
		d.Jobs = append(d.Jobs, newSettingsImportRow(j, now))
	}
	if next != "" {
		d.NextURL = "/settings/imports?after=" + url.QueryEscape(next)
	}
	return h.render(w, r, http.StatusOK, "settings_imports", settingsPage("Import jobs", d))
}
