package workflow

import (
	"context"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/worker"
)

// Schedules returns one schedule per scheduled workflow of the catalog:
// each fires once per period across every instance and queues a run for
// every config that has the workflow switched on, in batches that record
// the tick's progress with its runs (ExecutionService.FireSchedule), so a
// crash cannot fire a period without its runs: another instance finishes
// the tick once its lease runs out.
func Schedules(svc *linkd.ExecutionService, catalog linkd.Catalog, o worker.Options) []*worker.Schedule {
	var out []*worker.Schedule
	for _, app := range catalog.Apps() {
		for i := range app.Workflows {
			w := &app.Workflows[i]
			if w.Trigger == nil || w.Trigger.Period == 0 {
				continue
			}
			out = append(out, worker.NewClaimingSchedule(o, "workflow:"+app.Slug+"/"+w.ID, w.Trigger.Period,
				func(ctx context.Context, name string, slot time.Time, owner string) (time.Time, error) {
					f, err := svc.FireSchedule(ctx, name, slot, owner, app, w)
					return f.Busy, err
				}))
		}
	}
	return out
}
