package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/linkd-dev/linkd"
)

// jobBacklogQueries select, per kind of linkd.JobKinds, when each waiting
// item became due: at most linkd.MaxBacklogCount of them, the longest-waiting
// first where an index gives that order (refresh, revocation) and the oldest
// ids (time-ordered) first otherwise. An item whose worker's lease ran out
// waits again from the lease's end. ?1 is the time now.
var jobBacklogQueries = map[string]string{
	linkd.JobImport: `SELECT CASE WHEN state = '` + linkd.ImportQueued + `' THEN updated_at ELSE lease_until END AS since FROM import_jobs INDEXED BY import_jobs_claim
		WHERE state = '` + linkd.ImportQueued + `' OR (state = '` + linkd.ImportRunning + `' AND lease_until < ?1)`,
	linkd.JobBulk: `SELECT CASE WHEN state = '` + linkd.BulkQueued + `' THEN updated_at ELSE lease_until END AS since FROM bulk_jobs INDEXED BY bulk_jobs_claim
		WHERE state = '` + linkd.BulkQueued + `' OR (state = '` + linkd.BulkRunning + `' AND lease_until < ?1)`,
	linkd.JobRefresh: `SELECT max(token_expires_at, coalesce(refresh_lease_until, 0)) AS since FROM connections INDEXED BY connections_expiry
		WHERE status = 'active' AND token_expires_at IS NOT NULL AND token_expires_at < ?1
		AND (refresh_lease_until IS NULL OR refresh_lease_until < ?1) ORDER BY token_expires_at`,
	linkd.JobRevocation: `SELECT max(next_at, coalesce(lease_until, 0)) AS since FROM revocations INDEXED BY revocations_due
		WHERE next_at <= ?1 AND (lease_until IS NULL OR lease_until < ?1) ORDER BY next_at`,
}

// JobBacklogs implements linkd.JobBacklogStore.
func (s *Store) JobBacklogs(ctx context.Context, now time.Time) ([]linkd.JobBacklog, error) {
	out := make([]linkd.JobBacklog, 0, len(linkd.JobKinds))
	for _, kind := range linkd.JobKinds {
		b := linkd.JobBacklog{Kind: kind}
		var since sql.NullInt64
		err := s.r.QueryRowContext(ctx, `SELECT count(*), min(since) FROM (`+jobBacklogQueries[kind]+
			` LIMIT `+strconv.Itoa(linkd.MaxBacklogCount)+`) AS w`, micros(now)).Scan(&b.Waiting, &since)
		if err != nil {
			return nil, fmt.Errorf("%s backlog: %w", kind, err)
		}
		if since.Valid {
			b.Since = fromMicros(since.Int64)
		}
		out = append(out, b)
	}
	return out, nil
}
