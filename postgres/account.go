package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/linkd-dev/linkd"
)

// countSlots is how many rows a tenant's account count is spread over, so
// that concurrent creates and deletes do not all queue on one row lock.
const countSlots = 16

const accountColumns = `id, account_id, name, udf, data_key, credentials, import_job, connected_apps, active_workflows, created_at, updated_at`

func scanAccount(row pgx.Row) (*linkd.LinkedAccount, error) {
	var a linkd.LinkedAccount
	var udf []byte
	var job *string
	if err := row.Scan(&a.ID, &a.AccountID, &a.Name, &udf, &a.DataKey, &a.Credentials, &job, &a.ConnectedApps, &a.ActiveWorkflows, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	if job != nil {
		a.ImportJob = *job
	}
	var err error
	if a.UDF, err = linkd.DecodeUDF(a.ID, udf); err != nil {
		return nil, err
	}
	return &a, nil
}

func accountNotFound(t linkd.Tenant, accountID string) error {
	return linkd.AccountNotFoundIn(t, accountID)
}

// findAccount reads one account with its UDFs; ENOTFOUND when absent. With
// forUpdate it locks the row until the transaction q belongs to ends.
func findAccount(ctx context.Context, q querier, t linkd.Tenant, accountID string, forUpdate bool) (*linkd.LinkedAccount, error) {
	if !isID(t.OrgID) {
		return nil, accountNotFound(t, accountID)
	}
	query := `SELECT ` + accountColumns + ` FROM linked_accounts WHERE org_id = $1 AND env = $2 AND account_id = $3`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	a, err := scanAccount(q.QueryRow(ctx, query, t.OrgID, t.Env, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, accountNotFound(t, accountID)
	} else if err != nil {
		return nil, fmt.Errorf("find account %q: %w", accountID, err)
	}
	return a, nil
}

// FindAccount implements linkd.AccountStore.
func (s *Store) FindAccount(ctx context.Context, t linkd.Tenant, accountID string) (*linkd.LinkedAccount, error) {
	return findAccount(ctx, s.pool, t, accountID, false)
}

// PutAccount implements linkd.AccountStore. The account's row is locked
// while fn decides, so concurrent updates of one account queue instead of
// losing each other's changes. A row that does not exist cannot be locked:
// when two transactions create the same account at once, the second one's
// insert fails on the unique account id and the whole transaction runs
// again, so fn runs more than once and then sees the row the first created.
func (s *Store) PutAccount(ctx context.Context, t linkd.Tenant, accountID string, fn linkd.PutFunc) (*linkd.LinkedAccount, bool, error) {
	var out *linkd.LinkedAccount
	var created bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out, created = nil, false
		cur, err := findAccount(ctx, tx, t, accountID, true)
		if linkd.ErrorCode(err) == linkd.ENOTFOUND {
			cur = nil
		} else if err != nil {
			return err
		}
		next, ev, err := fn(cur)
		if err != nil {
			return err
		}
		if next == nil {
			if cur == nil {
				return fmt.Errorf("put account %q: nothing to write for a new account", accountID)
			}
			out = cur
			return nil
		}
		if cur == nil {
			err = insertAccount(ctx, tx, t, next)
		} else {
			err = updateAccount(ctx, tx, t, next)
		}
		if err != nil {
			return err
		}
		if err := insertAudit(ctx, tx, t, ev); err != nil {
			return err
		}
		out, created = next, cur == nil
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// CreateAccount implements linkd.AccountStore in one statement, committed
// on its own: one round trip. The insert decides whether the id is taken
// (ON CONFLICT DO NOTHING on the unique account id), and the count and the
// audit entry are written from its result, so they follow only a real
// insert. A create holds no lock across round trips, which is what kept
// concurrent creates waiting on each other's commits.
func (s *Store) CreateAccount(ctx context.Context, t linkd.Tenant, a *linkd.LinkedAccount, ev *linkd.AuditEntry) error {
	if !isID(t.OrgID) {
		return fmt.Errorf("create account %q: organization id %q is not a uuid", a.AccountID, t.OrgID)
	}
	fields, details, err := auditJSON(ev)
	if err != nil {
		return err
	}
	if len(ev.Events) > 1 {
		return s.createAccountTx(ctx, t, a, ev)
	}
	// The one event a create announces rides in the same statement: a
	// delivery per endpoint that receives it, and the event when there is
	// one (insertEvent's rule), so a tenant without endpoints pays one
	// indexed read and no round trip.
	e := &linkd.Event{}
	if len(ev.Events) == 1 {
		e = ev.Events[0]
	}
	var inserted, delivering int
	search := linkd.SearchText(a.AccountID, a.Name)
	err = s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, credentials, import_job, created_at, updated_at, search, search_trgm)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $25, $26) ON CONFLICT DO NOTHING RETURNING 1
		), cnt AS (
			INSERT INTO account_counts (org_id, env, slot, n) SELECT $1, $2, $12, 1 FROM ins
			ON CONFLICT (org_id, env, slot) DO UPDATE SET n = account_counts.n + 1
		), aud AS (
			INSERT INTO audit_log (org_id, env, id, at, actor, action, account_id, fields, details)
			SELECT $1, $2, $13, $14, $15, $16, $4, $17, $18 FROM ins
		), dlv AS (
			INSERT INTO webhook_deliveries (org_id, env, webhook_id, event_id, state, attempts, next_at, created_at, updated_at)
			SELECT w.org_id, w.env, w.id, $19, 'pending', 0, $24, $24, $24 FROM ins, webhooks w
			WHERE $19 <> '' AND w.org_id = $1 AND w.env = $2 AND w.enabled AND w.events ? $20
			AND (w.slug = '' OR w.slug = $22) AND ($23 = '' OR w.workflow_ids = '[]'::jsonb OR w.workflow_ids ? $23)
			RETURNING 1
		), evt AS (
			INSERT INTO webhook_events (org_id, env, id, type, account_id, slug, workflow_id, payload, created_at)
			SELECT $1, $2, $19, $20, $4, $22, $23, $21, $24 WHERE EXISTS (SELECT 1 FROM dlv)
		)
		SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM dlv)`,
		t.OrgID, t.Env, a.ID, a.AccountID, a.Name, string(linkd.EncodeUDF(a.UDF)), a.DataKey, a.Credentials, nullID(a.ImportJob),
		a.CreatedAt, a.UpdatedAt, countSlot(a.AccountID), ev.ID, ev.Time, ev.Actor, ev.Action, fields, details,
		e.ID, e.Type, eventPayload(e), e.Slug, e.WorkflowID, eventTime(e, ev), search, linkd.TrigramText(search)).Scan(&inserted, &delivering)
	if err != nil {
		return fmt.Errorf("create account %q: %w", a.AccountID, err)
	}
	if inserted == 0 {
		return linkd.AccountExists(t, a.AccountID)
	}
	if delivering > 0 {
		s.signal(linkd.WorkWebhooks)
	}
	return nil
}

// eventTime is when e happened, as insertEvent stamps its rows on the other
// paths (the entry's time for an entry without an event).
func eventTime(e *linkd.Event, ev *linkd.AuditEntry) time.Time {
	if e.CreatedAt.IsZero() {
		return ev.Time
	}
	return e.CreatedAt
}

// createAccountTx is CreateAccount for an audit entry with several events,
// in a transaction of several statements.
func (s *Store) createAccountTx(ctx context.Context, t linkd.Tenant, a *linkd.LinkedAccount, ev *linkd.AuditEntry) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		search := linkd.SearchText(a.AccountID, a.Name)
		tag, err := tx.Exec(ctx, `INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, credentials, import_job, created_at, updated_at, search, search_trgm)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING`, t.OrgID, t.Env, a.ID, a.AccountID, a.Name,
			string(linkd.EncodeUDF(a.UDF)), a.DataKey, a.Credentials, nullID(a.ImportJob), a.CreatedAt, a.UpdatedAt, search, linkd.TrigramText(search))
		if err != nil {
			return fmt.Errorf("create account %q: %w", a.AccountID, err)
		}
		if tag.RowsAffected() == 0 {
			return linkd.AccountExists(t, a.AccountID)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO account_counts (org_id, env, slot, n) VALUES ($1, $2, $3, 1)
			ON CONFLICT (org_id, env, slot) DO UPDATE SET n = account_counts.n + 1`, t.OrgID, t.Env, countSlot(a.AccountID)); err != nil {
			return fmt.Errorf("create account %q: %w", a.AccountID, err)
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

func insertAccount(ctx context.Context, tx pgx.Tx, t linkd.Tenant, a *linkd.LinkedAccount) error {
	search := linkd.SearchText(a.AccountID, a.Name)
	_, err := tx.Exec(ctx, `INSERT INTO linked_accounts (org_id, env, id, account_id, name, udf, data_key, credentials, import_job, created_at, updated_at, search, search_trgm)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, t.OrgID, t.Env, a.ID, a.AccountID, a.Name, string(linkd.EncodeUDF(a.UDF)),
		a.DataKey, a.Credentials, nullID(a.ImportJob), a.CreatedAt, a.UpdatedAt, search, linkd.TrigramText(search))
	if isConstraint(err, "linked_accounts_account_id_key") {
		return fmt.Errorf("insert account %q: %w: %w", a.AccountID, errRetry, err)
	} else if err != nil {
		return fmt.Errorf("insert account %q: %w", a.AccountID, err)
	}
	return addCount(ctx, tx, t, a.AccountID, 1)
}

func updateAccount(ctx context.Context, tx pgx.Tx, t linkd.Tenant, a *linkd.LinkedAccount) error {
	search := linkd.SearchText(a.AccountID, a.Name)
	_, err := tx.Exec(ctx, `UPDATE linked_accounts SET name = $1, udf = $2, data_key = $3, credentials = $4, import_job = $5, updated_at = $6,
		search = $10, search_trgm = $11 WHERE org_id = $7 AND env = $8 AND id = $9`,
		a.Name, string(linkd.EncodeUDF(a.UDF)), a.DataKey, a.Credentials, nullID(a.ImportJob), a.UpdatedAt, t.OrgID, t.Env, a.ID,
		search, linkd.TrigramText(search))
	if err != nil {
		return fmt.Errorf("update account %q: %w", a.AccountID, err)
	}
	return nil
}

// nullID passes an optional id: NULL when empty.
func nullID(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// countSlot spreads a tenant's count over countSlots rows by account id. It
// must stay the same function as the sqlite store's, so that a create and
// the delete of the same account touch the same slot.
func countSlot(accountID string) int {
	h := fnv.New32a()
	h.Write([]byte(accountID))
	return int(h.Sum32() % countSlots)
}

func addCount(ctx context.Context, tx pgx.Tx, t linkd.Tenant, accountID string, delta int) error {
	_, err := tx.Exec(ctx, `INSERT INTO account_counts (org_id, env, slot, n) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, env, slot) DO UPDATE SET n = account_counts.n + excluded.n`, t.OrgID, t.Env, countSlot(accountID), delta)
	if err != nil {
		return fmt.Errorf("count accounts: %w", err)
	}
	return nil
}

// DeleteAccount implements linkd.AccountStore. The account's row is locked
// first, so a concurrent PutConnection or RemoveConnections on it either
// finishes before fn sees the connections or finds the account gone.
func (s *Store) DeleteAccount(ctx context.Context, t linkd.Tenant, accountID string, fn linkd.RemoveFunc) error {
	if !isID(t.OrgID) {
		return accountNotFound(t, accountID)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		acct, err := findAccount(ctx, tx, t, accountID, true)
		if err != nil {
			return err
		}
		conns, err := accountConnections(ctx, tx, t, acct.ID)
		if err != nil {
			return err
		}
		revs, ev, err := fn(acct, conns)
		if err != nil {
			return err
		}
		// Everything the account owns goes in the same transaction.
		for _, q := range []string{
			`DELETE FROM connections WHERE org_id = $1 AND env = $2 AND account_pk = $3`,
			`DELETE FROM configs WHERE org_id = $1 AND env = $2 AND account_pk = $3`,
			`DELETE FROM session_tokens WHERE org_id = $1 AND env = $2 AND account_pk = $3`,
			`DELETE FROM api_calls WHERE org_id = $1 AND env = $2 AND account_pk = $3`,
			`DELETE FROM linked_accounts WHERE org_id = $1 AND env = $2 AND id = $3`,
		} {
			if _, err := tx.Exec(ctx, q, t.OrgID, t.Env, acct.ID); err != nil {
				return fmt.Errorf("delete account %q: %w", accountID, err)
			}
		}
		// Stored Idempotency-Key answers that hold the account's data go
		// too: a replay must not bring a deleted account back.
		if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE org_id = $1 AND env = $2 AND account_id = $3`, t.OrgID, t.Env, accountID); err != nil {
			return fmt.Errorf("delete account %q: stored responses: %w", accountID, err)
		}
		if err := deleteAccountExecutions(ctx, tx, t, acct.ID); err != nil {
			return err
		}
		// Before the delete's own event is written: that one is pending.
		if err := deleteAccountEvents(ctx, tx, t, accountID); err != nil {
			return err
		}
		if err := insertRevocations(ctx, tx, revs); err != nil {
			return err
		}
		for _, slug := range linkd.ConnectedSlugs(conns) {
			if err := addAppCount(ctx, tx, t, slug, -1); err != nil {
				return err
			}
		}
		if err := addCount(ctx, tx, t, accountID, -1); err != nil {
			return err
		}
		return insertAudit(ctx, tx, t, ev)
	})
}

// ListAccounts implements linkd.AccountStore.
func (s *Store) ListAccounts(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter) (*linkd.AccountPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = linkd.DefaultPageLimit
	}
	limit = min(limit, linkd.MaxPageLimit)
	if f.Cursor != "" && !isID(f.Cursor) {
		return nil, linkd.BadCursor(f.Cursor)
	}
	page := &linkd.AccountPage{Total: -1}
	if !isID(t.OrgID) {
		if !f.SkipTotal {
			page.Total = 0
		}
		return page, nil
	}

	q, err := s.planAccounts(ctx, t, f, true)
	if err != nil {
		return nil, err
	}
	if q.none {
		page.Total = 0
		return page, nil
	}
	where, args := q.where, q.args
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}

	appOnly := f.ConnectedApp != "" && f.Query == "" && f.CreatedAfter == nil && f.CreatedBefore == nil && len(f.UDF) == 0
	if !f.SkipTotal {
		var err error
		if appOnly {
			err = s.pool.QueryRow(ctx, `SELECT coalesce((SELECT n FROM app_counts WHERE org_id = $1 AND env = $2 AND slug = $3), 0)::bigint`,
				t.OrgID, t.Env, f.ConnectedApp).Scan(&page.Total)
		} else if q.filtered {
			err = s.pool.QueryRow(ctx, `SELECT count(*) FROM `+q.from+` WHERE `+strings.Join(where, " AND "), args...).Scan(&page.Total)
		} else {
			err = s.pool.QueryRow(ctx, `SELECT coalesce(sum(n), 0)::bigint FROM account_counts WHERE org_id = $1 AND env = $2`, t.OrgID, t.Env).Scan(&page.Total)
		}
		if err != nil {
			return nil, fmt.Errorf("count accounts: %w", err)
		}
	}

	order, cmp := "ASC", ">"
	if f.Desc {
		order, cmp = "DESC", "<"
	}
	offset := 0
	if f.Cursor != "" {
		where = append(where, q.key+" "+cmp+" "+arg(f.Cursor))
	} else {
		offset = max(f.Offset, 0)
	}
	query := `SELECT ` + qualifiedColumns + ` FROM ` + q.from + ` WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + q.key + ` ` + order + ` LIMIT ` + arg(limit+1) + ` OFFSET ` + arg(offset)
	if appOnly {
		// The page's ids come from the index connections_slug, in order
		// and limited there, so a page costs the same whether the app has
		// a hundred accounts or a million.
		args = []any{t.OrgID, t.Env, f.ConnectedApp}
		sub := `SELECT DISTINCT account_pk FROM connections WHERE org_id = $1 AND env = $2 AND slug = $3`
		if f.Cursor != "" {
			sub += " AND account_pk " + cmp + " " + arg(f.Cursor)
		}
		sub += ` ORDER BY account_pk ` + order + ` LIMIT ` + arg(limit+1) + ` OFFSET ` + arg(offset)
		query = `SELECT ` + accountColumns + ` FROM linked_accounts WHERE org_id = $1 AND env = $2 AND id IN (` + sub + `) ORDER BY id ` + order
	}
	// Planned for its own arguments (QueryExecModeExec, no prepared
	// statement): a cached statement turns to a generic plan after five
	// runs, which cannot tell a rare search or UDF value from a common one
	// and reads the wrong index for one of them.
	rows, err := s.pool.Query(ctx, query, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	if page.Accounts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*linkd.LinkedAccount, error) { return scanAccount(r) }); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	if len(page.Accounts) > limit {
		page.Accounts = page.Accounts[:limit]
		page.HasNext = true
		page.NextCursor = page.Accounts[limit-1].ID
	}
	return page, nil
}

// accountQuery is how a list reads: the table that drives it (the accounts
// in id order, or one UDF filter's index rows, also in id order), the tests
// every row must pass, with their arguments as $1, $2, … in order (callers
// number further arguments after them), and the column that orders it.
type accountQuery struct {
	from     string // linked_accounts is a
	where    []string
	args     []any
	key      string // the order and cursor column
	filtered bool   // some filter beyond the tenant
	none     bool   // nothing can match
}

// qualifiedColumns are accountColumns of the account aliased a.
var qualifiedColumns = "a." + strings.ReplaceAll(accountColumns, ", ", ", a.")

// planAccounts builds the read of f's accounts (not its paging). With
// indexes, a UDF filter drives the read by its index rows (unless a search
// is given, which the planner serves from linked_accounts_search when it
// is rare and by reading in id order when it is common); without (a full
// export), every filter is a test.
func (s *Store) planAccounts(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter, indexes bool) (*accountQuery, error) {
	q := &accountQuery{from: `linked_accounts a`, key: "a.id"}
	arg := func(v any) string {
		q.args = append(q.args, v)
		return "$" + strconv.Itoa(len(q.args))
	}
	test := func(cond string) {
		q.where = append(q.where, cond)
		q.filtered = true
	}
	q.where = []string{"a.org_id = " + arg(t.OrgID), "a.env = " + arg(t.Env)}
	udf := f.UDF
	if f.Query != "" {
		text := linkd.FoldSearch(f.Query)
		if !linkd.SearchCanMatch(text) {
			q.none = true
			return q, nil
		}
		// The index answers the first test (TrigramText holds letters and
		// digits only: nothing to escape); the second drops what matched
		// across the code of a character.
		test(`a.search_trgm LIKE ` + arg("%"+linkd.TrigramText(text)+"%") + ` AND strpos(a.search, ` + arg(text) + `) > 0`)
	} else if indexes && len(udf) > 0 {
		first, err := s.udf.Rarest(ctx, t, udf)
		if err != nil {
			return nil, err
		}
		m := udf[first]
		udf = append(append([]linkd.UDFMatch(nil), udf[:first]...), udf[first+1:]...)
		// The filter's index rows come in id order: a page reads about
		// limit of them when the rest of the filters pass most rows.
		q.from, q.key = `account_udf u JOIN linked_accounts a ON a.org_id = u.org_id AND a.env = u.env AND a.id = u.account_pk`, "u.account_pk"
		test(`u.org_id = $1 AND u.env = $2 AND u.key = ` + arg(m.Key) + ` AND ` + udfValueTest("u", m.Value, arg))
	}
	// Ids are UUIDv7 of the creation time: the id bound lets the primary key
	// narrow the scan, the created_at test makes it exact.
	if f.CreatedAfter != nil {
		test("a.id >= " + arg(linkd.IDBound(*f.CreatedAfter, false)) + " AND a.created_at > " + arg(*f.CreatedAfter))
	}
	if f.CreatedBefore != nil {
		test("a.id <= " + arg(linkd.IDBound(*f.CreatedBefore, true)) + " AND a.created_at < " + arg(*f.CreatedBefore))
	}
	if f.ConnectedApp != "" {
		// connections_slug (org_id, env, slug, account_pk) answers it.
		test(`EXISTS (SELECT 1 FROM connections c WHERE c.org_id = a.org_id AND c.env = a.env AND c.slug = ` + arg(f.ConnectedApp) + ` AND c.account_pk = a.id)`)
	}
	for _, m := range udf {
		// account_udf_match answers it with one lookup.
		test(`EXISTS (SELECT 1 FROM account_udf x WHERE x.org_id = a.org_id AND x.env = a.env AND x.key = ` + arg(m.Key) +
			` AND ` + udfValueTest("x", m.Value, arg) + ` AND x.account_pk = a.id)`)
	}
	return q, nil
}

// udfIndexed is how many characters of a UDF value account_udf_match holds.
const udfIndexed = 200

// udfValueTest matches the value column of account_udf alias t to v
// through account_udf_match. A value shorter than the indexed prefix is
// matched by it alone: a second, redundant test of the whole value made the
// planner take the two as independent and expect almost no rows, and so
// sort all of a common value's rows instead of reading them in order.
func udfValueTest(t, v string, arg func(any) string) string {
	if utf8.RuneCountInString(v) < udfIndexed {
		return `left(` + t + `.value, 200) = ` + arg(v)
	}
	p := arg(v)
	return `left(` + t + `.value, 200) = left(` + p + `, 200) AND ` + t + `.value = ` + p
}

// countUDF counts the tenant's index rows of m, up to limit (for
// linkd.UDFPlanner).
func (s *Store) countUDF(ctx context.Context, t linkd.Tenant, m linkd.UDFMatch, limit int) (int, error) {
	var n int
	args := []any{pgx.QueryExecModeExec, t.OrgID, t.Env, m.Key, limit}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args)-1)
	}
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM account_udf u WHERE u.org_id = $1 AND u.env = $2 AND u.key = $3
		AND `+udfValueTest("u", m.Value, arg)+` LIMIT $4) x`, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("list accounts: %w", err)
	}
	return n, nil
}

// EachAccount implements linkd.AccountStore. One statement reads one
// snapshot, however long fn takes; pgx hands rows over as they arrive, so
// memory stays flat for any number of accounts.
func (s *Store) EachAccount(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter, fn func(*linkd.LinkedAccount) error) error {
	if !isID(t.OrgID) {
		return nil
	}
	q, err := s.planAccounts(ctx, t, f, false)
	if err != nil || q.none {
		return err
	}
	order := "ASC"
	if f.Desc {
		order = "DESC"
	}
	// When fn stops early, cancelling the query ends it on the server;
	// closing the rows alone would read the rest of the result first.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+qualifiedColumns+` FROM `+q.from+` WHERE `+strings.Join(q.where, " AND ")+` ORDER BY a.id `+order, q.args...)
	if err != nil {
		return fmt.Errorf("scan accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			cancel()
			return fmt.Errorf("scan accounts: %w", err)
		}
		if err := fn(a); err != nil {
			cancel()
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan accounts: %w", err)
	}
	return nil
}
