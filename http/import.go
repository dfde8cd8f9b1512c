package http

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
)

// maxErrorsInJob is how many row errors a job's JSON carries; errors.csv has
// them all.
const maxErrorsInJob = 1000

type rowErrorJSON struct {
	Row             int64  `json:"row"`
	Column          string `json:"column"`
	LinkedAccountID string `json:"linked_account_id"`
	Message         string `json:"message"`
}

type importJobJSON struct {
	ID              string            `json:"_id"`
	State           string            `json:"state"`
	Mode            string            `json:"mode"`
	DryRun          bool              `json:"dry_run"`
	FileName        string            `json:"file_name"`
	SizeBytes       int64             `json:"size_bytes"`
	RowsTotal       int64             `json:"rows_total"`
	RowsProcessed   int64             `json:"rows_processed"`
	Created         int64             `json:"created"`
	Updated         int64             `json:"updated"`
	Unchanged       int64             `json:"unchanged"`
	Failed          int64             `json:"failed"`
	Progress        float64           `json:"progress"`
	Delimiter       string            `json:"delimiter"`
	Encoding        string            `json:"encoding"`
	Mapping         map[string]string `json:"mapping"`
	Error           string            `json:"error,omitempty"`
	Errors          []rowErrorJSON    `json:"errors,omitempty"`
	ErrorsTruncated bool              `json:"errors_truncated,omitempty"`
	ErrorsURL       string            `json:"errors_url"`
	CreatedAt       string            `json:"createdAt"`
	StartedAt       *string           `json:"startedAt"`
	FinishedAt      *string           `json:"finishedAt"`
}

func renderImportJob(j *linkd.ImportJob) *importJobJSON {
	out := &importJobJSON{ID: j.ID, State: j.State, Mode: j.Mode, DryRun: j.DryRun, FileName: j.FileName, SizeBytes: j.SizeBytes,
		RowsTotal: j.RowsTotal, RowsProcessed: j.RowsProcessed, Created: j.Created, Updated: j.Updated, Unchanged: j.Unchanged,
		Failed: j.Failed, Delimiter: j.Options.Delimiter, Encoding: j.Options.Encoding, Mapping: j.Options.Mapping,
		Error: j.Error, ErrorsURL: importPath + "/" + j.ID + "/errors.csv",
		CreatedAt: wireTime(j.CreatedAt), StartedAt: optTime(j.StartedAt), FinishedAt: optTime(j.FinishedAt)}
	if out.Mapping == nil {
		out.Mapping = map[string]string{}
	}
	if j.RowsTotal > 0 {
		out.Progress = float64(j.RowsProcessed) / float64(j.RowsTotal)
	}
	if j.State == linkd.ImportSucceeded {
		out.Progress = 1
	}
	return out
}

const importPath = "/api/v2/public/linked-account/import"

// maxMappingBytes bounds the mapping parameter: enough for a wide header.
const maxMappingBytes = 64 << 10

// handleImport takes a CSV file (a text/csv body, or the "file" part of a
// multipart form whose "mode" and "dry_run" fields may come before it) and
// answers at once with the queued job. The file streams into the database;
// the request's memory does not grow with it.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) error {
	if s.imports == nil {
		return linkd.Errorf(linkd.EINTERNAL, "imports are not configured")
	}
	// Large files take longer than the server's read timeout allows others.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	q := r.URL.Query()
	req := csvio.UploadRequest{Tenant: tenant(r), Actor: actor(r), FileName: q.Get("filename"), Mode: q.Get("mode"),
		Delimiter: q.Get("delimiter"), Encoding: q.Get("encoding")}
	dryRun, mapping := q.Get("dry_run"), q.Get("mapping")
	var body io.Reader
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "text/csv", "application/csv", "text/plain", "application/octet-stream":
		body = r.Body
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil || params["boundary"] == "" {
			return linkd.FieldError("body", "malformed multipart body")
		}
		for body == nil {
			part, err := mr.NextPart()
			if err == io.EOF {
				return linkd.FieldError("file", "the form has no \"file\" part")
			} else if err != nil {
				return linkd.FieldError("body", "malformed multipart body: %v", err)
			}
			switch part.FormName() {
			case "file":
				body = part
				if req.FileName == "" {
					req.FileName = part.FileName()
				}
			case "mode", "dry_run", "delimiter", "encoding":
				v, _ := io.ReadAll(io.LimitReader(part, 64))
				switch part.FormName() {
				case "mode":
					req.Mode = string(v)
				case "dry_run":
					dryRun = string(v)
				case "delimiter":
					req.Delimiter = string(v)
				default:
					req.Encoding = string(v)
				}
			case "mapping":
				v, _ := io.ReadAll(io.LimitReader(part, maxMappingBytes+1))
				mapping = string(v)
			}
		}
	default:
		return &linkd.Error{Code: linkd.EUNSUPPORTED, Field: "Content-Type",
			Message: fmt.Sprintf("send the file as text/csv or as the \"file\" part of multipart/form-data, not %q", r.Header.Get("Content-Type"))}
	}
	switch dryRun {
	case "", "false", "0", "off":
	case "true", "1", "on":
		req.DryRun = true
	default:
		return linkd.FieldError("dry_run", "dry_run must be true or false")
	}
	if mapping != "" {
		if len(mapping) > maxMappingBytes {
			return linkd.FieldError("mapping", "mapping is larger than %d bytes", maxMappingBytes)
		}
		if err := json.Unmarshal([]byte(mapping), &req.Mapping); err != nil {
			return linkd.FieldError("mapping", `mapping must be a JSON object of column header to target, like {"Plan":"udf.plan","Notes":"ignore"}`)
		}
	}
	job, err := s.imports.Upload(r.Context(), req, body)
	if err != nil {
		return err
	}
	if s.wakeImports != nil {
		s.wakeImports()
	}
	w.Header().Set("Location", importPath+"/"+job.ID)
	writeJSON(w, http.StatusAccepted, renderImportJob(job))
	return nil
}

func (s *Server) handleGetImport(w http.ResponseWriter, r *http.Request) error {
	t := tenant(r)
	id := r.PathValue("job_id")
	job, err := s.store.ImportJob(r.Context(), t, id)
	if err != nil {
		return err
	}
	errs, err := s.store.ImportErrors(r.Context(), t, id, 0, maxErrorsInJob+1)
	if err != nil {
		return err
	}
	out := renderImportJob(job)
	if len(errs) > maxErrorsInJob {
		errs, out.ErrorsTruncated = errs[:maxErrorsInJob], true
	}
	out.Errors = make([]rowErrorJSON, 0, len(errs))
	for _, e := range errs {
		out.Errors = append(out.Errors, rowErrorJSON{Row: e.Row, Column: e.Column, LinkedAccountID: e.AccountID, Message: e.Message})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleListImports(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := linkd.DefaultPageLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > linkd.MaxPageLimit {
			return linkd.FieldError("limit", "limit must be a whole number from 1 to %d", linkd.MaxPageLimit)
		}
		limit = n
	}
	var cursor string
	if v := q.Get("cursor"); v != "" {
		c, err := decodeCursor(v)
		if err != nil {
			return err
		}
		cursor = c
	}
	jobs, next, err := s.store.ListImportJobs(r.Context(), tenant(r), limit, cursor)
	if err != nil {
		return err
	}
	out := struct {
		Docs        []*importJobJSON `json:"docs"`
		Limit       int              `json:"limit"`
		HasNextPage bool             `json:"hasNextPage"`
		NextCursor  *string          `json:"next_cursor"`
	}{Docs: make([]*importJobJSON, 0, len(jobs)), Limit: limit}
	for _, j := range jobs {
		out.Docs = append(out.Docs, renderImportJob(j))
	}
	if next != "" {
		c := encodeCursor(next)
		out.NextCursor, out.HasNextPage = &c, true
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleImportErrors streams every row error of a job as CSV.
func (s *Server) handleImportErrors(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("job_id")
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="import-`+id+`-errors.csv"`)
	started, err := csvio.WriteImportErrors(r.Context(), w, s.store, tenant(r), id)
	if err != nil && started {
		// The status is sent; all that can be done is to stop short.
		s.logger.ErrorContext(r.Context(), "stream import errors", "err", err, "request_id", requestID(r.Context()))
		return nil
	}
	return err
}

func (s *Server) handleCancelImport(w http.ResponseWriter, r *http.Request) error {
	job, err := s.imports.Cancel(r.Context(), tenant(r), actor(r), r.PathValue("job_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderImportJob(job))
	return nil
}

func (s *Server) handleSampleCSV(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="linked-accounts-sample.csv"`)
	io.WriteString(w, csvio.Sample)
	return nil
}

// handleExport streams the tenant's accounts (with the list's filters) in the
// import format.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) error {
	f, _, err := parseAccountFilter(r.URL.Query())
	if err != nil {
		return err
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="linked-accounts-`+string(tenant(r).Env)+`.csv"`)
	if _, err := csvio.Export(r.Context(), s.store, tenant(r), f, w); err != nil {
		s.logger.ErrorContext(r.Context(), "export", "err", err, "request_id", requestID(r.Context()))
		// Nothing sent yet means the error can still be answered properly.
		if rw, ok := w.(*responseWriter); ok && rw.status == 0 {
			return err
		}
		panic(http.ErrAbortHandler) // cut the stream so the client sees it is incomplete
	}
	return nil
}
