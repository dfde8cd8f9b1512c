package dashboard

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
)

// The mapping step of a dashboard import: the first rows of the staged file
// as the importer reads them, a choice of target for each column, and the
// delimiter and encoding. It works without JavaScript: "Update preview"
// and "Use Windows-1252" post the form back here; "Import" confirms. The
// file itself stays in the database (csvio.Importer.Stage), so this page
// reads only its first chunk, on whichever instance serves it.

func mappingPath(id string) string { return "/imports/" + id + "/mapping" }

// Column choices of the mapping step's selects; udf takes its key from the
// input beside the select.
const (
	choiceUDF  = "udf"
	choiceNone = ""
)

type mappingColumn struct {
	Index  int
	Header string
	Choice string // linked_account_id, name, udf, ignore or "" (not chosen)
	Key    string // the UDF key, when Choice is udf (or offered for it)
	Error  string
}

type mappingData struct {
	Job *linkd.ImportJob
	// Delimiter and Encoding are as chosen ("" detects the delimiter and
	// means UTF-8); Preview says what they came to.
	Delimiter string
	Encoding  string
	Preview   *csvio.Preview
	Columns   []mappingColumn
	// Alt is the file read as Windows-1252, offered when it is not UTF-8.
	Alt   *csvio.Preview
	Error string
}

// handleImportMapping shows (GET) and takes (POST) the mapping step.
func (h *Handler) handleImportMapping(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	job, head, err := h.cfg.Imports.StagedHead(r.Context(), c.Tenant(), c.Actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d := &mappingData{Job: job}
	var form map[string][]string
	confirm := false
	if r.Method == http.MethodGet {
		d.Delimiter, d.Encoding = r.URL.Query().Get("delimiter"), r.URL.Query().Get("encoding")
	} else {
		if err := r.ParseForm(); err != nil {
			return linkd.FieldError("body", "The form could not be read.")
		}
		form = r.PostForm
		d.Delimiter, d.Encoding = r.PostForm.Get("delimiter"), r.PostForm.Get("encoding")
		if v := r.PostForm.Get("use_encoding"); v != "" {
			d.Encoding = v
		}
		// Import only what was shown: when the delimiter or encoding
		// changed since, the columns may have too, so show them first.
		confirm = r.PostForm.Get("action") == "import" && r.PostForm.Get("use_encoding") == "" &&
			d.Delimiter == r.PostForm.Get("shown_delimiter") && d.Encoding == r.PostForm.Get("shown_encoding")
	}
	render := func(status int) error {
		return h.render(w, r, status, "import_mapping", Page{Title: "Map the columns of " + job.FileName, Nav: "accounts", Data: d})
	}
	d.Preview, err = csvio.PreviewFile(head, d.Delimiter, d.Encoding, csvio.PreviewRows)
	if err != nil {
		if linkd.ErrorCode(err) != linkd.EINVALID {
			return err
		}
		d.Error = linkd.ErrorMessage(err)
		return render(http.StatusBadRequest)
	}
	d.Columns = mappingColumns(d.Preview, form)
	if d.Preview.NotUTF8 {
		d.offerWindows1252(head)
	}
	if !confirm {
		return render(http.StatusOK)
	}
	mapping, ok := d.mapping()
	if !ok {
		d.Error = "Say what each column holds (or ignore it) before importing."
		return render(http.StatusBadRequest)
	}
	imp, err := h.cfg.Imports.Confirm(r.Context(), c.Tenant(), c.Actor(), job.ID, d.Delimiter, d.Encoding, mapping)
	if err != nil {
		if code := linkd.ErrorCode(err); code != linkd.EINVALID && code != linkd.ETOOLARGE {
			return err // ECONFLICT: another submit imported it already
		}
		d.Error = linkd.ErrorMessage(err)
		if csvio.IsNotUTF8(err) {
			// The bad bytes were past the preview: offer the other reading
			// all the same.
			d.offerWindows1252(head)
		}
		return render(http.StatusBadRequest)
	}
	if h.cfg.WakeImports != nil {
		h.cfg.WakeImports()
	}
	http.Redirect(w, r, "/imports/"+imp.ID, http.StatusSeeOther)
	return nil
}

// offerWindows1252 reads head as Windows-1252 for the page to show beside
// the UTF-8 reading, unless that is what was chosen already.
func (d *mappingData) offerWindows1252(head []byte) {
	if d.Preview.Encoding == linkd.EncodingWindows1252 {
		return
	}
	if alt, err := csvio.PreviewFile(head, d.Delimiter, linkd.EncodingWindows1252, csvio.PreviewRows); err == nil && alt.Encoding == linkd.EncodingWindows1252 {
		d.Alt = alt
	}
}

// mappingColumns is each column of p with its choice: the one posted for it
// when the form showed the same heading at the same place, else what its
// heading matches.
func mappingColumns(p *csvio.Preview, form map[string][]string) []mappingColumn {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	cols := make([]mappingColumn, len(p.Header))
	for i, hd := range p.Header {
		col := mappingColumn{Index: i, Header: hd, Key: strings.TrimSpace(hd)}
		switch t := p.Targets[i]; {
		case strings.HasPrefix(t, "udf."):
			col.Choice, col.Key = choiceUDF, strings.TrimPrefix(t, "udf.")
		default:
			col.Choice = t
		}
		n := strconv.Itoa(i)
		if form != nil && get("header."+n) == hd {
			col.Choice, col.Key = get("target."+n), get("key."+n)
		}
		cols[i] = col
	}
	return cols
}

// mapping is the columns' choices as csvio takes them, every column named;
// false, with the columns' errors set, when one is not chosen.
func (d *mappingData) mapping() (map[string]string, bool) {
	m := make(map[string]string, len(d.Columns))
	ok := true
	for i := range d.Columns {
		col := &d.Columns[i]
		switch col.Choice {
		case choiceNone:
			col.Error = "Choose what this column holds, or ignore it."
			ok = false
		case choiceUDF:
			if col.Key == "" {
				col.Error = "Give the field a key."
				ok = false
			}
			m[col.Header] = "udf." + col.Key
		default:
			m[col.Header] = col.Choice
		}
	}
	return m, ok
}
