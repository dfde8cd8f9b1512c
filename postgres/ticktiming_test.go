package postgres_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/storetest"
)

// TestTickTiming logs how long a schedule tick over LINKD_TICK_CONFIGS
// configs takes, whole and per batch (each batch one transaction, holding
// its accounts' row locks); skipped when unset.
func TestTickTiming(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LINKD_TICK_CONFIGS"))
	if n == 0 {
		t.Skip("LINKD_TICK_CONFIGS not set")
	}
	dsn := dbtest.PostgresURL(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ticks := storetest.MeasureTick(t, s, n, 3, func() {
		// The test's server runs with autovacuum off: without statistics
		// the planner picks a plan that reads the tenant per config.
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		if _, err := conn.Exec(t.Context(), `ANALYZE`); err != nil {
			t.Fatal(err)
		}
	})
	for _, tt := range ticks {
		t.Logf("%d configs: tick %v in %d batches: the first %v, median %v, the last %v, the longest %v", n, tt.Total.Round(time.Millisecond), len(tt.Batches),
			tt.Batches[0].Round(time.Millisecond), storetest.Median(tt.Batches).Round(time.Millisecond), tt.Batches[len(tt.Batches)-1].Round(time.Millisecond),
			storetest.Longest(tt.Batches).Round(time.Millisecond))
	}
}
