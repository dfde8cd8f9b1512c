package csvio

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"

	"github.com/linkd-dev/linkd"
)

// WriteImportErrors writes every row error of the tenant's import job id as
// CSV (row, column, linked_account_id, message), reading them from the
// store a page at a time. Text cells are escaped as in exports, so a
// message that starts like a formula stays text. ENOTFOUND when there is no
// such job. started tells whether anything was written: after that, an
// ImportErrorsReader is the reads WriteImportErrors needs.
type ImportErrorsReader interface {
	ImportJob(ctx context.Context, t linkd.Tenant, jobID string) (*linkd.ImportJob, error)
	ImportErrors(ctx context.Context, t linkd.Tenant, jobID string, afterRow int64, limit int) ([]linkd.ImportRowError, error)
}

// error can only stop the file short (the caller logs it).
func WriteImportErrors(ctx context.Context, w io.Writer, store ImportErrorsReader, t linkd.Tenant, id string) (started bool, err error) {
	if _, err := store.ImportJob(ctx, t, id); err != nil {
		return false, err
	}
	errs, err := store.ImportErrors(ctx, t, id, 0, 1000)
	if err != nil {
		return false, err
	}
	cw := csv.NewWriter(w)
	cw.Write([]string{"row", "column", "linked_account_id", "message"})
	for len(errs) > 0 {
		for _, e := range errs {
			cw.Write([]string{strconv.FormatInt(e.Row, 10), EscapeText(e.Column), EscapeText(e.AccountID), EscapeText(e.Message)})
		}
		if errs, err = store.ImportErrors(ctx, t, id, errs[len(errs)-1].Row, 1000); err != nil {
			break
		}
	}
	cw.Flush()
	if err != nil {
		return true, err
	}
	return true, cw.Error()
}
