package linkd

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// AppCall is one call a tenant's backend made to an app's API through
// linkd (the proxy, later workflows), as the account page lists it. It
// holds what helps someone debug an integration and nothing that could
// leak: never a body, a query string, a header or a credential.
type AppCall struct {
	ID        string // a UUIDv7 of At's millisecond: the log is read and purged by it
	Tenant    Tenant
	AccountID string // the linked account's id, as the API names it
	Slug      string
	At        time.Time // when the call started
	Method    string
	Path      string // below the app's base URL, without the query
	Status    int    // the app's last status; 0 when no answer came
	Duration  time.Duration
	Attempts  int
	// ErrorType names linkd's own failure (an Error's Type, else its
	// Code), "" when the app answered.
	ErrorType string
}

// Bounds of what one AppCall stores: a caller chooses the path and the
// slug, and a log row must not be a way to fill the database.
const (
	maxCallPath = 512
	maxCallSlug = 100
)

// Failed tells a call that linkd failed, or the app answered with a 5xx:
// the "errors" of the account page's error rate. A 4xx is the caller's
// request being refused, which is the app working as it should.
func (c *AppCall) Failed() bool { return c.ErrorType != "" || c.Status >= 500 }

// CallErrorType is the ErrorType of a call that failed with err.
func CallErrorType(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e) && e.Type != "":
		return e.Type
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return ETIMEOUT
	}
	return EINTERNAL
}

// truncateUTF8 cuts s to at most n bytes without splitting a character,
// after making it valid UTF-8 without NULs (PostgreSQL's text refuses
// both, and one bad row must not fail a whole batch).
func truncateUTF8(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// CallStats summarises an account's call log for its page.
type CallStats struct {
	Calls24h  int64 // calls that started in the last 24 hours
	Errors24h int64 // of those, the ones that Failed
	Total     int64 // every call kept (the log's retention bounds it)
}

// CallFilter selects an account's calls, newest first.
type CallFilter struct {
	Slug  string // "" for every app
	Limit int    // 0 or more than MaxPageLimit take DefaultPageLimit / MaxPageLimit
}

// CallLogStore keeps the log of calls to apps' APIs.
type CallLogStore interface {
	// AppendCalls stores a batch of calls, of any tenants, in one
	// transaction (the recorder writes a few hundred at once). Each names
	// its account by its tenant and API id; a call whose account does not
	// exist (deleted since the call) is dropped silently. Deleting an
	// account deletes its calls (AccountStore.DeleteAccount).
	AppendCalls(ctx context.Context, calls []AppCall) error
	// CallStats counts the calls of the account accountID as of now.
	// ENOTFOUND when there is no such account.
	CallStats(ctx context.Context, t Tenant, accountID string, now time.Time) (*CallStats, error)
	// RecentCalls lists the account's calls, newest first. ENOTFOUND when
	// there is no such account.
	RecentCalls(ctx context.Context, t Tenant, accountID string, f CallFilter) ([]AppCall, error)
	// PurgeCalls deletes the calls of every tenant that started before
	// before, and reports how many.
	PurgeCalls(ctx context.Context, before time.Time) (int64, error)
}

// Normalize fills the call's ID from At and bounds what the caller chose,
// as stores expect before they write it.
func (c *AppCall) Normalize() {
	c.At = c.At.UTC().Truncate(time.Microsecond)
	if c.ID == "" {
		c.ID = callID(c.At)
	}
	c.Path = truncateUTF8(c.Path, maxCallPath)
	c.Slug = truncateUTF8(c.Slug, maxCallSlug)
	c.Method = truncateUTF8(c.Method, 16)
	c.ErrorType = truncateUTF8(c.ErrorType, 64)
	if c.Status < 0 || c.Status > 999 {
		c.Status = 0
	}
}

// callID is a UUIDv7 of t: its millisecond, then its fraction of a
// millisecond in the 12 bits UUIDv7 leaves to the generator (256 ns
// steps), then random bits. Unlike NewIDAt it never runs ahead of t: calls
// are logged when they end, not in the order they started, and the log's
// reads by time go by the id, so calls that start within one millisecond
// still list in the order they started.
func callID(t time.Time) string {
	id := uuid.Must(uuid.NewRandom())
	nano := t.UnixNano()
	ms := nano / 1e6
	frac := uint16((nano - ms*1e6) >> 8) // < 3907
	for i := range 6 {
		id[i] = byte(uint64(ms) >> (40 - 8*i))
	}
	id[6] = 0x70 | byte(frac>>8)&0x0f
	id[7] = byte(frac)
	return id.String()
}
