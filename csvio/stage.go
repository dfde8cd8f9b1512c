package csvio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/linkd-dev/linkd"
)

// The dashboard imports in two steps: the file is uploaded and previewed,
// the person checks the delimiter and encoding and says what each column
// holds, then the import starts. The file is chosen and sent once. Between
// the steps it is kept the way every upload is kept, as chunks of a job in
// the database, so the second step may reach any instance:
//
//   - Stage stores the file exactly as uploaded (not decoded: the encoding
//     is one of the things still to be decided) in a job left in state
//     "uploading". That is what it is: its upload is not finished until the
//     columns are mapped. Such a job is not listed, never claimed by a
//     runner, and purged with other abandoned uploads after StaleUpload, so
//     a preview nobody confirms costs nothing for long and needs no new
//     state in the stores.
//   - StagedHead returns the start of the file for PreviewFile.
//   - Confirm streams the stored file through Upload as a new job with the
//     chosen options — the very checks an API upload gets — and removes the
//     staged job just before the new one is queued. Only one confirmation
//     of a staged file can remove it, so a double submit imports once.
//
// A staged job is recognised by its state and by its actor: only who
// uploaded it may preview or confirm it.

// Stage stores body, as uploaded, as the file of a job waiting for its
// columns to be mapped (req's Delimiter, Encoding and Mapping are not used:
// Confirm takes them). The size limit applies; nothing else is checked yet.
func (im *Importer) Stage(ctx context.Context, req UploadRequest, body io.Reader) (*linkd.ImportJob, error) {
	if err := normaliseRequest(&req); err != nil {
		return nil, err
	}
	max := cmpOr(im.MaxBytes, DefaultMaxBytes)
	job := &linkd.ImportJob{ID: linkd.NewID(), OrgID: req.Tenant.OrgID, Env: req.Tenant.Env, Actor: req.Actor, FileName: req.FileName,
		Mode: req.Mode, DryRun: req.DryRun, State: linkd.ImportUploading, CreatedAt: im.now()}
	if err := im.store.CreateImportJob(ctx, job); err != nil {
		return nil, err
	}
	err := func() error {
		buf := make([]byte, linkd.ImportChunkSize)
		var size int64
		for seq := 0; ; seq++ {
			n, rerr := fill(body, buf)
			size += int64(n)
			if size > max {
				return &linkd.Error{Code: linkd.ETOOLARGE, Field: "file", Message: fmt.Sprintf("the file is larger than the limit of %d bytes", max)}
			}
			if n > 0 {
				if err := im.store.AppendImportChunk(ctx, job.Tenant(), job.ID, seq, buf[:n]); err != nil {
					return err
				}
			}
			if rerr == io.EOF {
				break
			} else if rerr != nil {
				return linkd.FieldError("file", "the upload broke off after %d bytes: %v", size, rerr)
			}
		}
		if size == 0 {
			return linkd.FieldError("file", "the file is empty; it needs a header row and at least one account")
		}
		return nil
	}()
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := im.store.DeleteImportJob(dctx, req.Tenant, job.ID); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove refused upload: %w", derr))
		}
		return nil, err
	}
	return job, nil
}

// StagedHead returns a staged job and the first piece of its file (up to
// linkd.ImportChunkSize bytes, as uploaded): plenty for a header and a few
// rows. ENOTFOUND when actor has no such staged job in t (it was confirmed,
// or purged).
func (im *Importer) StagedHead(ctx context.Context, t linkd.Tenant, actor, jobID string) (*linkd.ImportJob, []byte, error) {
	job, err := im.staged(ctx, t, actor, jobID)
	if err != nil {
		return nil, nil, err
	}
	head, err := im.store.ImportChunk(ctx, job.ID, 0)
	if err != nil {
		return nil, nil, err
	}
	return job, head, nil
}

func (im *Importer) staged(ctx context.Context, t linkd.Tenant, actor, jobID string) (*linkd.ImportJob, error) {
	job, err := im.store.ImportJob(ctx, t, jobID)
	if err != nil {
		return nil, err
	}
	if job.State != linkd.ImportUploading || job.Actor != actor {
		return nil, linkd.Errorf(linkd.ENOTFOUND, "there is no uploaded file %s waiting for its columns; upload it again", jobID)
	}
	return job, nil
}

// Confirm imports a staged file with the delimiter, encoding and mapping
// chosen for it (as UploadRequest takes them). The file is checked as any
// upload is; when it is refused the staged file stays, to be confirmed
// again with other choices. On success the staged job is gone and the new,
// queued job is returned. ECONFLICT when another confirmation got there
// first.
func (im *Importer) Confirm(ctx context.Context, t linkd.Tenant, actor, jobID, delimiter, encoding string, mapping map[string]string) (*linkd.ImportJob, error) {
	staged, err := im.staged(ctx, t, actor, jobID)
	if err != nil {
		return nil, err
	}
	req := UploadRequest{Tenant: t, Actor: actor, FileName: staged.FileName, Mode: staged.Mode, DryRun: staged.DryRun,
		Delimiter: delimiter, Encoding: encoding, Mapping: mapping}
	body := &stagedReader{ctx: ctx, store: im.store, jobID: jobID}
	return im.upload(ctx, req, body, func(ctx context.Context) error {
		err := im.store.DeleteImportJob(ctx, t, jobID)
		if linkd.ErrorCode(err) == linkd.ENOTFOUND {
			return linkd.Errorf(linkd.ECONFLICT, "this file was imported already (or its upload expired)")
		}
		return err
	})
}

// stagedReader reads a staged job's file: its chunks in order until the
// first missing one. A file deleted while it is read looks cut short; the
// deletion is then caught by Confirm's last step.
type stagedReader struct {
	ctx   context.Context
	store linkd.ImportStore
	jobID string
	seq   int
	buf   []byte
	done  bool
}

func (s *stagedReader) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.done {
			return 0, io.EOF
		}
		data, err := s.store.ImportChunk(s.ctx, s.jobID, s.seq)
		if linkd.ErrorCode(err) == linkd.ENOTFOUND {
			s.done = true
			continue
		} else if err != nil {
			return 0, err
		}
		s.seq++
		s.buf = data
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func cmpOr(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}
