package webhooks

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/worker"
)

// Timeout bounds one delivery attempt, answer included.
const Timeout = 15 * time.Second

// DisableAfter is how long an endpoint may fail every attempt before
// linkd disables it: long enough to outlast an outage and a weekend.
const DisableAfter = 5 * 24 * time.Hour

// ReasonGone is the disabled reason of an endpoint that answered 410.
const ReasonGone = "the endpoint answered 410 Gone"

// Options tune a Sender; zero values take the defaults.
type Options struct {
	// Client sends the deliveries: in production the SSRF-guarded
	// outbound client. Each attempt is also bounded by Timeout.
	Client *http.Client
	// Schedule is the wait before each attempt (ParseSchedule); default
	// DefaultSchedule.
	Schedule []time.Duration
	// DisableAfter overrides DisableAfter.
	DisableAfter time.Duration
	// Observe, when set, is told each attempt's outcome (an Outcome*
	// constant) and how long after its event the attempt was made.
	Observe func(outcome string, sinceEvent time.Duration)
}

// The outcomes of an attempt, as Options.Observe reports them.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeRetrying  = "retrying" // failed; due again later
	OutcomeFailed    = "failed"   // failed, and no attempt is left
	OutcomeDisabled  = "disabled" // failed, and the endpoint was disabled
)

// Sender delivers due webhook deliveries: any number of instances may run
// one over the same database; each attempt is leased, so it is made by
// one of them.
type Sender struct {
	store        linkd.DeliveryStore
	keys         linkd.Keyring
	client       *http.Client
	schedule     []time.Duration
	disableAfter time.Duration
	now          func() time.Time
	logger       *slog.Logger
	loop         *worker.Loop[*linkd.DeliveryJob]
	observe      func(string, time.Duration)
}

// NewSender returns a sender over store; keys opens the endpoints' signing
// secrets. Zero worker options take a 1-minute lease (more than Timeout,
// so no heartbeat is needed), a 1-second poll, 16 deliveries at once and
// at most 4 of one tenant.
func NewSender(store linkd.DeliveryStore, keys linkd.Keyring, so Options, o worker.Options) *Sender {
	o.Name = "webhooks"
	o.Lease = cmp.Or(o.Lease, time.Minute)
	o.Poll = cmp.Or(o.Poll, time.Second)
	o.Concurrency = cmp.Or(o.Concurrency, 16)
	o.TenantCap = cmp.Or(o.TenantCap, 4)
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sender{store: store, keys: keys, client: so.Client, schedule: so.Schedule, disableAfter: cmp.Or(so.DisableAfter, DisableAfter),
		now: o.Clock, logger: o.Logger.With("worker", "webhooks"), observe: so.Observe}
	if s.client == nil {
		s.client = &http.Client{Timeout: Timeout}
	}
	if len(s.schedule) == 0 {
		s.schedule, _ = ParseSchedule(DefaultSchedule)
	}
	s.loop = worker.New(o, worker.Source[*linkd.DeliveryJob]{
		Claim:  store.ClaimDeliveries,
		Run:    s.attempt,
		Tenant: func(j *linkd.DeliveryJob) linkd.Tenant { return j.Tenant },
	})
	return s
}

// Run delivers until ctx ends.
func (s *Sender) Run(ctx context.Context) { s.loop.Run(ctx) }

// Wake makes the sender look for due deliveries now: call it after a
// commit that made some.
func (s *Sender) Wake() { s.loop.Wake() }

// Drain attempts the deliveries due now and reports how many it attempted.
func (s *Sender) Drain(ctx context.Context) (int, error) { return s.loop.Drain(ctx) }

// attempt sends one delivery and records the outcome.
func (s *Sender) attempt(ctx context.Context, j *linkd.DeliveryJob) error {
	at := linkd.StoreTime(s.now())
	a := &linkd.DeliveryAttempt{At: at}
	start := time.Now()
	res, err := s.send(ctx, j, at)
	a.Duration = time.Since(start)
	if err != nil && ctx.Err() != nil {
		// Shutting down: the attempt did not finish. The lease runs out
		// and an instance tries again, with the same webhook-id.
		return nil
	}
	var retryAfter time.Duration
	if err != nil {
		a.Error = err.Error()
	} else {
		a.Status, a.Headers, a.Body = res.status, res.headers, res.body
		retryAfter = res.retryAfter
		if res.status/100 != 2 {
			a.Error = fmt.Sprintf("the endpoint answered %d", res.status)
		}
	}
	state, next, disable := s.outcome(j, a, retryAfter)
	if disable != "" {
		s.logger.Warn("disabling a webhook endpoint", "org", j.Tenant.OrgID, "env", j.Tenant.Env, "webhook", j.WebhookID, "reason", disable)
	}
	err = s.store.FinishDelivery(ctx, &j.Delivery, a, state, next, disable)
	if linkd.ErrorCode(err) == linkd.ECONFLICT {
		s.logger.Warn("a webhook delivery was taken over by another instance", "webhook", j.WebhookID, "event", j.EventID)
		return nil
	}
	if err == nil && s.observe != nil {
		s.observe(outcomeOf(state, disable), at.Sub(j.Event.CreatedAt))
	}
	return err
}

// outcomeOf names a finished attempt's outcome for Options.Observe.
func outcomeOf(state, disable string) string {
	switch {
	case disable != "":
		return OutcomeDisabled
	case state == linkd.DeliverySucceeded:
		return OutcomeSucceeded
	case state == linkd.DeliveryPending:
		return OutcomeRetrying
	}
	return OutcomeFailed
}

// outcome decides what an attempt leads to: its delivery's state, when it
// is due again, and whether the endpoint is disabled, and why.
func (s *Sender) outcome(j *linkd.DeliveryJob, a *linkd.DeliveryAttempt, retryAfter time.Duration) (state string, next time.Time, disable string) {
	switch {
	case a.Status/100 == 2:
		return linkd.DeliverySucceeded, a.At, ""
	case a.Status == http.StatusGone:
		return linkd.DeliveryFailed, a.At, ReasonGone
	}
	if since := j.FailingSince; !since.IsZero() && a.At.Sub(since) >= s.disableAfter {
		return linkd.DeliveryFailed, a.At, fmt.Sprintf("every delivery failed since %s (%s)", since.Format(time.RFC3339), a.Error)
	}
	n := j.Attempts + 1 // attempts made, this one included
	if n >= len(s.schedule) {
		return linkd.DeliveryFailed, a.At, ""
	}
	wait := jitter(s.schedule[n])
	if retryAfter > wait {
		wait = min(retryAfter, slices.Max(s.schedule))
	}
	return linkd.DeliveryPending, a.At.Add(wait), ""
}

// response is what an attempt keeps of an endpoint's answer.
type response struct {
	status     int
	headers    map[string]string
	body       []byte
	retryAfter time.Duration
}

// send makes one attempt: the body, the Standard Webhooks headers (and
// x-cobalt-signature when the endpoint has a live signing key), the
// endpoint's own headers, and the call.
func (s *Sender) send(ctx context.Context, j *linkd.DeliveryJob, at time.Time) (*response, error) {
	w := j.Webhook
	body, err := Body(w, j.Event)
	if err != nil {
		return nil, err
	}
	// During a rotation's overlap the old secret signs too: the header
	// lists both signatures, space-separated, and a receiver accepts the
	// delivery when one verifies with the secret it has.
	secrets, err := linkd.SigningSecrets(s.keys, j.Tenant, w, at)
	if err != nil {
		return nil, fmt.Errorf("open the signing secret: %w", err)
	}
	sigs := make([]string, len(secrets))
	for i, secret := range secrets {
		if sigs[i], err = Sign(secret, j.EventID, at, body); err != nil {
			return nil, err
		}
	}
	sig := strings.Join(sigs, " ")
	// The reference's signature, only while the key that signs it is
	// live: a revoked key's copy is gone (the store deleted it with the
	// revocation), and the header is left out rather than signed by it.
	compat := ""
	if w.CompatSigns() {
		apiKey, err := linkd.OpenCompatKey(s.keys, j.Tenant, w)
		if err != nil {
			return nil, fmt.Errorf("open the x-cobalt-signature key: %w", err)
		}
		compat = CompatSign(apiKey, body)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, cmp.Or(w.Method, http.MethodPost), w.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	// The endpoint's headers first; linkd's own are set after them, so a
	// configured header can never replace the signature or its inputs.
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "linkd-webhooks")
	req.Header.Set(HeaderID, j.EventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	if compat != "" {
		req.Header.Set(HeaderCompatSignature, compat)
	}
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	// What was read before an error is kept: the status is the outcome.
	kept, _ := io.ReadAll(io.LimitReader(res.Body, linkd.MaxAttemptBody))
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // lets the connection be reused
	return &response{status: res.StatusCode, headers: redact(res.Header), body: kept, retryAfter: parseRetryAfter(res.Header.Get("Retry-After"), at)}, nil
}

// sensitive marks response headers whose values the delivery log hides:
// what an endpoint answers is shown to everyone who reads the log.
var sensitive = []string{"cookie", "auth", "token", "secret", "key", "session", "signature", "password"}

// redact flattens h for the delivery log, hiding credentials.
func redact(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		v := strings.Join(vs, ", ")
		lk := strings.ToLower(k)
		for _, s := range sensitive {
			if strings.Contains(lk, s) {
				v = "[redacted]"
				break
			}
		}
		out[k] = v
	}
	return out
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
