package dashboard

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
)

// newAccountData is the "+ Add Account" page: the Single form as typed,
// with errors by field, and the Multiple (CSV import) form.
type newAccountData struct {
	Tab       string // "single" or "multiple"
	AccountID string
	Name      string
	UDF       []udfRow
	Errors    map[string]string
	Error     string
	// Import form.
	Mode        string
	DryRun      bool
	Delimiter   string
	Encoding    string
	ImportError string
}

// emptyUDFRows is how many blank rows the UDF editor offers; without
// JavaScript "Add field" adds more.
const emptyUDFRows = 1

// handleNewAccount shows the form and creates a single account through the
// same AccountService.Create as the API. Errors come back next to their
// field with everything typed kept. Without JavaScript, "Add field" and
// "Remove" are submit buttons that come back here with the rows changed.
func (h *Handler) handleNewAccount(w http.ResponseWriter, r *http.Request) error {
	data := newAccountData{Tab: "single", Mode: linkd.ImportCreate}
	if r.URL.Query().Get("tab") == "multiple" {
		data.Tab = "multiple"
	}
	if r.Method == http.MethodGet {
		data.UDF = make([]udfRow, emptyUDFRows)
		return h.renderNew(w, r, http.StatusOK, data)
	}
	if err := r.ParseForm(); err != nil {
		return linkd.FieldError("body", "The form could not be read.")
	}
	data.AccountID = r.PostForm.Get("linked_account_id")
	data.Name = r.PostForm.Get("name")
	var edited bool
	if data.UDF, edited = udfRowsForm(r.PostForm); edited {
		return h.renderNew(w, r, http.StatusOK, data)
	}

	udf, seen, bad := udfFromRows(data.UDF)
	in := linkd.AccountInput{AccountID: data.AccountID, Name: &data.Name, UDF: udf}
	if bad {
		return h.renderNew(w, r, http.StatusBadRequest, data)
	}
	c := current(r)
	acct, err := h.cfg.Services.Accounts.Create(r.Context(), c.Tenant(), c.Actor(), in)
	if err != nil {
		var e *linkd.Error
		if !errors.As(err, &e) || linkd.ErrorCode(err) == linkd.EINTERNAL {
			return err
		}
		switch {
		case strings.HasPrefix(e.Field, "udf."):
			if i, ok := seen[strings.TrimPrefix(e.Field, "udf.")]; ok {
				data.UDF[i].ValueError = e.Message // keys were checked above
				break
			}
			data.Error = e.Message
		case e.Field == "linked_account_id" || e.Field == "name" || e.Field == "udf":
			data.Errors = map[string]string{e.Field: e.Message}
		default:
			data.Error = e.Message
		}
		return h.renderNew(w, r, http.StatusBadRequest, data)
	}
	h.redirectNotice(w, r, accountPath(acct.AccountID), "Linked account "+acct.AccountID+" created.")
	return nil
}

func (h *Handler) renderNew(w http.ResponseWriter, r *http.Request, status int, data newAccountData) error {
	if len(data.UDF) == 0 {
		data.UDF = make([]udfRow, emptyUDFRows)
	}
	return h.render(w, r, status, "account_new", Page{Title: "Add linked accounts", Nav: "accounts", Data: data})
}

// handleImportUpload takes the Multiple tab's form (mode, dry run, the
// delimiter and encoding choices, then the file, in that order) and stages
// the file with the Importer: it streams into the database as uploaded, and
// the browser goes on to the mapping step (import_mapping.go), which any
// instance can serve. Nothing is imported until the columns are confirmed.
func (h *Handler) handleImportUpload(w http.ResponseWriter, r *http.Request) error {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	c := current(r)
	data := newAccountData{Tab: "multiple", Mode: linkd.ImportCreate}
	fail := func(msg string) error {
		return h.renderNew(w, r, http.StatusBadRequest, withImportError(data, msg))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return fail("Choose a CSV file to upload.")
	}
	req := csvio.UploadRequest{Tenant: c.Tenant(), Actor: c.Actor(), Mode: linkd.ImportCreate}
	var body io.Reader
	for body == nil {
		part, err := mr.NextPart()
		if err == io.EOF {
			return fail("Choose a CSV file to upload.")
		} else if err != nil {
			return fail("The upload was cut short; try again.")
		}
		switch part.FormName() {
		case "mode":
			v, _ := io.ReadAll(io.LimitReader(part, 64))
			req.Mode, data.Mode = string(v), string(v)
		case "dry_run":
			v, _ := io.ReadAll(io.LimitReader(part, 64))
			req.DryRun = string(v) != "" && string(v) != "false"
			data.DryRun = req.DryRun
		case "delimiter":
			v, _ := io.ReadAll(io.LimitReader(part, 64))
			if req.Delimiter, err = csvio.ParseDelimiter(string(v)); err != nil {
				return fail(linkd.ErrorMessage(err))
			}
			data.Delimiter = req.Delimiter
		case "encoding":
			v, _ := io.ReadAll(io.LimitReader(part, 64))
			if _, err = csvio.ParseEncoding(string(v)); err != nil {
				return fail(linkd.ErrorMessage(err))
			}
			req.Encoding, data.Encoding = string(v), string(v)
		case "file":
			req.FileName = part.FileName()
			if req.FileName == "" {
				return fail("Choose a CSV file to upload.")
			}
			body = part
		}
	}
	job, err := h.cfg.Imports.Stage(r.Context(), req, body)
	if err != nil {
		if linkd.ErrorCode(err) == linkd.EINTERNAL {
			return err
		}
		return fail(linkd.ErrorMessage(err))
	}
	q := url.Values{}
	if req.Delimiter != "" {
		q.Set("delimiter", req.Delimiter)
	}
	if req.Encoding != "" {
		q.Set("encoding", req.Encoding)
	}
	to := mappingPath(job.ID)
	if len(q) > 0 {
		to += "?" + q.Encode()
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

func withImportError(d newAccountData, msg string) newAccountData {
	d.ImportError = msg
	return d
}

// handleSampleCSV serves the same sample file as the API.
func (h *Handler) handleSampleCSV(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="linked-accounts-sample.csv"`)
	_, err := io.WriteString(w, csvio.Sample)
	return err
}
