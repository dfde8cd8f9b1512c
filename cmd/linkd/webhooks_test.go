package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWebhookRetryScheduleConfig: LINKD_WEBHOOK_RETRY_SCHEDULE and
// --webhook-retry-schedule take comma-separated durations (a first 0s
// added when missing: the first attempt is immediate), default to the
// Svix-like schedule, and refuse what is not one, naming the setting.
func TestWebhookRetryScheduleConfig(t *testing.T) {
	parse := func(env map[string]string, args ...string) ([]time.Duration, error) {
		f := newFlags("serve", func(k string) string { return env[k] }, io.Discard)
		err := f.parse(args)
		return f.cfg.WebhookRetrySchedule, err
	}
	s, m, h := time.Second, time.Minute, time.Hour
	for _, c := range []struct {
		env  string
		args []string
		want []time.Duration
	}{
		{"", nil, []time.Duration{0, 5 * s, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h}},
		{"5s,5m,30m", nil, []time.Duration{0, 5 * s, 5 * m, 30 * m}},
		{"5s", []string{"--webhook-retry-schedule", "0s, 1m"}, []time.Duration{0, m}},
	} {
		env := map[string]string{}
		if c.env != "" {
			env["LINKD_WEBHOOK_RETRY_SCHEDULE"] = c.env
		}
		got, err := parse(env, c.args...)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("LINKD_WEBHOOK_RETRY_SCHEDULE=%q %v: %v, %v; want %v", c.env, c.args, got, err, c.want)
		}
	}
	for _, bad := range []string{",", "5", "-5s", "5s,,5m", "1000h", "soon"} {
		_, err := parse(map[string]string{"LINKD_WEBHOOK_RETRY_SCHEDULE": bad})
		if err == nil || !strings.Contains(err.Error(), "retry schedule") {
			t.Errorf("LINKD_WEBHOOK_RETRY_SCHEDULE=%q: %v, want an error naming it", bad, err)
		}
	}
}
