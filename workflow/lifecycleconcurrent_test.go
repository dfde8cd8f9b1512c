package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/dbtest"
)

// TestConnectionLifecycleConcurrent: many accounts connecting at once,
// each with a workflow switched on that a connection starts, all connect
// and each starts its run. On PostgreSQL the configs were once read through
// the pool while the connection's transaction held a connection of it, so
// as many connects at once as the pool has connections (4 on 2 cores)
// waited for each other for ever.
func TestConnectionLifecycleConcurrent(t *testing.T) {
	const accounts = 24 // more than the pool holds on any machine we test on
	dbtest.ForEach(t, func(t *testing.T, store linkd.Store) {
		f := newFixture(t, store)
		for i := range accounts {
			acct := fmt.Sprintf("cust-%d", i)
			f.account(f.tn, acct)
			f.connect(f.tn, acct, "lcapp", map[string]string{"key": "k1"})
			f.enable(f.tn, acct, "lcapp", "welcome", nil, nil)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		key, _ := json.Marshal("k2")
		var wg sync.WaitGroup
		errs := make(chan error, accounts)
		for i := range accounts {
			wg.Go(func() {
				_, err := f.conns.SaveKeys(ctx, f.tn, "test", fmt.Sprintf("cust-%d", i), "lcapp", map[string]json.RawMessage{"key": key})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("a connect of %d at once: %v", accounts, err)
			}
		}
		page, err := store.ListExecutions(t.Context(), f.tn, linkd.ExecutionFilter{})
		if err != nil || page.Total != accounts {
			t.Fatalf("%d runs after %d connects, %v", page.Total, accounts, err)
		}
	})
}
