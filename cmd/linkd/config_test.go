package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestLeaseConfig: --job-lease/LINKD_JOB_LEASE and
// --refresh-lease/LINKD_REFRESH_LEASE default to the leases linkd always
// had (30 s and 2 min), take a Go duration, the flag winning over the
// variable, and refuse what is not one or is below the minimum (1 s; 10 s
// for a refresh, which bounds itself by half its lease), naming the flag
// and the variable.
func TestLeaseConfig(t *testing.T) {
	parse := func(env map[string]string, args ...string) (*Config, error) {
		f := newFlags("serve", func(k string) string { return env[k] }, io.Discard)
		err := f.parse(args)
		return f.cfg, err
	}
	for _, c := range []struct {
		env          map[string]string
		args         []string
		job, refresh time.Duration
	}{
		{nil, nil, 30 * time.Second, 2 * time.Minute},
		{map[string]string{"LINKD_JOB_LEASE": "5s", "LINKD_REFRESH_LEASE": "10s"}, nil, 5 * time.Second, 10 * time.Second},
		{map[string]string{"LINKD_JOB_LEASE": "5s"}, []string{"--job-lease", "1s"}, time.Second, 2 * time.Minute},
		{map[string]string{"LINKD_REFRESH_LEASE": "10s"}, []string{"--refresh-lease=5m"}, 30 * time.Second, 5 * time.Minute},
		{nil, []string{"--job-lease=1m30s", "--refresh-lease", "45s"}, 90 * time.Second, 45 * time.Second},
	} {
		cfg, err := parse(c.env, c.args...)
		if err != nil || cfg.JobLease != c.job || cfg.RefreshLease != c.refresh {
			t.Errorf("%v %v: job lease %v, refresh lease %v, %v; want %v and %v", c.env, c.args, cfg.JobLease, cfg.RefreshLease, err, c.job, c.refresh)
		}
	}
	for _, c := range []struct{ flag, variable, value string }{
		{"--job-lease", "LINKD_JOB_LEASE", "999ms"},
		{"--job-lease", "LINKD_JOB_LEASE", "0"},
		{"--job-lease", "LINKD_JOB_LEASE", "-30s"},
		{"--job-lease", "LINKD_JOB_LEASE", "30"},
		{"--job-lease", "LINKD_JOB_LEASE", "soon"},
		{"--refresh-lease", "LINKD_REFRESH_LEASE", "9s"},
		{"--refresh-lease", "LINKD_REFRESH_LEASE", "1s"},
		{"--refresh-lease", "LINKD_REFRESH_LEASE", "2"},
		{"--refresh-lease", "LINKD_REFRESH_LEASE", "-2m"},
	} {
		for _, how := range []string{"variable", "flag"} {
			var err error
			if how == "flag" {
				_, err = parse(nil, c.flag, c.value)
			} else {
				_, err = parse(map[string]string{c.variable: c.value})
			}
			if err == nil || !strings.Contains(err.Error(), c.flag) || !strings.Contains(err.Error(), c.variable) || !strings.Contains(err.Error(), c.value) {
				t.Errorf("%s %s=%q: %v, want an error naming %s and %s", how, c.flag, c.value, err, c.flag, c.variable)
			}
		}
	}
}
