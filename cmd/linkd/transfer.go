package main

// The import and export commands are clients of a running server's CSV API,
// not of the database: they work against any deployment the user can reach,
// and go through its authentication, limits, job runner and audit log like
// every other caller.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

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

// clientFlags is the flag set of a command that calls a running server.
type clientFlags struct {
	*flag.FlagSet
	server, apiKey, env string
}

// newClientFlags defines the flags every client command has. It does not
// use newFlags: those are the server's settings, and listing them in
// "linkd import -h" would only mislead.
func newClientFlags(name, synopsis string, getenv func(string) string, stderr io.Writer) *clientFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &clientFlags{FlagSet: fs, server: defaultServer(getenv), apiKey: getenv("LINKD_API_KEY")}
	fs.StringVar(&f.server, "server", f.server, "base `URL` of the running linkd (LINKD_SERVER, else LINKD_PUBLIC_URL, else http://LINKD_ADDR)")
	// A Func flag, so that -h never prints the key as a default.
	fs.Func("api-key", "API `key` to call with (LINKD_API_KEY; prefer it: other users can see arguments in the process list)", func(s string) error {
		f.apiKey = s
		return nil
	})
	fs.StringVar(&f.env, "env", "", "test or production: the API key's environment, stated so that no command touches production by accident (required)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return f
}

// defaultServer is where a client command finds the server when --server is
// not given: LINKD_SERVER, else the server's own public URL, else its listen
// address (a wildcard one reached on loopback).
func defaultServer(getenv func(string) string) string {
	if v := getenv("LINKD_SERVER"); v != "" {
		return v
	}
	if v := getenv("LINKD_PUBLIC_URL"); v != "" {
		return v
	}
	addr := getenv("LINKD_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
	}
	return "http://" + addr
}

// parse parses flags given before and after the positional arguments
// ("linkd import FILE --env test"), which the flag package alone stops at,
// and returns the positional ones.
func (f *clientFlags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, usageError{err}
		}
		rest := f.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// client checks the settings every call needs and returns the API client.
// The key's environment is checked against --env here, before anything is
// sent.
func (f *clientFlags) client() (*client, error) {
	if f.env == "" {
		return nil, errors.New("--env is required: test or production, the environment of the API key")
	}
	env, err := linkd.ParseEnvironment(f.env)
	if err != nil {
		return nil, fmt.Errorf("--env: %s", linkd.ErrorMessage(err))
	}
	if f.apiKey == "" {
		return nil, errors.New("no API key: set LINKD_API_KEY or pass --api-key (make one with: linkd apikey create --env " + string(env) + ")")
	}
	var keyEnv linkd.Environment
	switch {
	case strings.HasPrefix(f.apiKey, "tk_"):
		keyEnv = linkd.EnvTest
	case strings.HasPrefix(f.apiKey, "pk_"):
		keyEnv = linkd.EnvProduction
	default:
		return nil, errors.New("the API key is not a linkd key: test keys start with tk_, production keys with pk_")
	}
	if keyEnv != env {
		return nil, fmt.Errorf("the API key is a %s key (%s…) but --env is %s; nothing was sent", keyEnv, f.apiKey[:3], env)
	}
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: must be an absolute http(s) URL", f.server)
	}
	return newClient(strings.TrimSuffix(f.server, "/"), f.apiKey), nil
}

// client calls the API of a running server.
type client struct {
	base, key string
	hc        *http.Client
}

func newClient(base, key string) *client {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		// Uploads ask "Expect: 100-continue": a server that refuses the key
		// or the request says so before the file is sent. One that does not
		// answer the question gets the file after this long.
		ExpectContinueTimeout: 2 * time.Second,
	}
	// No client timeout: it would cut long uploads and exports. Calls are
	// bounded by their contexts instead.
	return &client{base: base, key: key, hc: &http.Client{Transport: tr}}
}

// apiError is an error answer of the API.
type apiError struct {
	Status  int    `json:"status_code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *apiError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (field %s)", e.Message, e.Field)
	}
	return e.Message
}

// send makes one call and returns the response of a successful one; an
// error answer becomes an *apiError.
func (c *client) send(req *http.Request) (*http.Response, error) {
	req.Header.Set("x-api-key", c.key)
	req.Header.Set("User-Agent", "linkd/"+version)
	res, err := c.hc.Do(req)
	if err != nil {
		if cerr := context.Cause(req.Context()); cerr != nil {
			return nil, cerr
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("cannot connect to linkd at %s: %v (is it running there? set --server or LINKD_SERVER)", c.base, op.Err)
		}
		return nil, err
	}
	if res.StatusCode >= 300 {
		defer res.Body.Close()
		e := &apiError{}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		if json.Unmarshal(body, e) != nil || e.Message == "" {
			e.Message = "the server answered " + res.Status
		}
		e.Status = res.StatusCode
		return nil, e
	}
	return res, nil
}

// getJSON reads a small JSON answer into v.
func (c *client) getJSON(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	res, err := c.send(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// importJob is the part of the API's import job this command uses.
type importJob struct {
	ID            string  `json:"_id"`
	State         string  `json:"state"`
	Mode          string  `json:"mode"`
	DryRun        bool    `json:"dry_run"`
	RowsTotal     int64   `json:"rows_total"`
	RowsProcessed int64   `json:"rows_processed"`
	Created       int64   `json:"created"`
	Updated       int64   `json:"updated"`
	Unchanged     int64   `json:"unchanged"`
	Failed        int64   `json:"failed"`
	Progress      float64 `json:"progress"`
	Error         string  `json:"error"`
	Errors        []struct {
		Row     int64  `json:"row"`
		Column  string `json:"column"`
		Message string `json:"message"`
	} `json:"errors"`
	ErrorsURL string `json:"errors_url"`
}

func (j *importJob) finished() bool {
	switch j.State {
	case linkd.ImportSucceeded, linkd.ImportFailed, linkd.ImportCancelled:
		return true
	}
	return false
}

const importSynopsis = "linkd import FILE|- --env test|production [--mode create|upsert] [--dry-run] [--server URL] [--api-key KEY] [--errors-out PATH] [--no-wait]"

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

// upload streams body (size bytes, -1 when unknown) as the file of an import
// request with query q, and returns the queued job.
func (c *client) upload(ctx context.Context, body io.Reader, size int64, q url.Values, name string, p *progress) (*importJob, error) {
	// Once the file is sent the answer is due soon; until then the upload
	// takes as long as the file needs.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var answered atomic.Bool
	cr := &countingReader{r: body, eof: func() {
		time.AfterFunc(uploadAnswerTimeout, func() {
			if !answered.Load() {
				cancel(fmt.Errorf("the server took over %s to answer the upload", uploadAnswerTimeout))
			}
		})
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+apiLinkedAccount+"/import?"+q.Encode(), cr)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size // -1, unknown, is sent chunked
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Expect", "100-continue")

	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				p.upload(name, cr.n.Load(), size, now)
			}
		}
	}()
	res, err := c.send(req)
	answered.Store(true)
	close(done)
	<-stopped
	if err != nil {
		p.clear()
		return nil, err
	}
	defer res.Body.Close()
	p.upload(name, cr.n.Load(), size, time.Now())
	var job importJob
	if err := json.NewDecoder(res.Body).Decode(&job); err != nil || job.ID == "" {
		p.clear()
		return nil, fmt.Errorf("the server's answer to the upload is not an import job (%v)", err)
	}
	p.finish()
	return &job, nil
}

// follow polls the job until it ends, drawing its progress. It rides out
// a server that is briefly unreachable (a restart resumes the job) and
// rate limiting.
func (c *client) follow(ctx context.Context, job *importJob, name string, p *progress) (*importJob, error) {
	lastOK := time.Now()
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for !job.finished() {
		select {
		case <-ctx.Done():
			p.finish()
			return job, ctx.Err()
		case <-t.C:
		}
		var cur importJob
		err := c.getJSON(ctx, apiLinkedAccount+"/import/"+url.PathEscape(job.ID), &cur)
		var ae *apiError
		switch {
		case err == nil:
			job, lastOK = &cur, time.Now()
		case ctx.Err() != nil:
			p.finish()
			return job, ctx.Err()
		case errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusTooManyRequests,
			time.Since(lastOK) > pollOutage:
			p.finish()
			return job, err
		}
		p.job(name, job, time.Now())
	}
	p.finish()
	return job, nil
}

// download saves the CSV at path (an API path) to file, via a temporary
// file so that a broken download leaves nothing that looks complete.
func (c *client) download(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	res, err := c.send(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, err = writeFileAtomic(file, res.Body)
	return err
}

// writeFileAtomic copies r to file.tmp and renames it to file once all of it
// is written, so that file is complete or absent.
func writeFileAtomic(file string, r io.Reader) (int64, error) {
	tmp := file + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, r)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return n, err
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

// recordCounter counts the CSV records written through it: line ends outside
// quoted fields (a quoted field may hold line ends; an escaped quote "" flips
// the state twice).
type recordCounter struct {
	records int64
	quoted  bool
}

func (c *recordCounter) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case b == '"':
			c.quoted = !c.quoted
		case b == '\n' && !c.quoted:
			c.records++
		}
	}
	return len(p), nil
}

// countingReader counts what is read through it, for the upload's progress,
// and calls eof once at the end of the input.
type countingReader struct {
	r      io.Reader
	n      atomic.Int64
	eof    func()
	eofRan bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err == io.EOF && !c.eofRan {
		c.eofRan = true
		c.eof()
	}
	return n, err
}

// progress draws progress on stderr: on a terminal, one line redrawn in
// place; elsewhere (CI logs, files) a plain line every few seconds or every
// tenth of the way.
type progress struct {
	w     io.Writer
	tty   bool
	width int // terminal columns, 0 when unknown
	drawn bool

	// plain output: when the last line was printed and at which tenth
	lastAt   time.Time
	lastStep int

	// rate: the first observation of the current phase
	phase    string
	since    time.Time
	sinceVal int64
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, lastStep: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
			p.width = cols
		}
	}
	return p
}

// rate returns the speed of the current phase since it was first seen, per
// second; 0 until there is enough to tell.
func (p *progress) rate(phase string, v int64, now time.Time) float64 {
	if phase != p.phase {
		p.phase, p.since, p.sinceVal = phase, now, v
		p.lastAt, p.lastStep = time.Time{}, -1
		return 0
	}
	d := now.Sub(p.since).Seconds()
	if d < 0.5 {
		return 0
	}
	return float64(v-p.sinceVal) / d
}

// upload draws the upload's progress; size is -1 when unknown.
func (p *progress) upload(name string, sent, size int64, now time.Time) {
	r := p.rate("upload", sent, now)
	frac := -1.0
	parts := []string{"uploading " + name}
	if size > 0 {
		frac = float64(sent) / float64(size)
		parts = append(parts, p.bar(frac)+percent(frac), bytesText(sent)+"/"+bytesText(size))
	} else {
		parts = append(parts, bytesText(sent))
	}
	if r > 0 {
		parts = append(parts, bytesText(int64(r))+"/s")
		if size > 0 {
			parts = append(parts, "ETA "+eta(float64(size-sent)/r))
		}
	}
	p.draw(strings.Join(parts, "  "), frac, now)
}

// job draws an import job's progress.
func (p *progress) job(name string, j *importJob, now time.Time) {
	verb := "importing"
	if j.DryRun {
		verb = "checking"
	}
	parts := []string{verb + " " + name}
	if j.State == linkd.ImportQueued || j.State == linkd.ImportUploading {
		p.draw(strings.Join(append(parts, "queued, waiting for a worker"), "  "), 0, now)
		return
	}
	r := p.rate("job", j.RowsProcessed, now)
	parts = append(parts, p.bar(j.Progress)+percent(j.Progress),
		count(j.RowsProcessed)+"/"+count(j.RowsTotal)+" rows")
	if r > 0 {
		parts = append(parts, count(int64(r))+" rows/s")
		if !j.finished() {
			parts = append(parts, "ETA "+eta(float64(j.RowsTotal-j.RowsProcessed)/r))
		}
	}
	counts := "created " + count(j.Created)
	if j.Mode == linkd.ImportUpsert {
		counts += " updated " + count(j.Updated) + " unchanged " + count(j.Unchanged)
	}
	parts = append(parts, counts+" failed "+count(j.Failed))
	p.draw(strings.Join(parts, "  "), j.Progress, now)
}

// bar is a ten-cell progress bar and a space, on a terminal only.
func (p *progress) bar(frac float64) string {
	if !p.tty {
		return ""
	}
	full := min(max(int(frac*10), 0), 10)
	return strings.Repeat("█", full) + strings.Repeat("░", 10-full) + " "
}

// draw shows line: redrawn in place on a terminal, else printed when the
// last print is 2 s old or frac reached another tenth (frac < 0: unknown).
func (p *progress) draw(line string, frac float64, now time.Time) {
	if p.tty {
		if p.width > 1 && utf8.RuneCountInString(line) >= p.width {
			line = string([]rune(line)[:p.width-1])
		}
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
		return
	}
	step := -1
	if frac >= 0 {
		step = int(frac * 10)
	}
	if now.Sub(p.lastAt) < 2*time.Second && (step < 0 || step == p.lastStep) {
		return
	}
	p.lastAt, p.lastStep = now, step
	fmt.Fprintln(p.w, line)
}

// finish ends the line on screen, keeping it.
func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// clear removes the line on screen.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// count writes n with thousands separators: 1,000,000.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func percent(frac float64) string {
	return strconv.Itoa(min(max(int(frac*100), 0), 100)) + "%"
}

// bytesText writes a size in binary units: 512 B, 1.5 MiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// eta writes the time left, given in seconds, in whole seconds rounded up:
// "0s" would claim the work done.
func eta(secs float64) string {
	return round(time.Duration(math.Ceil(secs)) * time.Second)
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// round shortens a duration for people: 2s, 1m5s, 1h2m0s; under a second,
// tenths.
func round(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
