package workflow

import (
	"context"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/worker"
)

// Schedules returns one schedule per scheduled workflow of the catalog:
// each fires once per period across every instance (worker.NewSchedule
// records the period's tick in the database) and queues a run for every
// config that has the workflow switched on.
func Schedules(svc *linkd.ExecutionService, catalog linkd.Catalog, ticks linkd.TickStore, o worker.Options) []*worker.Schedule {
	var out []*worker.Schedule
	for _, app := range catalog.Apps() {
		for i := range app.Workflows {
			w := &app.Workflows[i]
			if w.Trigger == nil || w.Trigger.Period == 0 {
				continue
			}
			out = append(out, worker.NewSchedule(o, "workflow:"+app.Slug+"/"+w.ID, w.Trigger.Period, ticks,
				func(ctx context.Context, slot time.Time) error {
					_, err := svc.FireSchedule(ctx, app, w, slot)
					return err
				}))
		}
	}
	return out
}
