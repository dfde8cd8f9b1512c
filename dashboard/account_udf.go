package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/csvio"
)

// udfData is the "Update UDF" form: the rows as typed, with their errors,
// and the keys the account had when the form was shown (a key among them
// that is no longer in the rows is removed; keys added meanwhile by someone
// else are left alone).
type udfData struct {
	Account *linkd.LinkedAccount
	Base    string
	Rows    []udfRow
	Orig    []string
	Error   string
}

// handleUDF shows (GET) and saves (POST) the account's user-defined fields.
// Values are typed as in a CSV import (numbers and true/false stay what
// they are; a leading apostrophe keeps them text). Saving merges, as the
// API's upsert does: changed keys are set, removed ones are sent as null.
// Without JavaScript, "Add field" and "Remove" are round trips that keep
// what was typed.
func (h *Handler) handleUDF(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	id := r.PathValue("id")
	acct, err := h.store.FindAccount(r.Context(), c.Tenant(), id)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, id)
	} else if err != nil {
		return err
	}
	d := udfData{Account: acct, Base: accountPath(acct.AccountID)}
	if r.Method == http.MethodGet {
		for _, u := range acct.UDF {
			d.Rows = append(d.Rows, udfRow{Key: u.Key, Value: csvio.CellText(u.Value)})
			d.Orig = append(d.Orig, u.Key)
		}
		d.Rows = append(d.Rows, udfRow{})
		return h.renderUDF(w, r, http.StatusOK, d)
	}
	if err := r.ParseForm(); err != nil {
		return linkd.FieldError("body", "The form could not be read.")
	}
	d.Orig = r.PostForm["udf_orig"]
	var edited bool
	if d.Rows, edited = udfRowsForm(r.PostForm); edited {
		return h.renderUDF(w, r, http.StatusOK, d)
	}

	udf, seen, bad := udfFromRows(d.Rows)
	if bad {
		return h.renderUDF(w, r, http.StatusBadRequest, d)
	}
	var removed []string
	for _, k := range d.Orig {
		if _, kept := seen[k]; !kept && acct.UDFValue(k) != nil {
			udf[k] = json.RawMessage("null")
			removed = append(removed, k)
		}
	}
	in := linkd.AccountInput{AccountID: acct.AccountID, UDF: udf}
	if err := in.Validate(true); err != nil {
		d.Error = linkd.ErrorMessage(err)
		return h.renderUDF(w, r, http.StatusBadRequest, d)
	}
	// Update, not Upsert: an upsert would create the account again had it
	// been deleted since the form was shown.
	_, changed, err := h.cfg.Services.Accounts.Update(r.Context(), c.Tenant(), c.Actor(), in)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, acct.AccountID)
	} else if err != nil {
		var e *linkd.Error
		if !errors.As(err, &e) || e.Code == linkd.EINTERNAL {
			return err
		}
		if i, ok := seen[strings.TrimPrefix(e.Field, "udf.")]; ok && strings.HasPrefix(e.Field, "udf.") {
			d.Rows[i].ValueError = udfMessage(err, d.Rows[i].Key, "The value")
		} else {
			d.Error = e.Message
		}
		return h.renderUDF(w, r, http.StatusBadRequest, d)
	}
	h.redirectNotice(w, r, d.Base, udfNotice(acct, changed, removed))
	return nil
}

// udfNotice says what a save changed.
func udfNotice(acct *linkd.LinkedAccount, changed, removed []string) string {
	if len(changed) == 0 {
		return "Nothing changed: the user-defined fields of " + accountTitle(acct) + " were already as saved."
	}
	var set []string
	for _, f := range changed {
		k := strings.TrimPrefix(f, "udf.")
		if !slices.Contains(removed, k) {
			set = append(set, k)
		}
	}
	var parts []string
	if len(set) > 0 {
		parts = append(parts, "set "+strings.Join(set, ", "))
	}
	var gone []string
	for _, k := range removed {
		if slices.Contains(changed, "udf."+k) {
			gone = append(gone, k)
		}
	}
	if len(gone) > 0 {
		parts = append(parts, "removed "+strings.Join(gone, ", "))
	}
	return fmt.Sprintf("Updated the user-defined fields of %s: %s.", accountTitle(acct), strings.Join(parts, "; "))
}

func (h *Handler) renderUDF(w http.ResponseWriter, r *http.Request, status int, d udfData) error {
	if len(d.Rows) == 0 {
		d.Rows = []udfRow{{}}
	}
	return h.render(w, r, status, "account_udf", Page{Title: "User-defined fields of " + accountTitle(d.Account), Nav: "accounts", Data: d})
}
