package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestScheduleEveryConfig: --schedule-every/LINKD_SCHEDULE_EVERY is unset
// by default (the catalog's periods hold), takes a Go duration of at least
// 1 s, the flag winning over the variable, and refuses anything else,
// naming the flag and the variable.
func TestScheduleEveryConfig(t *testing.T) {
	parse := func(env map[string]string, args ...string) (*Config, error) {
		f := newFlags("serve", func(k string) string { return env[k] }, io.Discard)
		err := f.parse(args)
		return f.cfg, err
	}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want time.Duration
	}{
		{nil, nil, 0},
		{map[string]string{"LINKD_SCHEDULE_EVERY": "2s"}, nil, 2 * time.Second},
		{map[string]string{"LINKD_SCHEDULE_EVERY": "2s"}, []string{"--schedule-every", "1s"}, time.Second},
	} {
		if cfg, err := parse(c.env, c.args...); err != nil || cfg.ScheduleEvery != c.want {
			t.Errorf("%v %v: %v, %v; want %v", c.env, c.args, cfg.ScheduleEvery, err, c.want)
		}
	}
	for _, v := range []string{"999ms", "0", "-2s", "2", "soon"} {
		_, err := parse(map[string]string{"LINKD_SCHEDULE_EVERY": v})
		if err == nil || !strings.Contains(err.Error(), "--schedule-every") || !strings.Contains(err.Error(), "LINKD_SCHEDULE_EVERY") {
			t.Errorf("LINKD_SCHEDULE_EVERY=%q: %v, want an error naming the flag and the variable", v, err)
		}
	}
}
