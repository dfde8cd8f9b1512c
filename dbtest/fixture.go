package dbtest

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/linkd-dev/linkd"
)

// Fixture ids: one row per table refers to these, so rows of different
// tables belong together (an account's connections, a tenant's keys).
const (
	FixtureOrgID     = "01900000-0000-7000-8000-00000000000a"
	FixtureAccountID = "fixture-account"
)

// FixtureTime is when every fixture row happened.
var FixtureTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// FixtureValue returns a value to store in table's column of SQL type typ (as the
// engine's catalog names it) in an upgrade test's fixture: a row in every
// table, written by the schema alone, without the code of the version it
// was made at. Values are valid for the code that reads them: ids of the
// fixture tenant, JSON where JSON is kept, times as each engine keeps
// them (SQLite: integer microseconds).
func FixtureValue(table, column, typ string) any {
	typ = strings.ToLower(typ)
	switch {
	case column == "org_id" || (table == "orgs" && column == "id"):
		return FixtureOrgID
	case column == "env":
		return "test"
	case column == "account_id" || column == "linked_account_id":
		return FixtureAccountID
	case typ == "uuid":
		return "01900000-0000-7000-8000-0000000000" + twoHex(column)
	case typ == "bytea" || typ == "blob":
		return []byte("fixture " + column)
	case typ == "boolean":
		return true
	case strings.HasPrefix(typ, "timestamp"):
		return FixtureTime
	case typ == "jsonb" || typ == "json":
		if j := jsonFor(column); j != "" {
			return j
		}
		return "{}"
	case strings.Contains(typ, "int") || typ == "real" || strings.HasPrefix(typ, "double") || typ == "numeric":
		if column == "at" || strings.HasSuffix(column, "_at") || strings.HasSuffix(column, "_until") || column == "expires" {
			return FixtureTime.UnixMicro()
		}
		return 1
	}
	// Text: JSON where the code keeps JSON in text (SQLite), else a word.
	if j := jsonFor(column); j != "" {
		return j
	}
	return "fixture-" + column
}

// jsonFor is the JSON a column of that name holds, or "".
func jsonFor(column string) string {
	switch column {
	case "udf", "headers", "data", "details", "payload", "options", "input", "output", "state_data", "mapping":
		return "{}"
	case "events", "workflow_ids", "workflows", "scopes", "errors", "fields":
		return "[]"
	}
	return ""
}

// twoHex is a hex byte derived from s, so that uuid columns of one row
// differ from each other.
func twoHex(s string) string {
	const digits = "0123456789abcdef"
	var h byte
	for i := 0; i < len(s); i++ {
		h = h*31 + s[i]
	}
	return string([]byte{digits[h>>4], digits[h&15]})
}

// LostRows compares the row counts of a fixture's tables before and after
// an upgrade from migration from, and names each table that lost rows
// although no later migration drops or deletes from it by name.
func LostRows(before, after map[string]int, from int, migrations map[int]string) []string {
	var lost []string
	for table, n := range before {
		if after[table] >= n {
			continue
		}
		re := regexp.MustCompile(`(?i)(DROP TABLE|DELETE FROM)\s+(IF EXISTS\s+)?` + table + `\b`)
		dropped := false
		for v, body := range migrations {
			dropped = dropped || (v > from && re.MatchString(body))
		}
		if !dropped {
			lost = append(lost, fmt.Sprintf("%s: %d rows before the upgrade, %d after", table, n, after[table]))
		}
	}
	sort.Strings(lost)
	return lost
}

// ReadFixture reads the fixture's rows back through the store's code
// after an upgrade.
func ReadFixture(t testing.TB, s linkd.Store) {
	t.Helper()
	ctx, tn := t.Context(), linkd.Tenant{OrgID: FixtureOrgID, Env: linkd.EnvTest}
	if orgs, err := s.Orgs(ctx); err != nil || len(orgs) != 1 || orgs[0].ID != FixtureOrgID {
		t.Fatalf("orgs after the upgrade: %+v, %v", orgs, err)
	}
	if keys, err := s.ListAPIKeys(ctx, tn.OrgID); err != nil || len(keys) != 1 {
		t.Fatalf("API keys after the upgrade: %v, %v", keys, err)
	}
	if a, err := s.FindAccount(ctx, tn, FixtureAccountID); err != nil || a.AccountID != FixtureAccountID {
		t.Fatalf("account after the upgrade: %+v, %v", a, err)
	}
	if entries, _, err := s.ListAudit(ctx, tn, linkd.AuditFilter{}); err != nil || len(entries) != 1 {
		t.Fatalf("audit after the upgrade: %v, %v", entries, err)
	}
}
