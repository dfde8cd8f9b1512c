package main

// The API client of the import and export commands.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/linkd-dev/linkd"
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
