package dashboard

import (
	"context"

	"github.com/linkd-dev/linkd"
)

// execStatsWindow is how many of the account's newest runs the
// Executions card's error rate is taken over: one indexed page read, the
// same at any history length.
const execStatsWindow = 100

// execStats is the account page's Executions card.
type execStats struct {
	Total int
	Last  *execRow // the newest run; nil when none
	// Ended is how many of the newest runs (at most execStatsWindow)
	// ended, and ErrorRate the share of those that errored or timed out
	// ("" when none ended).
	Ended     int
	ErrorRate string
	Link      string // the account's Executions tab
}

// loadExecStats reads the account's runs for the card: how many in all,
// the newest, and the error rate of the newest that ended.
func (h *Handler) loadExecStats(ctx context.Context, c *Current, acct *linkd.LinkedAccount, v *accountView) error {
	page, err := h.store.ListExecutions(ctx, c.Tenant(), linkd.ExecutionFilter{AccountID: acct.AccountID, Limit: execStatsWindow})
	if err != nil {
		return err
	}
	st := &execStats{Total: page.Total, Link: accountPath(acct.AccountID) + "/executions"}
	failed := 0
	for i, e := range page.Executions {
		if i == 0 {
			st.Last = h.execRow(e, h.now())
		}
		if !linkd.ExecFinished(e.Status) {
			continue
		}
		st.Ended++
		if e.Status == linkd.ExecErrored || e.Status == linkd.ExecTimedOut {
			failed++
		}
	}
	st.ErrorRate = percentText(int64(failed), int64(st.Ended))
	v.Executions = st
	return nil
}
