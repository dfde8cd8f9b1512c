package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/proxy"
)

// The proxy phase measures what linkd's proxy (proxy.Caller behind
// /api/v2/public/proxy/{slug}/…) adds to a call to an app's API: the same
// load, from the same client code, once straight to a loopback upstream and
// once through linkd to it, in the same run. The upstream answers after
// upstreamDelay, as a real API does, so the figures show the proxy's cost
// beside a realistic call rather than beside a no-op. Then it streams
// -proxy-stream-bytes down and up, directly and through linkd, watching the
// process's memory, which must not grow with the size.

// upstreamDelay is how long the upstream takes to answer a small call.
const upstreamDelay = 20 * time.Millisecond

// proxyApp is the app the phase adds to the catalog, as an operator adds one
// with LINKD_APPS; proxyKey is the key the bench's account connects with,
// and proxyAuth the header the upstream checks, built from it as the app's
// proxy block says.
const (
	proxyApp     = "benchapi"
	proxyAccount = "bench-proxy"
	proxyKey     = "bench-key-1"
	proxyAuth    = "Token " + proxyKey
	proxyPath    = "/api/v2/public/proxy/" + proxyApp
)

// upstreamItem is the small JSON answer of the upstream, the size of a
// typical API object.
const upstreamItem = `{"id":"item_8f3a2c","object":"item","amount":4200,"currency":"usd","status":"active","created":1767225600}`

// proxySetup is what newServer needs to serve the proxy routes as `linkd
// serve` does with LINKD_APPS, LINKD_ALLOW_PRIVATE_NETWORKS and
// LINKD_PROXY_MAX_BODY set.
type proxySetup struct {
	upstream string // the upstream's base URL, http://127.0.0.1:PORT
	maxBody  int64
}

// appsYAML is the LINKD_APPS file: a key-based app whose API is the
// upstream. Nil for the other phases: the shipped catalog alone.
func (p *proxySetup) appsYAML() io.Reader {
	if p == nil {
		return nil
	}
	return strings.NewReader(`apps:
  - slug: ` + proxyApp + `
    name: Bench API
    auth_type: keybased
    enabled_by_default: true
    auth_inputs:
      - {name: key, label: Key, type: password, required: true}
    proxy:
      base_url: ` + p.upstream + `/v1
      allowed_hosts: [127.0.0.1]
      auth: {header: X-Key, value: "Token {{fields.key}}"}
`)
}

// caller wires the proxy as cmd/linkd/serve.go does: the SSRF-guarded
// transport (loopback allowed, as LINKD_ALLOW_PRIVATE_NETWORKS=127.0.0.1/32
// does), without transparent gzip. Nil (no proxy routes) for the other
// phases.
func (p *proxySetup) caller(conns *connect.Service, apps *catalog.Catalog) *proxy.Caller {
	if p == nil {
		return nil
	}
	egress := outbound.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	tr := outbound.NewTransport(egress)
	tr.DisableCompression = true
	client := outbound.NewClient(egress)
	client.Transport = tr
	return &proxy.Caller{Connections: conns, Catalog: apps, Client: client, MaxBody: p.maxBody}
}

// newUpstream is the app's API: GET /v1/item answers upstreamItem after
// upstreamDelay; GET /v1/bytes/{n} sends n bytes made on the fly; PUT
// /v1/upload reads the body to the end and says how many bytes came. Every
// call must carry the key as the app's proxy block puts it, so a proxied
// call that got through was authenticated by linkd.
func newUpstream() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/item", func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(upstreamDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, upstreamItem)
	})
	mux.HandleFunc("GET /v1/bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "bad size", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, &patternReader{left: n})
	})
	mux.HandleFunc("PUT /v1/upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"bytes":%d}`, n)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Key") != proxyAuth {
			http.Error(w, `{"error":"bad key"}`, http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// patternBlock is what patternReader repeats.
var patternBlock = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

// patternReader yields left bytes of patternBlock, over and over, holding
// nothing: the upstream's download and the client's upload.
type patternReader struct {
	left int64
	off  int
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := copy(b, patternBlock[p.off:])
	p.off = (p.off + n) % len(patternBlock)
	p.left -= int64(n)
	return n, nil
}

// proxyResult is the proxy phase's figures on one engine.
type proxyResult struct {
	Engine  string `json:"engine"`
	Clients int    `json:"clients"`
	// Direct is the load straight to the upstream, Proxy through linkd.
	Direct stats `json:"direct"`
	Proxy  stats `json:"proxy"`
	// What linkd adds: the proxy's percentile minus the direct one.
	AddedP50ms float64 `json:"added_p50_ms"`
	AddedP99ms float64 `json:"added_p99_ms"`
	// Ratio is the proxy's requests per second over the direct ones.
	Ratio   float64        `json:"throughput_ratio"`
	Target  string         `json:"target"`
	Met     bool           `json:"met"`
	Streams []streamResult `json:"streams,omitempty"`
}

// streamResult is one large transfer, direct and through linkd, with the
// process's memory during each.
type streamResult struct {
	Direction     string  `json:"direction"`
	Bytes         int64   `json:"bytes"`
	DirectSeconds float64 `json:"direct_seconds"`
	ProxySeconds  float64 `json:"proxy_seconds"`
	DirectMBps    float64 `json:"direct_mb_per_second"`
	ProxyMBps     float64 `json:"proxy_mb_per_second"`
	DirectRSS     rssUse  `json:"direct_rss"`
	ProxyRSS      rssUse  `json:"proxy_rss"`
	DirectCPU     cpuUse  `json:"direct_cpu"`
	ProxyCPU      cpuUse  `json:"proxy_cpu"`
	// AfterMiB is VmRSS right after the proxied transfer ended, before
	// any collection the bench forces.
	AfterMiB float64 `json:"after_mib"`
	Target   string  `json:"target"`
	Met      bool    `json:"met"`
}

// streamFlatMiB is how much the process may grow during a proxied transfer
// and still count as flat: buffers and connections, not the data (a 1 GiB
// transfer held in memory would be +1,024 MiB).
const streamFlatMiB = 64

// proxies measures the proxy on eng: the small-call load direct and through
// linkd, then the streams.
func (r *runner) proxies(ctx context.Context, eng engine) error {
	cfg, logf := r.cfg, r.logf
	name := eng.Name()
	upBase, stopUp, err := serve(newUpstream())
	if err != nil {
		return err
	}
	defer stopUp()
	db, bt, err := r.openTenant(ctx, eng, "proxy")
	if err != nil {
		return err
	}
	defer db.Drop()
	// LINKD_PROXY_MAX_BODY above the largest upload, or the upload would
	// be refused at 64 MiB.
	px := &proxySetup{upstream: upBase, maxBody: max(cfg.ProxyStreamBytes+1, proxy.DefaultMaxBody)}
	base, stop, err := serveLinkd(db, bt, px)
	if err != nil {
		return err
	}
	defer stop()
	client := newClient(cfg.ProxyClients)
	defer client.CloseIdleConnections()
	if err := connectProxyAccount(ctx, client, base, bt.secret); err != nil {
		return fmt.Errorf("connect the bench account to %s: %w", proxyApp, err)
	}

	direct := itemSpec(cfg, upBase+"/v1/item", nil, profilePath(cfg, name, "proxy-direct"))
	through := itemSpec(cfg, base+proxyPath+"/item", map[string]string{"x-api-key": bt.secret, "linked_account_id": proxyAccount},
		profilePath(cfg, name, "proxy"))
	for _, spec := range []loadSpec{direct, through} {
		if err := checkItem(ctx, client, spec); err != nil {
			return err
		}
	}
	res := proxyResult{Engine: name, Clients: cfg.ProxyClients}
	logf("%s: proxy: GET item direct to the upstream (%s answer), then through linkd: %d clients, %s warm-up + %s each", name, upstreamDelay, cfg.ProxyClients, cfg.ProxyWarmup, cfg.ProxyDuration)
	if res.Direct, res.Proxy, err = r.measurePair(ctx, client, direct, through); err != nil {
		return err
	}
	logf("%s: proxy: direct %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors %s", name, res.Direct.RPS, res.Direct.P50ms, res.Direct.P99ms, res.Direct.Errors, res.Direct.FirstError)
	logf("%s: proxy: linkd %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors %s", name, res.Proxy.RPS, res.Proxy.P50ms, res.Proxy.P99ms, res.Proxy.Errors, res.Proxy.FirstError)
	res.AddedP50ms = res.Proxy.P50ms - res.Direct.P50ms
	res.AddedP99ms = res.Proxy.P99ms - res.Direct.P99ms
	if res.Direct.RPS > 0 {
		res.Ratio = res.Proxy.RPS / res.Direct.RPS
	}
	res.Target = "added p50 < 1 ms, p99 < 5 ms; ≥ 0.9 × direct"
	res.Met = res.AddedP50ms < 1 && res.AddedP99ms < 5 && res.Ratio >= 0.9 && res.Direct.Errors == 0 && res.Proxy.Errors == 0
	logf("%s: proxy: added p50 %.2f ms, p99 %.2f ms; %.3f × direct", name, res.AddedP50ms, res.AddedP99ms, res.Ratio)

	if n := cfg.ProxyStreamBytes; n > 0 {
		// No whole-call timeout: a slow machine may take minutes for a
		// gibibyte; the phase's context bounds it.
		sc := newClient(1)
		sc.Timeout = 0
		defer sc.CloseIdleConnections()
		auth := map[string]string{"x-api-key": bt.secret, "linked_account_id": proxyAccount}
		down := streamCase{direction: "download", method: http.MethodGet,
			direct: upBase + "/v1/bytes/" + strconv.FormatInt(n, 10), proxied: base + proxyPath + "/bytes/" + strconv.FormatInt(n, 10)}
		up := streamCase{direction: "upload", method: http.MethodPut, upload: true,
			direct: upBase + "/v1/upload", proxied: base + proxyPath + "/upload"}
		for _, c := range []streamCase{down, up} {
			s, err := r.stream(ctx, sc, c, n, auth, name)
			if err != nil {
				return fmt.Errorf("%s: %w", c.direction, err)
			}
			res.Streams = append(res.Streams, s)
		}
	}
	r.rep.Proxies = append(r.rep.Proxies, res)
	return nil
}

// measurePair is runner.measure for a difference: it runs direct and then
// proxied back to back, and repeats both when other processes took CPU
// time during either, keeping the pair whose worse window was the least
// disturbed. Subtracting a quiet direct window from a disturbed proxied one
// (or the reverse) would measure the neighbours, not linkd.
func (r *runner) measurePair(ctx context.Context, client *http.Client, direct, proxied loadSpec) (d, p stats, err error) {
	best := -1.0
	made := 0
	for attempt := 1; attempt <= max(r.cfg.Attempts, 1); attempt++ {
		made = attempt
		r.meter.waitQuiet(ctx, r.cfg.QuietWait, r.logf)
		direct.Attempt, proxied.Attempt = attempt, attempt
		sd, err := r.runLoad(ctx, client, direct)
		if err != nil {
			return d, p, err
		}
		sp, err := r.runLoad(ctx, client, proxied)
		if err != nil {
			return d, p, err
		}
		other := max(sd.CPU.Other, sp.CPU.Other)
		if best < 0 || other < best {
			best, d, p = other, sd, sp
		}
		if other < quietThreshold {
			break
		}
		if attempt < r.cfg.Attempts {
			r.logf("machine: other processes used %.2f cores during the pair (direct %.0f, linkd %.0f req/s); running both again", other, sd.RPS, sp.RPS)
		}
	}
	d.Attempts, p.Attempts = made, made
	return d, p, nil
}

// itemSpec is the small-call load: every client GETs url with headers, and
// the upstream's key, which a direct caller sends itself and linkd injects.
func itemSpec(cfg *config, url string, headers map[string]string, profile string) loadSpec {
	return loadSpec{
		Clients: cfg.ProxyClients, Warmup: cfg.ProxyWarmup, Duration: cfg.ProxyDuration, Profile: profile,
		Request: func(attempt, c, seq int, rng *rand.Rand) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Accept", "application/json")
			if headers == nil {
				req.Header.Set("X-Key", proxyAuth)
			}
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			return req, nil
		},
	}
}

// checkItem makes one request of spec and checks that the upstream's
// answer comes back unchanged, before anything is measured.
func checkItem(ctx context.Context, client *http.Client, spec loadSpec) error {
	req, err := spec.Request(0, 0, 0, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(b) != upstreamItem {
		return fmt.Errorf("GET %s: status %d, body %.300s; want 200 and the upstream's item", req.URL.Path, resp.StatusCode, b)
	}
	return nil
}

// connectProxyAccount creates the bench's linked account and connects it to
// proxyApp with its key, through the API, as a product's backend does.
func connectProxyAccount(ctx context.Context, client *http.Client, base, secret string) error {
	call := func(method, path, body string) error {
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-api-key", secret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
		}
		return nil
	}
	if err := call(http.MethodPost, accountsPath, `{"linked_account_id":"`+proxyAccount+`","name":"Proxy bench"}`); err != nil {
		return err
	}
	return call(http.MethodPut, accountsPath+"/integration/save-key-credentials/"+proxyApp+"?linked_account_id="+proxyAccount,
		`{"key":"`+proxyKey+`"}`)
}

// streamCase is one large transfer: a download the upstream makes, or an
// upload the client makes, to direct (the upstream) or proxied (linkd).
type streamCase struct {
	direction       string
	method          string
	upload          bool
	direct, proxied string
}

// stream runs c directly, then through linkd, each while an rssMeter
// watches the process (server, upstream and client share it: what it shows
// is an upper bound of linkd's share).
func (r *runner) stream(ctx context.Context, client *http.Client, c streamCase, n int64, auth map[string]string, engine string) (streamResult, error) {
	res := streamResult{Direction: c.direction, Bytes: n}
	run := func(url string, headers map[string]string) (float64, rssUse, cpuUse, error) {
		r.meter.waitQuiet(ctx, r.cfg.QuietWait, r.logf)
		m := startRSS()
		cpu0 := r.meter.sample()
		t0 := time.Now()
		err := transfer(ctx, client, c, url, n, headers)
		sec := time.Since(t0).Seconds()
		use := r.meter.sample().since(cpu0, 0, 0)
		return sec, m.end(), use, err
	}
	mb := float64(n) / 1e6
	r.logf("%s: proxy: %s of %d bytes, direct", engine, c.direction, n)
	sec, rss, use, err := run(c.direct, map[string]string{"X-Key": proxyAuth})
	if err != nil {
		return res, fmt.Errorf("direct: %w", err)
	}
	res.DirectSeconds, res.DirectMBps, res.DirectRSS, res.DirectCPU = sec, mb/sec, rss, use
	r.logf("%s: proxy: %s direct %.0f MB/s, RSS %.0f → peak %.0f MiB", engine, c.direction, res.DirectMBps, rss.BaseMiB, rss.PeakMiB)
	r.logf("%s: proxy: %s of %d bytes, through linkd", engine, c.direction, n)
	sec, rss, use, err = run(c.proxied, auth)
	res.AfterMiB = float64(readMem().rss) / (1 << 20)
	if err != nil {
		return res, fmt.Errorf("through linkd: %w", err)
	}
	res.ProxySeconds, res.ProxyMBps, res.ProxyRSS, res.ProxyCPU = sec, mb/sec, rss, use
	res.Target = fmt.Sprintf("RSS growth < %d MiB (flat)", streamFlatMiB)
	growth := rss.GrowthMiB
	if rss.HWMMiB > 0 {
		growth = max(growth, rss.HWMGrowMiB)
	}
	res.Met = growth < streamFlatMiB
	r.logf("%s: proxy: %s through linkd %.0f MB/s, RSS %.0f → peak %.0f (HWM %.0f) → after %.0f MiB", engine, c.direction,
		res.ProxyMBps, rss.BaseMiB, rss.PeakMiB, rss.HWMMiB, res.AfterMiB)
	runtime.GC()
	return res, nil
}

// transfer makes one large request and checks that all n bytes arrived:
// read to the end for a download, as the upstream counted for an upload.
func transfer(ctx context.Context, client *http.Client, c streamCase, url string, n int64, headers map[string]string) error {
	var body io.Reader
	if c.upload {
		body = &patternReader{left: n}
	}
	req, err := http.NewRequestWithContext(ctx, c.method, url, body)
	if err != nil {
		return err
	}
	if c.upload {
		req.ContentLength = n
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if !c.upload {
		got, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("got %d bytes, want %d", got, n)
		}
		return nil
	}
	var ans struct {
		Bytes int64 `json:"bytes"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<10)).Decode(&ans); err != nil {
		return err
	}
	if ans.Bytes != n {
		return fmt.Errorf("the upstream got %d bytes, want %d", ans.Bytes, n)
	}
	return nil
}

// proxyMarkdown renders the proxy phase's two tables: the small calls,
// direct and through linkd, and the streams.
func proxyMarkdown(results []proxyResult) string {
	var b strings.Builder
	b.WriteString("\n### Proxy\n\n")
	fmt.Fprintf(&b, "GET of a small JSON object from a loopback upstream that answers after %s, straight to it (direct) and through `%s/item` (linkd). Added: linkd's percentile minus direct's.\n\n", upstreamDelay, proxyPath)
	b.WriteString("| Engine | Clients | Direct req/s | Direct p50 / p99 ms | linkd req/s | linkd p50 / p99 ms | Added p50 / p99 ms | linkd ÷ direct | Errors | Target | Met | Cores: bench, PG, other (direct; linkd) |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|---|\n")
	for _, x := range results {
		met := "**no**"
		if x.Met {
			met = "yes"
		}
		cores := x.Direct.CPU.String() + "; " + x.Proxy.CPU.String()
		if x.Direct.CPU.Other >= quietThreshold || x.Proxy.CPU.Other >= quietThreshold {
			cores += " †"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.2f / %.2f | %s | %.2f / %.2f | %.2f / %.2f | %.3f | %d | %s | %s | %s |\n",
			x.Engine, x.Clients, thousands(x.Direct.RPS), x.Direct.P50ms, x.Direct.P99ms, thousands(x.Proxy.RPS), x.Proxy.P50ms, x.Proxy.P99ms,
			x.AddedP50ms, x.AddedP99ms, x.Ratio, x.Direct.Errors+x.Proxy.Errors, x.Target, met, cores)
	}
	var streams bool
	for _, x := range results {
		streams = streams || len(x.Streams) > 0
	}
	if streams {
		b.WriteString("\nStreams: one transfer each, direct then through linkd. RSS is the whole bench process's (linkd, the upstream and the client), in MiB: before, sampled peak (kernel's VmHWM) and right after the proxied transfer.\n\n")
		b.WriteString("| Engine | Transfer | Direct MB/s | linkd MB/s | linkd ÷ direct | RSS direct: before → peak | RSS linkd: before → peak (HWM) → after | Target | Met | Cores (direct; linkd) |\n")
		b.WriteString("|---|---|--:|--:|--:|---|---|---|---|---|\n")
		for _, x := range results {
			for _, s := range x.Streams {
				met := "**no**"
				if s.Met {
					met = "yes"
				}
				cores := s.DirectCPU.String() + "; " + s.ProxyCPU.String()
				if s.DirectCPU.Other >= quietThreshold || s.ProxyCPU.Other >= quietThreshold {
					cores += " †"
				}
				fmt.Fprintf(&b, "| %s | %s %s | %.0f | %.0f | %.2f | %.0f → %.0f | %.0f → %.0f (%.0f) → %.0f | %s | %s | %s |\n",
					x.Engine, s.Direction, humanSize(s.Bytes), s.DirectMBps, s.ProxyMBps, s.ProxyMBps/s.DirectMBps,
					s.DirectRSS.BaseMiB, s.DirectRSS.PeakMiB, s.ProxyRSS.BaseMiB, s.ProxyRSS.PeakMiB, s.ProxyRSS.HWMMiB, s.AfterMiB, s.Target, met, cores)
			}
		}
	}
	if strings.Contains(b.String(), " †") {
		fmt.Fprintf(&b, "\n† Other processes kept %.2f cores or more busy during a window: that figure is pessimistic.\n", quietThreshold)
	}
	var errs []string
	for _, x := range results {
		if x.Direct.FirstError != "" {
			errs = append(errs, fmt.Sprintf("%s direct: %s", x.Engine, x.Direct.FirstError))
		}
		if x.Proxy.FirstError != "" {
			errs = append(errs, fmt.Sprintf("%s linkd: %s", x.Engine, x.Proxy.FirstError))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nFirst errors:\n\n")
		for _, e := range errs {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	return b.String()
}

// humanSize names a transfer's size: "1 GiB", "64 MiB", or bytes.
func humanSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
