package sqlite

import (
	"encoding/json"

	"github.com/linkd-dev/linkd"
)

// skipTenants is the claim queries' condition that leaves out the tenants a
// linkd.Claim skips; it binds skipJSON's argument.
const skipTenants = `(org_id || '|' || env) NOT IN (SELECT value FROM json_each(?))`

// skipJSON is the skipped tenants as the JSON array skipTenants reads.
func skipJSON(c linkd.Claim) string {
	b, _ := json.Marshal(c.SkipKeys())
	return string(b)
}

// skipGroupsJSON is the claim's skipped groups as a JSON array, for
// queries that leave them out with json_each.
func skipGroupsJSON(c linkd.Claim) string {
	b, _ := json.Marshal(c.SkipGroupList())
	return string(b)
}
