package dashboard

import (
	"context"
	"fmt"
	"time"

	"github.com/linkd-dev/linkd"
)

// recentCallsLimit is how many calls the account page's "API calls" card
// lists.
const recentCallsLimit = 20

// callRow is one call to an app's API in the account page's list.
type callRow struct {
	At           time.Time
	Ago          string
	Slug, App    string
	Method, Path string
	Status       int // 0 when the app never answered
	Error        string
	Failed       bool // linkd failed or the app answered 5xx
	Duration     string
	Attempts     int
	Retried      bool
	Initial      string
	Tone         int
}

// loadCalls reads the account's call log: the last day's count and error
// rate, and the newest calls. It only reads (the proxy writes the log).
func (h *Handler) loadCalls(ctx context.Context, c *Current, acct *linkd.LinkedAccount, v *accountView) error {
	t := c.Tenant()
	now := h.now()
	st, err := h.store.CallStats(ctx, t, acct.AccountID, now)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND { // deleted in between
		return accountNotFound(c, acct.AccountID)
	} else if err != nil {
		return err
	}
	v.Calls, v.ErrorRate = st, errorRate(st)
	calls, err := h.store.RecentCalls(ctx, t, acct.AccountID, linkd.CallFilter{Limit: recentCallsLimit})
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, acct.AccountID)
	} else if err != nil {
		return err
	}
	for i := range calls {
		cl := &calls[i]
		row := &callRow{At: cl.At, Ago: ago(now, cl.At), Slug: cl.Slug, App: cl.Slug, Method: cl.Method, Path: cl.Path, Status: cl.Status,
			Error: cl.ErrorType, Failed: cl.Failed(), Duration: callDuration(cl.Duration), Attempts: cl.Attempts, Retried: cl.Attempts > 1}
		if app, ok := h.catalogApp(cl.Slug); ok {
			row.App = app.Name
		}
		row.Initial, row.Tone = appInitial(row.App), appTone(cl.Slug)
		v.RecentCalls = append(v.RecentCalls, row)
	}
	return nil
}

// errorRate is the share of the last day's calls that failed, as the
// card shows it ("0 %", "12.5 %"); "" without calls.
func errorRate(st *linkd.CallStats) string {
	if st == nil {
		return ""
	}
	return percentText(st.Errors24h, st.Calls24h)
}

// percentText is part of whole as the cards show it ("0 %", "12.5 %");
// "" when whole is zero.
func percentText(part, whole int64) string {
	if whole == 0 {
		return ""
	}
	p := float64(part) * 100 / float64(whole)
	if p == float64(int64(p)) {
		return fmt.Sprintf("%d %%", int64(p))
	}
	return fmt.Sprintf("%.1f %%", p)
}

// callDuration is a call's duration in the unit that reads best.
func callDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
