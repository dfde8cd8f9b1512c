package main

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/vault"
)

// The scale phase (issue 14) seeds tenants of growing size through the
// store's bulk path (the import's CommitImportBatch, each row made by the
// account service's Apply, as an import makes it) and measures at each
// size, with -read-clients clients and pages without totals: GET by id, the
// first list page, a page 90 % deep by cursor, search and UDF filters; and,
// separately, what the totals of a search and of a filter cost.
//
// The tenant looks like a customer's import: random UUID ids, person names
// from 64 × 64 first and last names with a company word, a plan (free 60 %,
// pro 30 %, enterprise 10 %), one of 20 regions and a seat count.

// scaleResult is one workload at one tenant size.
type scaleResult struct {
	Engine   string `json:"engine"`
	Accounts int    `json:"accounts"`
	Workload string `json:"workload"`
	Clients  int    `json:"clients"`
	Stats    stats  `json:"stats"`
	// SeedSeconds is how long seeding the tenant took (the first workload
	// of each size carries it), 0 when it came from the cache.
	SeedSeconds float64 `json:"seed_seconds,omitempty"`
}

var (
	scaleFirst = []string{"Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "Mateo", "Isabella", "Lucas",
		"Mia", "Levi", "Evelyn", "Asher", "Harper", "James", "Luna", "Leo", "Camila", "Grayson", "Gianna", "Ezra", "Elizabeth", "Luca",
		"Eleanor", "Ethan", "Ella", "Aiden", "Abigail", "Wyatt", "Sofia", "Sebastian", "Avery", "Mason", "Scarlett", "Benjamin", "Emily",
		"Henry", "Aria", "Hudson", "Penelope", "Jack", "Chloe", "Jackson", "Layla", "Owen", "Mila", "Daniel", "Nora", "Alexander", "Hazel",
		"Maverick", "Madison", "Kai", "Ellie", "Gabriel", "Lily", "Carter", "Nova", "William", "Isla", "Logan"}
	scaleLast = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez",
		"Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
		"Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres",
		"Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
		"Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy"}
	scaleCompany = []string{"Labs", "Holdings", "Consulting", "Studio", "Partners", "Group", "Digital", "Works", "Logistics", "Foods",
		"Health", "Energy", "Systems", "Capital", "Media", "Ventures"}
	scaleRegions = []string{"us-east", "us-west", "us-central", "ca-central", "br-south", "mx-central", "eu-west", "eu-central", "eu-north",
		"eu-south", "uk-south", "af-south", "me-central", "in-west", "in-south", "ap-east", "ap-southeast", "jp-east", "kr-central", "au-east"}
)

// scaleAccount is account i of the scale tenant: the same for every run of
// a seed, so that a cached database and the queries agree.
func scaleAccount(seed uint64, i int) linkd.AccountInput {
	rng := rand.New(rand.NewPCG(seed, uint64(i)))
	var b [16]byte
	for k := range b {
		b[k] = byte(rng.Uint32())
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80 // a version 4 UUID
	h := hex.EncodeToString(b[:])
	id := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	name := scaleFirst[rng.IntN(len(scaleFirst))] + " " + scaleLast[rng.IntN(len(scaleLast))] + " " + scaleCompany[rng.IntN(len(scaleCompany))]
	plan := `"free"`
	switch p := rng.IntN(10); {
	case p == 0:
		plan = `"enterprise"`
	case p <= 3:
		plan = `"pro"`
	}
	return linkd.AccountInput{AccountID: id, Name: &name, UDF: map[string]json.RawMessage{
		"plan":   json.RawMessage(plan),
		"region": json.RawMessage(strconv.Quote(scaleRegions[rng.IntN(len(scaleRegions))])),
		"seats":  json.RawMessage(strconv.Itoa(1 + rng.IntN(500))),
	}}
}

// scaleSeedBatch is how many accounts one CommitImportBatch writes, as the
// importer's default batch.
const scaleSeedBatch = 2000

// seedScale writes accounts [from, n) of the scale tenant through the
// store's bulk path, in one import job, and returns the internal id of
// account cursorAt (when in range).
func seedScale(ctx context.Context, store linkd.Store, keys linkd.Keyring, t linkd.Tenant, seed uint64, n, cursorAt int, progress func(int)) (string, error) {
	svc := linkd.NewAccountService(store, keys)
	now := time.Now().UTC()
	j := &linkd.ImportJob{ID: linkd.NewID(), OrgID: t.OrgID, Env: t.Env, Actor: "bench", FileName: "scale.csv", Mode: linkd.ImportCreate, CreatedAt: now}
	if err := store.CreateImportJob(ctx, j); err != nil {
		return "", err
	}
	if err := store.QueueImportJob(ctx, t, j.ID, 0, int64(n), []string{"linked_account_id", "name", "udf.plan", "udf.region", "udf.seats"}, linkd.ImportOptions{}); err != nil {
		return "", err
	}
	const owner, lease = "bench-seed", time.Hour
	job, err := store.ClaimImportJob(ctx, linkd.Claim{Owner: owner, Now: time.Now(), Lease: lease})
	if err != nil {
		return "", err
	}
	if job.ID != j.ID {
		return "", fmt.Errorf("claimed import job %s, not the seed's %s", job.ID, j.ID)
	}
	var cursorID string
	for start := 0; start < n; start += scaleSeedBatch {
		m := min(scaleSeedBatch, n-start)
		ids := make([]string, m)
		rows := make([]linkd.AccountInput, m)
		for k := range m {
			rows[k] = scaleAccount(seed, start+k)
			ids[k] = rows[k].AccountID
		}
		job, err = store.CommitImportBatch(ctx, job, owner, ids, func(cur map[string]*linkd.LinkedAccount) (*linkd.ImportBatch, error) {
			b := &linkd.ImportBatch{Processed: int64(m), Offset: int64(start + m)}
			for k, in := range rows {
				if cur[in.AccountID] != nil {
					b.Unchanged++
					continue
				}
				a, _, err := svc.Apply(t, "bench", nil, in)
				if err != nil {
					return nil, err
				}
				a.ImportJob = j.ID
				if start+k+1 == cursorAt {
					cursorID = a.ID
				}
				b.Creates = append(b.Creates, a)
				b.Created++
			}
			return b, nil
		}, time.Now(), lease)
		if err != nil {
			return "", err
		}
		progress(start + m)
	}
	_, err = store.FinishImportJob(ctx, job, owner, linkd.ImportSucceeded, "", &linkd.AuditEntry{ID: linkd.NewID(), Time: time.Now(),
		Actor: "bench", Action: linkd.AuditAccountImport, AccountID: ""}, time.Now())
	return cursorID, err
}

// scaleCache is what -scale-cache keeps beside a seeded SQLite database,
// to serve it again in a later run.
type scaleCache struct {
	Master   string `json:"master"`
	OrgID    string `json:"org_id"`
	Secret   string `json:"secret"`
	CursorID string `json:"cursor_id"`
	Seed     uint64 `json:"seed"`
	Accounts int    `json:"accounts"`
}

// settleSearch waits, on SQLite, for the merge of the search index that a
// large import starts in the background (sqlite/searchmerge.go), so that
// nothing is measured beside it, and returns how long it waited (0 on
// other engines); a cached database seeded before the store merged by
// itself is merged here.
func settleSearch(ctx context.Context, store linkd.Store) (time.Duration, error) {
	s, ok := store.(*sqlite.Store)
	if !ok {
		return 0, nil
	}
	t0 := time.Now()
	if err := s.MergeSearch(ctx); err != nil {
		return 0, fmt.Errorf("merge the search index: %w", err)
	}
	return time.Since(t0), nil
}

// settleScale is settleSearch for the scale phase, which logs the wait.
func settleScale(ctx context.Context, store linkd.Store, logf func(string, ...any)) error {
	d, err := settleSearch(ctx, store)
	if err == nil && d > 0 {
		logf("sqlite: scale: search index merged in %s", d.Round(time.Millisecond))
	}
	return err
}

// scaleTenant opens the tenant of n accounts for eng: seeded now, or (on
// SQLite with -scale-cache) the cached one, seeded and kept on first use.
func (r *runner) scaleTenant(ctx context.Context, eng engine, n int) (db *database, bt *benchTenant, cursorID string, seedSeconds float64, err error) {
	cfg, logf := r.cfg, r.logf
	cached := cfg.ScaleCache != "" && eng.Name() == "sqlite"
	var path, meta, cacheMaster string
	if cached {
		if err := os.MkdirAll(cfg.ScaleCache, 0o755); err != nil {
			return nil, nil, "", 0, err
		}
		path = filepath.Join(cfg.ScaleCache, fmt.Sprintf("scale-%d-%d.db", n, cfg.FileSeed))
		meta = path + ".json"
		if b, err := os.ReadFile(meta); err == nil {
			var c scaleCache
			if err := json.Unmarshal(b, &c); err != nil {
				return nil, nil, "", 0, err
			}
			master, err := hex.DecodeString(c.Master)
			if err != nil {
				return nil, nil, "", 0, err
			}
			keys, err := vault.New(master)
			if err != nil {
				return nil, nil, "", 0, err
			}
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				return nil, nil, "", 0, err
			}
			logf("sqlite: scale: %d accounts from the cache %s", n, path)
			db := &database{store: s, dsn: path, drop: s.Close}
			bt := &benchTenant{Tenant: linkd.Tenant{OrgID: c.OrgID, Env: linkd.EnvTest}, secret: c.Secret, keys: keys}
			// Caches made before the connected-app workload lack its
			// connections.
			if err := scaleConnect(ctx, s, keys, bt.Tenant, c.Seed, n, logf); err != nil {
				return nil, nil, "", 0, errors.Join(err, s.Close())
			}
			if err := settleScale(ctx, s, logf); err != nil {
				return nil, nil, "", 0, errors.Join(err, s.Close())
			}
			r.rep.noteVersion(eng.Name(), eng.Version(ctx, db))
			return db, bt, c.CursorID, 0, nil
		}
		// Seed into a fresh file; the cache entry is written once it is
		// complete.
		if err := removeDB(path); err != nil {
			return nil, nil, "", 0, err
		}
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, nil, "", 0, err
		}
		db = &database{store: s, dsn: path, drop: s.Close}
		r.rep.noteVersion(eng.Name(), eng.Version(ctx, db))
		master := make([]byte, 32)
		crand.Read(master)
		cacheMaster = hex.EncodeToString(master)
		if bt, err = setupTenantKeyed(ctx, s, master); err != nil {
			return nil, nil, "", 0, errors.Join(err, db.Drop())
		}
	} else if db, bt, err = r.openTenant(ctx, eng, fmt.Sprintf("scale-%d", n)); err != nil {
		return nil, nil, "", 0, err
	}
	logf("%s: scale: seeding %d accounts through the store's bulk path", eng.Name(), n)
	t0 := time.Now()
	last := t0
	cursorID, err = seedScale(ctx, db.store, bt.keys, bt.Tenant, cfg.FileSeed, n, n/10*9, func(done int) {
		if time.Since(last) > 10*time.Second || done == n {
			last = time.Now()
			logf("%s: scale: seeded %d/%d (%.0f/s)", eng.Name(), done, n, float64(done)/time.Since(t0).Seconds())
		}
	})
	if err != nil {
		return nil, nil, "", 0, errors.Join(fmt.Errorf("seed: %w", err), db.Drop())
	}
	seedSeconds = time.Since(t0).Seconds()
	if pg, ok := eng.(*postgresEngine); ok {
		// As autovacuum would, given the time.
		if err := pg.exec(ctx, db.dsn, `VACUUM ANALYZE linked_accounts, account_udf`); err != nil {
			return nil, nil, "", 0, errors.Join(err, db.Drop())
		}
	}
	if err := scaleConnect(ctx, db.store, bt.keys, bt.Tenant, cfg.FileSeed, n, logf); err != nil {
		return nil, nil, "", 0, errors.Join(err, db.Drop())
	}
	if err := settleScale(ctx, db.store, logf); err != nil {
		return nil, nil, "", 0, errors.Join(err, db.Drop())
	}
	if cached {
		b, _ := json.Marshal(scaleCache{Master: cacheMaster, OrgID: bt.OrgID, Secret: bt.secret, CursorID: cursorID,
			Seed: cfg.FileSeed, Accounts: n})
		if err := os.WriteFile(meta, b, 0o600); err != nil {
			return nil, nil, "", 0, errors.Join(err, db.Drop())
		}
	}
	return db, bt, cursorID, seedSeconds, nil
}

// scaleQueries are the search workload: substrings of 3 to 12 characters
// of real ids and names at random places, and one in ten that matches
// nothing ("~" is in no id or name).
func scaleQueries(seed uint64, n, count int) []string {
	rng := rand.New(rand.NewPCG(seed, 14))
	out := make([]string, count)
	for k := range out {
		l := 3 + rng.IntN(10)
		if k%10 == 9 {
			b := []byte("~")
			for len(b) < l {
				b = append(b, byte('a'+rng.IntN(26)))
			}
			out[k] = string(b)
			continue
		}
		a := scaleAccount(seed, rng.IntN(n))
		s := a.AccountID
		if rng.IntN(2) == 0 {
			s = *a.Name
		}
		l = min(l, len(s))
		at := rng.IntN(len(s) - l + 1)
		out[k] = s[at : at+l]
	}
	return out
}

// scaleWorkload is one measured read of the scale phase.
type scaleWorkload struct {
	name      string
	clients   int
	path      func(rng *rand.Rand) string
	dashboard bool // a dashboard page, with a session cookie
}

func scaleWorkloads(cfg *config, n int, cursorID string) []scaleWorkload {
	const page = accountsPath + "?limit=50&include_total=false"
	queries := scaleQueries(cfg.FileSeed, n, 1000)
	filters := func(rng *rand.Rand) string {
		region := url.QueryEscape(scaleRegions[rng.IntN(len(scaleRegions))])
		switch rng.IntN(3) {
		case 0:
			return "&udf.plan=enterprise"
		case 1:
			return "&udf.region=" + region
		}
		return "&udf.plan=pro&udf.region=" + region
	}
	search := func(rng *rand.Rand) string { return "&q=" + url.QueryEscape(queries[rng.IntN(len(queries))]) }
	cursor := base64.RawURLEncoding.EncodeToString([]byte(cursorID))
	return []scaleWorkload{
		{name: "GET by id", path: func(rng *rand.Rand) string {
			return accountsPath + "/" + scaleAccount(cfg.FileSeed, rng.IntN(n)).AccountID
		}},
		{name: "list, first page", path: func(*rand.Rand) string { return page }},
		{name: "list, page 90 % deep (cursor)", path: func(*rand.Rand) string { return page + "&cursor=" + cursor }},
		{name: "list, by connected app", path: func(*rand.Rand) string { return page + "&application=" + scaleApp }},
		{name: "search (q)", path: func(rng *rand.Rand) string { return page + search(rng) }},
		{name: "UDF filter", path: func(rng *rand.Rand) string { return page + filters(rng) }},
		{name: "dashboard: search", dashboard: true, path: func(rng *rand.Rand) string {
			return "/accounts?q=" + url.QueryEscape(queries[rng.IntN(len(queries))])
		}},
		{name: "search, with its total", clients: 1, path: func(rng *rand.Rand) string {
			return accountsPath + "?limit=50" + search(rng)
		}},
		{name: "UDF filter, with its total", clients: 1, path: func(rng *rand.Rand) string {
			return accountsPath + "?limit=50" + filters(rng)
		}},
	}
}

// scale runs the scale phase on eng, size by size.
func (r *runner) scale(ctx context.Context, eng engine) error {
	cfg, logf := r.cfg, r.logf
	name := eng.Name()
	for _, n := range cfg.ScaleSizes {
		if n > 1_000_000 && name != "sqlite" && !cfg.ScaleAll {
			logf("%s: scale: skipping %d accounts (SQLite only, unless -scale-all)", name, n)
			continue
		}
		db, bt, cursorID, seedSeconds, err := r.scaleTenant(ctx, eng, n)
		if err != nil {
			return err
		}
		err = r.scaleMeasure(ctx, name, db, bt, n, cursorID, seedSeconds)
		if err = errors.Join(err, db.Drop()); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) scaleMeasure(ctx context.Context, name string, db *database, bt *benchTenant, n int, cursorID string, seedSeconds float64) error {
	cfg, logf := r.cfg, r.logf
	base, stop, err := serveLinkd(db, bt, nil)
	if err != nil {
		return err
	}
	defer stop()
	client := newClient(cfg.ReadClients)
	defer client.CloseIdleConnections()
	if err := checkScaleSearch(ctx, client, base, bt.secret, scaleQueries(cfg.FileSeed, n, 40)); err != nil {
		return fmt.Errorf("%d accounts: %w", n, err)
	}
	cookie, err := dashboardCookie(ctx, db.store, bt)
	if err != nil {
		return err
	}
	for _, w := range scaleWorkloads(cfg, n, cursorID) {
		clients := cfg.ReadClients
		if w.clients > 0 {
			clients = w.clients
		}
		s, err := r.measure(ctx, client, loadSpec{
			Clients: clients, Warmup: cfg.ReadWarmup, Duration: cfg.ReadDuration,
			Profile: profilePath(cfg, name, fmt.Sprintf("scale-%d-%s", n, scaleSlug(w.name))),
			Request: func(_, c, seq int, rng *rand.Rand) (*http.Request, error) {
				req, err := http.NewRequest(http.MethodGet, base+w.path(rng), nil)
				if err == nil && w.dashboard {
					req.AddCookie(cookie)
				} else if err == nil {
					req.Header.Set("x-api-key", bt.secret)
				}
				return req, err
			},
		})
		if err != nil {
			return err
		}
		logf("%s: scale %d: %s: %d clients, %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors %s", name, n, w.name, clients, s.RPS, s.P50ms, s.P99ms, s.Errors, s.FirstError)
		r.rep.Scale = append(r.rep.Scale, scaleResult{Engine: name, Accounts: n, Workload: w.name, Clients: clients, Stats: s, SeedSeconds: seedSeconds})
		seedSeconds = 0
	}
	return nil
}

// checkScaleSearch makes sure the search workload measures searches that
// work: each query's first page holds only accounts whose id or name holds
// it (case folded), at least one for a query cut from a real account, none
// for a miss.
func checkScaleSearch(ctx context.Context, client *http.Client, base, secret string, queries []string) error {
	for _, q := range queries {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+accountsPath+"?limit=50&include_total=false&q="+url.QueryEscape(q), nil)
		if err != nil {
			return err
		}
		req.Header.Set("x-api-key", secret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		var page struct {
			Docs []struct {
				AccountID string `json:"account_id"`
				Name      string `json:"name"`
			} `json:"docs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("search %q: status %d, %v", q, resp.StatusCode, err)
		}
		miss := strings.HasPrefix(q, "~")
		if miss != (len(page.Docs) == 0) {
			return fmt.Errorf("search %q: %d accounts found", q, len(page.Docs))
		}
		for _, d := range page.Docs {
			if !strings.Contains(linkd.SearchText(d.AccountID, d.Name), linkd.FoldSearch(q)) {
				return fmt.Errorf("search %q found %q (%q), which does not hold it", q, d.AccountID, d.Name)
			}
		}
	}
	return nil
}

// scaleSlug names a workload's profile file: its name in lower-case
// letters and digits, words joined by dashes.
func scaleSlug(name string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9')
	}), "-")
}

// scaleApp is the app every scaleConnectEvery-th account of the scale
// tenant has connected, for the list by connected app.
const (
	scaleApp          = "slack"
	scaleConnectEvery = 100
)

// scaleConnect gives every scaleConnectEvery-th account a connection to
// scaleApp through the store (sealed credentials, app counts kept), unless
// the tenant has such connections already (a cached database).
func scaleConnect(ctx context.Context, store linkd.Store, keys linkd.Keyring, t linkd.Tenant, seed uint64, n int, logf func(string, ...any)) error {
	have, err := store.ListAccounts(ctx, t, linkd.AccountFilter{ConnectedApp: scaleApp, Limit: 1, SkipTotal: true})
	if err != nil {
		return err
	}
	if len(have.Accounts) > 0 {
		return nil
	}
	t0 := time.Now()
	secrets, _ := json.Marshal(linkd.ConnectionSecrets{AccessToken: "bench-access", RefreshToken: "bench-refresh"})
	for i := 0; i < n; i += scaleConnectEvery {
		_, err := store.PutConnection(ctx, t, scaleAccount(seed, i).AccountID, scaleApp, linkd.AuthOAuth2,
			func(acct *linkd.LinkedAccount, cur *linkd.Connection, _ linkd.ConfigsFunc) (*linkd.Connection, []byte, *linkd.AuditEntry, error) {
				now := time.Now().UTC()
				c := &linkd.Connection{ID: linkd.NewID(), AccountPK: acct.ID, Slug: scaleApp, AuthType: linkd.AuthOAuth2, Status: linkd.ConnActive, CreatedAt: now, UpdatedAt: now}
				key, made := acct.DataKey, []byte(nil)
				if key == nil {
					var err error
					if key, err = keys.NewDataKey(linkd.KeyOwner(t, acct.ID)); err != nil {
						return nil, nil, nil, err
					}
					made = key
				}
				sealed, err := keys.Seal(key, linkd.KeyOwner(t, acct.ID), linkd.ConnectionField(c.ID), secrets)
				if err != nil {
					return nil, nil, nil, err
				}
				c.Credentials = sealed
				return c, made, &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: "bench", Action: "connection.create", AccountID: acct.AccountID}, nil
			})
		if err != nil {
			return fmt.Errorf("connect account %d: %w", i, err)
		}
	}
	logf("scale: connected %d accounts to %s in %.1f s", (n+scaleConnectEvery-1)/scaleConnectEvery, scaleApp, time.Since(t0).Seconds())
	return nil
}
