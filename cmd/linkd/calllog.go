package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/worker"
)

// purgeSchedule is the hourly maintenance job: it deletes the calls and the
// webhook delivery log older than the retention (LINKD_LOG_RETENTION), the
// workflow runs that ended before it, and
// the idempotency records that expired, through the services that own them. Every instance runs it; the
// schedule's tick lets one of them do the work each hour.
func purgeSchedule(ticks linkd.TickStore, calls *linkd.CallRecorder, idem *linkd.IdempotencyService, hooks *linkd.WebhookService, execs *linkd.ExecutionService, retention time.Duration, o worker.Options, log *slog.Logger) *worker.Schedule {
	return worker.NewSchedule(o, "purge-call-log", time.Hour, ticks, func(ctx context.Context, _ time.Time) error {
		now := time.Now()
		n, err := calls.Purge(ctx, now.Add(-retention))
		if n > 0 {
			log.Info("purged the call log", "calls", n, "retention", retention)
		}
		m, ierr := idem.Purge(ctx, now)
		if m > 0 {
			log.Info("purged expired idempotency records", "records", m)
		}
		d, werr := hooks.Purge(ctx, now.Add(-retention))
		if d > 0 {
			log.Info("purged the webhook delivery log", "deliveries", d, "retention", retention)
		}
		x, xerr := execs.Purge(ctx, now.Add(-retention))
		if x > 0 {
			log.Info("purged ended workflow runs", "executions", x, "retention", retention)
		}
		return errors.Join(err, ierr, werr, xerr)
	})
}
