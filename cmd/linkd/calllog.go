package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/worker"
)

// callLogPurge is the hourly schedule that deletes calls older than the
// retention (LINKD_LOG_RETENTION). Every instance runs it; the schedule's
// tick lets one of them do the work each hour.
func callLogPurge(store linkd.Store, retention time.Duration, o worker.Options, log *slog.Logger) *worker.Schedule {
	return worker.NewSchedule(o, "purge-call-log", time.Hour, store, func(ctx context.Context, _ time.Time) error {
		n, err := store.PurgeCalls(ctx, time.Now().Add(-retention))
		if n > 0 {
			log.Info("purged the call log", "calls", n, "retention", retention)
		}
		return err
	})
}
