package linkd

import (
	"time"
)

// Workflow triggers and limits. A schedule shorter than MinScheduleEvery
// would turn a catalog entry into a load generator against the app.
const (
	MinScheduleEvery   = 5 * time.Minute
	DefaultRunTimeout  = 15 * time.Minute
	MaxRunTimeout      = 24 * time.Hour
	DefaultStepTimeout = 30 * time.Second
	MaxStepTimeout     = 5 * time.Minute
	// MaxExprLen caps an operator's expression (a when guard, a set
	// value): expr-lang v1.17.8 can spend unbounded time compiling some
	// inputs, and a real guard is a line.
	MaxExprLen = 512
	// MaxPages caps the pages one paginated http step reads.
	MaxPages = 100
	// MaxStepAttempts caps a retry policy.
	MaxStepAttempts = 10
)

// Connection lifecycle triggers.
const (
	TriggerConnectionCreated = "created"
	TriggerConnectionExpired = "expired"
)

// WorkflowTrigger is what starts a workflow: exactly one of an event the
// product fires for a linked account (by name), a schedule, or a change of
// the account's connection to the app.
type WorkflowTrigger struct {
	Event      string `yaml:"event,omitempty"`
	Every      string `yaml:"every,omitempty"`
	Connection string `yaml:"connection,omitempty"`
	// Period is Every parsed when the catalog loads.
	Period time.Duration `yaml:"-"`
}

// WorkflowStep is one step of a workflow's linear list: an optional guard,
// a retry policy and exactly one action.
type WorkflowStep struct {
	ID string `yaml:"id"`
	// When is an expression (expr-lang) over the step's data; the step
	// is skipped (node status Rejected) when it is false.
	When    string     `yaml:"when,omitempty"`
	Retry   *StepRetry `yaml:"retry,omitempty"`
	Timeout string     `yaml:"timeout,omitempty"`
	// HTTP calls the app through the proxy core as the linked account.
	HTTP *HTTPAction `yaml:"http,omitempty"`
	// Set computes named values, each an expression; the step's body is
	// the map of results.
	Set map[string]string `yaml:"set,omitempty"`
	// Return is the value a run answers with (a tree of templates); it
	// ends the run.
	Return any `yaml:"return,omitempty"`

	// Compiled when the catalog loads.
	Guard       Expr            `yaml:"-"`
	Values      map[string]Expr `yaml:"-"`
	StepTimeout time.Duration   `yaml:"-"`
	Policy      RetryPolicy     `yaml:"-"`
	Returns     bool            `yaml:"-"` // a return step (Return may be null)
	OK          Expr            `yaml:"-"`
	Kind        string          `yaml:"-"` // http, set or return
}

// Expr is a compiled operator expression: it evaluates over a step's data
// (event, config, linked_account, connection, steps) and returns a value.
type Expr func(env map[string]any) (any, error)

// HTTPAction is a call to the app's API. Path, the values of Query and
// Headers and every string of Body are templates over the step's data;
// the app's base URL and credentials come from the catalog's proxy block.
type HTTPAction struct {
	Method  string            `yaml:"method"`
	Path    string            `yaml:"path"`
	Query   map[string]string `yaml:"query,omitempty"`
	Headers map[string]string `yaml:"headers,omitempty"`
	Body    any               `yaml:"body,omitempty"`
	// Form sends Body (a flat map) as application/x-www-form-urlencoded,
	// as Stripe wants; JSON otherwise.
	Form bool `yaml:"form,omitempty"`
	// OK is an expression over the answer (status, headers, body) that
	// must hold for the step to succeed, for apps that answer 200 with
	// an error inside (Slack's "ok": false). By default any 2xx is OK.
	OKWhen   string      `yaml:"ok,omitempty"`
	Paginate *Pagination `yaml:"paginate,omitempty"`
}

// Pagination reads several pages of a list and joins their items.
type Pagination struct {
	// Type is cursor (a body field names the next page's cursor), link
	// (the Link header's rel="next") or offset (a query parameter grows
	// by the page's item count).
	Type string `yaml:"type"`
	// Items is the body path of each page's list ("results"); the step's
	// body is the joined list.
	Items string `yaml:"items"`
	// Cursor is the body path of the next cursor and Param the query
	// parameter it goes in (cursor), or the offset parameter (offset).
	Cursor string `yaml:"cursor,omitempty"`
	Param  string `yaml:"param,omitempty"`
	// MaxPages caps the pages read (default 10, at most MaxPages).
	MaxPages int `yaml:"max_pages,omitempty"`
}

// StepRetry is a step's retry policy as the catalog writes it.
type StepRetry struct {
	Attempts int      `yaml:"attempts"`
	Backoff  string   `yaml:"backoff,omitempty"`
	On       []string `yaml:"on,omitempty"`
}

// Failure kinds a retry policy may name.
const (
	FailNetwork     = "network"      // no answer: refused, reset, DNS
	FailRateLimited = "rate_limited" // 429
	FailServer      = "server_error" // 5xx
	FailClient      = "client_error" // other 4xx, or the ok expression false
	FailTimeout     = "timeout"      // the step's time ran out
)

// FailureKinds are the kinds a policy may list.
var FailureKinds = []string{FailNetwork, FailRateLimited, FailServer, FailClient, FailTimeout}

// RetryPolicy is a step's parsed retry policy.
type RetryPolicy struct {
	Attempts int
	Backoff  time.Duration
	On       map[string]bool
}

// DefaultRetryPolicy retries what is worth retrying (the app was briefly
// unavailable), three attempts in all.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Attempts: 3, Backoff: 10 * time.Second,
		On: map[string]bool{FailNetwork: true, FailRateLimited: true, FailServer: true, FailTimeout: true}}
}

// Retries reports whether a failure of kind after attempt attempts is tried
// again.
func (p RetryPolicy) Retries(kind string, attempt int) bool {
	return attempt < p.Attempts && p.On[kind]
}
