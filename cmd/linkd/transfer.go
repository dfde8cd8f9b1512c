package main

// The import and export commands are clients of a running server's CSV API,
// not of the database: they work against any deployment the user can reach,
// and go through its authentication, limits, job runner and audit log like
// every other caller.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

const (
	apiLinkedAccount = "/api/v2/public/linked-account"
	// pollEvery is how often a running import is looked at.
	pollEvery = 400 * time.Millisecond
	// callTimeout bounds the small JSON calls; uploads and exports stream for
	// as long as they take.
	callTimeout = 30 * time.Second
	// uploadAnswerTimeout bounds the wait for the server's answer once the
	// whole file is sent: it only has to finish storing the last piece.
	uploadAnswerTimeout = 2 * time.Minute
	// pollOutage is how long polling rides out an unreachable server (a
	// restart: the job resumes there) before giving up.
	pollOutage = time.Minute
)

const importSynopsis = "linkd import FILE|- --env test|production [--mode create|upsert] [--dry-run] [--delimiter comma|semicolon|tab|pipe] [--encoding utf-8|windows-1252] [--map HEADER=TARGET]… [--server URL] [--api-key KEY] [--errors-out PATH] [--no-wait]"

// runImport uploads a CSV file to a running server as an import job, follows
// the job to its end and fetches the errors of the rows that failed. It
// fails when the job or any row did, so scripts can tell; the job id is the
// only thing on stdout.
func runImport(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newClientFlags("import", importSynopsis, getenv, stderr)
	mode := f.String("mode", linkd.ImportCreate, "create: an existing linked_account_id is a row error; upsert: an existing account is updated")
	dryRun := f.Bool("dry-run", false, "check every row and count what would happen, writing nothing")
	errorsOut := f.String("errors-out", "", "`path` to write the failed rows' errors to (default FILE.errors.csv, or ./import-ID-errors.csv for standard input)")
	noWait := f.Bool("no-wait", false, "print the job id once the file is uploaded and exit, without waiting for the job")
	delimiter := f.String("delimiter", "", "the `character` between fields: comma, semicolon, tab or pipe (default: detected from the header)")
	encoding := f.String("encoding", "", "the file's `encoding` when it is not UTF-8: windows-1252 (Latin-1); UTF-16 with a BOM is recognised")
	mapping := map[string]string{}
	f.Func("map", "read the column `HEADER=TARGET`, TARGET being linked_account_id, name, udf.KEY or ignore; repeat for more columns", func(s string) error {
		h, target, ok := strings.Cut(s, "=")
		if !ok || h == "" || target == "" {
			return errors.New("want HEADER=TARGET, e.g. --map 'Plan=udf.plan'")
		}
		if _, dup := mapping[h]; dup {
			return fmt.Errorf("column %q is mapped twice", h)
		}
		mapping[h] = target
		return nil
	})
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		f.Usage()
		return usageError{errors.New("import needs one FILE (- for standard input)")}
	}
	if *mode != linkd.ImportCreate && *mode != linkd.ImportUpsert {
		return fmt.Errorf("--mode %q: must be create or upsert", *mode)
	}
	c, err := f.client()
	if err != nil {
		return err
	}

	path := pos[0]
	name, size := "standard input", int64(-1)
	var body io.Reader = stdin
	if path == "-" {
		if sf, ok := stdin.(*os.File); ok {
			// Standard input redirected from a file has a known size.
			if st, err := sf.Stat(); err == nil && st.Mode().IsRegular() {
				if at, err := sf.Seek(0, io.SeekCurrent); err == nil {
					size = st.Size() - at
				}
			}
		}
	} else {
		file, err := os.Open(path)
		if err != nil {
			return err
		}
		defer file.Close()
		st, err := file.Stat()
		if err != nil {
			return err
		}
		if st.IsDir() {
			return fmt.Errorf("%s is a directory", path)
		}
		if st.Mode().IsRegular() {
			size = st.Size()
		}
		name, body = filepath.Base(path), file
	}

	q := url.Values{"mode": {*mode}}
	if path != "-" {
		q.Set("filename", name)
	}
	if *dryRun {
		q.Set("dry_run", "true")
	}
	if *delimiter != "" {
		q.Set("delimiter", *delimiter)
	}
	if *encoding != "" {
		q.Set("encoding", *encoding)
	}
	if len(mapping) > 0 {
		m, err := json.Marshal(mapping)
		if err != nil {
			return err
		}
		q.Set("mapping", string(m))
	}
	start := time.Now()
	p := newProgress(stderr)
	job, err := c.upload(ctx, body, size, q, name, p)
	if err != nil {
		return err
	}
	if *noWait {
		fmt.Fprintf(stderr, "import %s is %s; follow it at %s%s/import/%s\n", job.ID, job.State, c.base, apiLinkedAccount, job.ID)
		fmt.Fprintln(stdout, job.ID)
		return nil
	}
	job, err = c.follow(ctx, job, name, p)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "stopped waiting; import %s goes on on the server\n", job.ID)
			fmt.Fprintln(stdout, job.ID)
			return errors.New("interrupted")
		}
		return fmt.Errorf("following import %s: %w", job.ID, err)
	}

	summarize(stderr, job, name, time.Since(start))
	if job.Failed > 0 {
		out := *errorsOut
		if out == "" && path != "-" {
			out = path + ".errors.csv"
		} else if out == "" {
			out = "import-" + job.ID + "-errors.csv"
		}
		if err := c.download(ctx, job.ErrorsURL, out); err != nil {
			fmt.Fprintf(stderr, "could not save the row errors (%v); get them from %s%s\n", err, c.base, job.ErrorsURL)
		} else {
			fmt.Fprintf(stderr, "the errors of the %s failed %s are in %s\n", count(job.Failed), plural(job.Failed, "row"), out)
		}
	}
	fmt.Fprintln(stdout, job.ID)
	switch {
	case job.State == linkd.ImportCancelled:
		return errors.New("the import was cancelled")
	case job.State != linkd.ImportSucceeded:
		return fmt.Errorf("the import failed: %s", job.Error)
	case job.Failed > 0:
		return fmt.Errorf("%s of %s %s failed", count(job.Failed), count(job.RowsTotal), plural(job.RowsTotal, "row"))
	}
	return nil
}

// summarize reports how a finished job went.
func summarize(w io.Writer, job *importJob, name string, took time.Duration) {
	counts := fmt.Sprintf("created %s, updated %s, unchanged %s, failed %s",
		count(job.Created), count(job.Updated), count(job.Unchanged), count(job.Failed))
	switch job.State {
	case linkd.ImportSucceeded:
		verb := "imported"
		if job.DryRun {
			verb = "checked"
		}
		fmt.Fprintf(w, "%s %s in %s: %s rows; %s\n", verb, name, round(took), count(job.RowsTotal), counts)
	case linkd.ImportCancelled:
		fmt.Fprintf(w, "the import of %s was cancelled after %s of %s rows; %s\n", name, count(job.RowsProcessed), count(job.RowsTotal), counts)
	default:
		fmt.Fprintf(w, "the import of %s failed after %s of %s rows: %s; %s\n", name, count(job.RowsProcessed), count(job.RowsTotal), job.Error, counts)
	}
	if job.DryRun {
		fmt.Fprintln(w, "dry run: nothing was written; the counts are what an import would do")
	}
	const shown = 5
	for i, e := range job.Errors {
		if i == shown {
			fmt.Fprintf(w, "  … and %s more\n", count(job.Failed-shown))
			break
		}
		col := ""
		if e.Column != "" {
			col = " (" + e.Column + ")"
		}
		fmt.Fprintf(w, "  row %d%s: %s\n", e.Row, col, e.Message)
	}
}

const exportSynopsis = "linkd export --env test|production [--server URL] [--api-key KEY] [--q TEXT] [--created-after T] [--created-before T] [--udf KEY=VALUE]… [-o FILE]"

// runExport streams the environment's accounts, in the import format, to
// stdout or to a file that appears only once complete.
func runExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newClientFlags("export", exportSynopsis, getenv, stderr)
	q := url.Values{}
	f.Func("q", "only accounts whose id or name contains `text` (any case)", func(s string) error {
		q.Set("q", s)
		return nil
	})
	f.Func("created-after", "only accounts created after this `time` (RFC 3339, or a date like 2024-05-01)", func(s string) error {
		q.Set("created_after", s)
		return nil
	})
	f.Func("created-before", "only accounts created before this `time` (RFC 3339, or a date)", func(s string) error {
		q.Set("created_before", s)
		return nil
	})
	f.Func("udf", "only accounts whose field KEY is VALUE, as `key=value`; repeat for more (all must match)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return errors.New("want KEY=VALUE")
		}
		q.Add("udf."+k, v)
		return nil
	})
	out := f.String("o", "", "write to `file` (through FILE.tmp, renamed once complete) instead of standard output")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		f.Usage()
		return usageError{fmt.Errorf("unexpected argument %q", pos[0])}
	}
	c, err := f.client()
	if err != nil {
		return err
	}
	u := c.base + apiLinkedAccount + "/export.csv"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := c.send(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	rc := &recordCounter{}
	body := io.TeeReader(res.Body, rc)
	if *out == "" {
		_, err = io.Copy(stdout, body)
	} else {
		_, err = writeFileAtomic(*out, body)
	}
	rows := max(rc.records-1, 0) // the header is not a row
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		return fmt.Errorf("export broke off after %s rows: %w", count(rows), err)
	}
	if *out != "" {
		fmt.Fprintf(stderr, "exported %s rows to %s\n", count(rows), *out)
	} else {
		fmt.Fprintf(stderr, "exported %s rows\n", count(rows))
	}
	return nil
}
