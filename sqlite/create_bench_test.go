package sqlite_test

import (
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/vault"
)

// BenchmarkCreateAccount measures creates through AccountService from
// parallel callers, in a tenant without webhook endpoints: what every
// create pays for announcing Linked Account Created when nobody listens.
func BenchmarkCreateAccount(b *testing.B) {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "linkd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	master := make([]byte, 32)
	rand.Read(master)
	keys, _ := vault.New(master)
	svc := linkd.NewAccountService(s, keys)
	org := &linkd.Org{ID: linkd.NewID(), Name: "acme", CreatedAt: time.Now().UTC()}
	if err := s.CreateOrg(b.Context(), org); err != nil {
		b.Fatal(err)
	}
	tn := linkd.Tenant{OrgID: org.ID, Env: linkd.EnvTest}
	ids := make(chan int, b.N)
	for i := range b.N {
		ids <- i
	}
	close(ids)
	b.ResetTimer()
	b.SetParallelism(4) // 4 × GOMAXPROCS goroutines, as concurrent requests
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := "Account name"
			in := linkd.AccountInput{AccountID: "acct-" + strconv.Itoa(<-ids), Name: &name, UDF: map[string]json.RawMessage{"plan": json.RawMessage(`"gold"`)}}
			if _, err := svc.Create(b.Context(), tn, "t", in); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}
