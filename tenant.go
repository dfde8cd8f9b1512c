package linkd

import (
	"context"
	"time"
)

// Environment separates a tenant's test data from its production data. Every
// row that belongs to a customer carries one, and every query filters on it.
type Environment string

// The two environments every organization has.
const (
	EnvTest       Environment = "test"
	EnvProduction Environment = "production"
)

// ParseEnvironment accepts the environment names used on the wire and the CLI.
func ParseEnvironment(s string) (Environment, error) {
	switch Environment(s) {
	case EnvTest, EnvProduction:
		return Environment(s), nil
	}
	return "", FieldError("environment", "environment must be %q or %q, not %q", EnvTest, EnvProduction, s)
}

// Tenant is the unit of isolation: an organization in one environment. Store
// methods take it explicitly so that no query can forget to scope itself.
type Tenant struct {
	OrgID string
	Env   Environment
}

// Org is a customer of linkd: a SaaS company with its own API keys and data.
type Org struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// OrgStore keeps organizations.
type OrgStore interface {
	// CreateOrg inserts o. Names are unique: EEXISTS when taken.
	CreateOrg(ctx context.Context, o *Org) error
	// OrgByName returns ENOTFOUND when no organization has that name.
	OrgByName(ctx context.Context, name string) (*Org, error)
	// OrgByID returns ENOTFOUND when no organization has that id.
	OrgByID(ctx context.Context, id string) (*Org, error)
	// Orgs lists all organizations, oldest first.
	Orgs(ctx context.Context) ([]*Org, error)
}
