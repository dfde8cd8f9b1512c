package worker

import (
	"context"

	"github.com/linkd-dev/linkd"
)

// One adapts a store method that claims a single item (ENOTFOUND when none
// is due) to a Source's Claim.
func One[T any](claim func(context.Context, linkd.Claim) (T, error)) func(context.Context, linkd.Claim) ([]T, error) {
	return func(ctx context.Context, c linkd.Claim) ([]T, error) {
		it, err := claim(ctx, c)
		if linkd.ErrorCode(err) == linkd.ENOTFOUND {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		return []T{it}, nil
	}
}

// BulkJobs returns the loop that runs bulk jobs with svc; svc's Owner and
// Lease are the loop's. The loop heartbeats a running job's lease, which
// each batch's save also renews.
func BulkJobs(svc *linkd.BulkService, o Options) *Loop[*linkd.BulkJob] {
	o.Name, o.Owner, o.Lease = "bulk", svc.Owner, svc.Lease
	return New(o, Source[*linkd.BulkJob]{Claim: One(svc.Claim), Run: svc.Run, Heartbeat: svc.Heartbeat, Tenant: (*linkd.BulkJob).Tenant})
}
