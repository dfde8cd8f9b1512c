package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/vault"
)

// engine is one storage engine under test. It makes fresh databases, the
// floors of the create and import phases, and seeds a tenant for the read
// phase by writing its tables directly.
type engine interface {
	Name() string
	// Open creates a fresh database, migrated by the product's own Open.
	Open(ctx context.Context, label string) (*database, error)
	// Version names the database server or library.
	Version(ctx context.Context, db *database) string
	// Size is the database's size on disk in bytes.
	Size(ctx context.Context, db *database) int64
	// Floor returns the bare create handler on db's linked_accounts table.
	Floor(ctx context.Context, db *database, t linkd.Tenant) (h http.Handler, closeFn func(), err error)
	// Seed writes n accounts into t, every seedConnectedEvery-th with a
	// connection to seedApp, and returns the internal id of the account
	// number cursorAt (1-based), the cursor of the deep page.
	Seed(ctx context.Context, db *database, t linkd.Tenant, n, cursorAt int, progress func(done int)) (cursorID string, err error)
	// ImportFloor prepares a fresh bare table and returns the command to
	// time, the engine's own bulk loader putting file into it, with a check
	// of what it loaded and a clean-up.
	ImportFloor(ctx context.Context, file, label string, rows int64) (cmd *exec.Cmd, check, cleanup func() error, err error)
	// ImportFloorVersion names that loader.
	ImportFloorVersion(ctx context.Context) string
	// Close drops every database Open made and not yet dropped.
	Close() error
}

// database is one fresh database and the product's store on it.
type database struct {
	store linkd.Store
	// dsn is the SQLite file path or the PostgreSQL URL.
	dsn     string
	drop    func() error
	dropped bool
}

// Drop closes the store and deletes the database; a second call does nothing.
func (db *database) Drop() error {
	if db.dropped {
		return nil
	}
	db.dropped = true
	return db.drop()
}

// benchTenant is what setupTenant made: the tenant, its API key's secret and
// the keyring the server seals with.
type benchTenant struct {
	linkd.Tenant
	secret string
	keys   *vault.Keyring
}

// setupTenant does what a fresh install and `linkd apikey create --env test`
// do, through the store: pin a master key, create an org and a test API key.
func setupTenant(ctx context.Context, store linkd.Store) (*benchTenant, error) {
	master := make([]byte, 32)
	rand.Read(master)
	return setupTenantKeyed(ctx, store, master)
}

// setupTenantKeyed is setupTenant with the given master key.
func setupTenantKeyed(ctx context.Context, store linkd.Store, master []byte) (*benchTenant, error) {
	keys, err := vault.New(master)
	if err != nil {
		return nil, err
	}
	if _, err := store.EnsureSetting(ctx, "master_key_id", keys.KeyID()); err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	org := &linkd.Org{ID: linkd.NewID(), Name: "bench", CreatedAt: now}
	if err := store.CreateOrg(ctx, org); err != nil {
		return nil, err
	}
	secret, hash := linkd.NewAPIKeySecret(linkd.EnvTest)
	k := &linkd.APIKey{ID: linkd.NewID(), OrgID: org.ID, Env: linkd.EnvTest, Name: "bench",
		Prefix: linkd.APIKeyPrefix(secret), CreatedAt: now}
	if err := store.CreateAPIKey(ctx, k, hash, nil); err != nil {
		return nil, err
	}
	return &benchTenant{Tenant: k.Tenant(), secret: secret, keys: keys}, nil
}

// floorRequest is what the floor decodes: the fields of the create body.
type floorRequest struct {
	LinkedAccountID string                     `json:"linked_account_id"`
	Name            string                     `json:"name"`
	UDF             map[string]json.RawMessage `json:"udf"`
}

// floorRow is the row the floor inserts, the row the product writes for the
// same body: a UUIDv7 of the creation time, the UDFs in the stored JSON form
// (linkd.EncodeUDF) and no data key, which the product makes only when the
// first secret arrives.
type floorRow struct {
	id        string
	accountID string
	name      string
	udf       string
	now       time.Time
}

// decodeFloorRow reads and decodes a create body into the row to insert.
func decodeFloorRow(r *http.Request) (floorRow, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return floorRow{}, err
	}
	var req floorRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return floorRow{}, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	udf := make([]linkd.UDF, 0, len(req.UDF))
	for k, v := range req.UDF {
		udf = append(udf, linkd.UDF{Key: k, Value: v, CreatedAt: now, UpdatedAt: now})
	}
	slices.SortFunc(udf, func(a, b linkd.UDF) int { return strings.Compare(a.Key, b.Key) })
	return floorRow{id: linkd.NewIDAt(now), accountID: req.LinkedAccountID, name: req.Name,
		udf: string(linkd.EncodeUDF(udf)), now: now}, nil
}

// floorReply answers like a minimal JSON API would.
func floorReply(w http.ResponseWriter, id string, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"_id":"`+id+`"}`)
}

// Every seedConnectedEvery-th seeded account (0, 100, 200, …) has a
// key-based connection to seedApp, as the catalog's stripe is, and its
// connected_apps count says so: the list filtered by connected app has
// seedConnections(n) accounts to find among n.
const (
	seedApp            = "stripe"
	seedConnectedEvery = 100
)

func seedConnections(n int) int { return (n + seedConnectedEvery - 1) / seedConnectedEvery }

// seedAccount is one seeded account: a name and two UDFs, as a create with
// {"name": …, "udf": {"plan": …, "seats": …}} stores them, a data key
// (65 random bytes, the size of a wrapped key) as if it held a secret and,
// for some, a connection.
type seedAccount struct {
	id            uuid.UUID
	accountID     string
	name          string
	udf           string
	dataKey       []byte
	connectedApps int
	conn          *seedConnection
	created       time.Time
}

// seedConnection is the account's connection to seedApp: its id and its
// credentials (96 random bytes, the size of a sealed API key).
type seedConnection struct {
	id          uuid.UUID
	credentials []byte
}

var seedPlans = []string{`"free"`, `"pro"`, `"team"`}

// seedAccountID is the tenant's id of account i (0-based); GET by id picks
// random ones.
func seedAccountID(i int) string { return fmt.Sprintf("acct-%07d", i) }

// seedName is the name of account i.
func seedName(i int) string { return "Account " + strconv.Itoa(i) }

// newSeedAccount makes account i. Ids come from uuid.NewV7, which is
// monotonic within the process, so internal ids follow creation order, and
// created_at is the id's millisecond, as the product's ids carry their
// creation time (linkd.NewIDAt).
func newSeedAccount(i int) seedAccount {
	id := uuid.Must(uuid.NewV7())
	var ms int64
	for _, b := range id[:6] {
		ms = ms<<8 | int64(b)
	}
	created := time.UnixMilli(ms).UTC()
	a := seedAccount{
		id:        id,
		accountID: seedAccountID(i),
		name:      seedName(i),
		dataKey:   make([]byte, 65),
		created:   created,
	}
	rand.Read(a.dataKey)
	a.udf = string(linkd.EncodeUDF([]linkd.UDF{
		{Key: "plan", Value: json.RawMessage(seedPlans[i%len(seedPlans)]), CreatedAt: created, UpdatedAt: created},
		{Key: "seats", Value: json.RawMessage(strconv.Itoa(1 + i%500)), CreatedAt: created, UpdatedAt: created},
	}))
	if i%seedConnectedEvery == 0 {
		a.connectedApps = 1
		a.conn = &seedConnection{id: uuid.Must(uuid.NewV7()), credentials: make([]byte, 96)}
		rand.Read(a.conn.credentials)
	}
	return a
}

// countSlots and countSlot must match the stores' (sqlite/account.go,
// postgres/account.go): a tenant's count is spread over 16 rows by the FNV-1a
// hash of the account id, and totalDocs is their sum.
const countSlots = 16

func countSlot(accountID string) int {
	h := fnv.New32a()
	h.Write([]byte(accountID))
	return int(h.Sum32() % countSlots)
}
