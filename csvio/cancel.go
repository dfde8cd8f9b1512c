package csvio

import (
	"context"

	"github.com/linkd-dev/linkd"
)

// Cancel stops the tenant's import job: the rows committed so far stay,
// and the job is marked cancelled (a runner holding it stops at its next
// batch). Cancelling a finished job answers it as it is.
func (im *Importer) Cancel(ctx context.Context, t linkd.Tenant, actor, jobID string) (*linkd.ImportJob, error) {
	now := im.now()
	return im.store.CancelImportJob(ctx, t, jobID, now, func(j *linkd.ImportJob) *linkd.AuditEntry {
		return ImportAudit(j, actor, linkd.ImportCancelled, now)
	})
}
