package sqlite_test

import (
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/storetest"
)

// TestTickTiming logs how long a schedule tick over LINKD_TICK_CONFIGS
// configs takes and holds the writer (the longest write transaction while
// it runs); skipped when unset.
func TestTickTiming(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LINKD_TICK_CONFIGS"))
	if n == 0 {
		t.Skip("LINKD_TICK_CONFIGS not set")
	}
	s := dbtest.SQLite(t)
	var mu sync.Mutex
	var hold time.Duration
	ticks := storetest.MeasureTick(t, s, n, 3, func() {
		s.Observe(sqlite.Observer{Write: func(w sqlite.WriteStats) {
			mu.Lock()
			hold = max(hold, w.Work+w.Commit)
			mu.Unlock()
		}})
	})
	for _, tt := range ticks {
		t.Logf("%d configs: tick %v in %d batches: the first %v, median %v, the last %v, the longest %v", n, tt.Total.Round(time.Millisecond), len(tt.Batches),
			tt.Batches[0].Round(time.Millisecond), storetest.Median(tt.Batches).Round(time.Millisecond), tt.Batches[len(tt.Batches)-1].Round(time.Millisecond),
			storetest.Longest(tt.Batches).Round(time.Millisecond))
	}
	mu.Lock()
	t.Logf("the writer held at most %v at once", hold.Round(time.Millisecond))
	mu.Unlock()
}
