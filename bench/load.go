package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// loadSpec describes one closed-loop load: Clients goroutines, each sending
// its next request as soon as the previous answer has been read, for Warmup
// (not measured) and then Duration (measured).
type loadSpec struct {
	Name     string
	Clients  int
	Warmup   time.Duration
	Duration time.Duration
	// Request builds the seq-th request of client c in the given attempt
	// (1, 2, … when a disturbed run is repeated); rng is the client's own.
	Request func(attempt, c, seq int, rng *rand.Rand) (*http.Request, error)
	Attempt int
	// Profile, when set, is the file that receives a CPU profile of the
	// measured window (warm-up excluded).
	Profile string
}

// stats are the figures of one load. Latency is from just before the request
// is sent to the last byte of the answer read, as a client sees it.
type stats struct {
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	RPS        float64 `json:"requests_per_second"`
	P50ms      float64 `json:"p50_ms"`
	P90ms      float64 `json:"p90_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	FirstError string  `json:"first_error,omitempty"`
	// CPU is how the machine's cores were used in the measured window.
	CPU cpuUse `json:"cpu"`
	// Attempts is how many times the run was made (see runner.measure);
	// the figures are those of the least disturbed.
	Attempts int `json:"attempts"`
}

// newClient returns a keep-alive client that holds one idle connection per
// load client, so no request pays for a new connection after the warm-up.
func newClient(clients int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // loopback: never through a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        max(clients, 64) * 2,
		MaxIdleConnsPerHost: max(clients, 64) * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// runLoad runs spec against whatever the requests address. Only requests
// that start after the warm-up and finish before the end count; throughput
// is their number over the measured window.
func (r *runner) runLoad(ctx context.Context, client *http.Client, spec loadSpec) (stats, error) {
	start := time.Now()
	from := start.Add(spec.Warmup)
	end := from.Add(spec.Duration)
	// A request stuck past the end must not hold the run forever.
	ctx, cancel := context.WithDeadline(ctx, end.Add(30*time.Second))
	defer cancel()

	lat := make([][]time.Duration, spec.Clients)
	errs := make([]int64, spec.Clients)
	var firstErr string
	var once sync.Once
	var wg sync.WaitGroup
	for c := range spec.Clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c)+1, uint64(start.UnixNano())))
			lat[c] = make([]time.Duration, 0, 1<<14)
			for seq := 0; ; seq++ {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				req, err := spec.Request(spec.Attempt, c, seq, rng)
				if err == nil {
					err = do(client, req.WithContext(ctx))
				}
				t1 := time.Now()
				if t0.Before(from) || t1.After(end) {
					continue
				}
				if err != nil {
					errs[c]++
					once.Do(func() { firstErr = err.Error() })
					continue
				}
				lat[c] = append(lat[c], t1.Sub(t0))
			}
		})
	}
	var use cpuUse
	mon := make(chan error, 1)
	go func() { mon <- watchWindow(ctx, &r.meter, spec.Profile, from, end, &use) }()
	wg.Wait()
	monErr := <-mon
	if err := context.Cause(ctx); err != nil && time.Now().Before(end) {
		return stats{}, err
	}
	if monErr != nil {
		return stats{}, monErr
	}

	var all []time.Duration
	var s stats
	for c := range spec.Clients {
		all = append(all, lat[c]...)
		s.Errors += errs[c]
	}
	slices.Sort(all)
	s.Requests = int64(len(all))
	s.Seconds = spec.Duration.Seconds()
	s.RPS = float64(s.Requests) / s.Seconds
	s.P50ms, s.P90ms, s.P99ms = ms(percentile(all, 0.50)), ms(percentile(all, 0.90)), ms(percentile(all, 0.99))
	if len(all) > 0 {
		s.MaxMs = ms(all[len(all)-1])
	}
	s.FirstError = firstErr
	s.CPU = use
	return s, nil
}

// watchWindow measures CPU use between from and end and, when path is set,
// writes a CPU profile of that window there.
func watchWindow(ctx context.Context, meter *cpuMeter, path string, from, end time.Time, use *cpuUse) error {
	select {
	case <-time.After(time.Until(from)):
	case <-ctx.Done():
		return nil
	}
	start := meter.sample()
	stop, err := startProfile(path)
	if err != nil {
		return err
	}
	select {
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
	}
	*use = meter.sample().since(start, 0, 0)
	return stop()
}

// do sends req and reads the whole answer, which must be 200.
func do(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// percentile returns the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*p)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
