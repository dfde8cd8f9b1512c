package linkd

import (
	"context"
	"fmt"
	"time"
)

// DefaultOrgName is the organization a fresh install gets.
const DefaultOrgName = "default"

// OrgService finds and creates organizations.
type OrgService struct {
	store OrgStore
	// Now returns the current time; tests may fix it.
	Now func() time.Time
}

// NewOrgService returns the service over store.
func NewOrgService(store OrgStore) *OrgService { return &OrgService{store: store} }

// Resolve returns the organization named name; with an empty name, the only
// organization, creating DefaultOrgName when there is none yet (and
// reporting that it did). Several organizations and no name is an error
// that says to choose one.
func (s *OrgService) Resolve(ctx context.Context, name string) (org *Org, created bool, err error) {
	if name != "" {
		o, err := s.store.OrgByName(ctx, name)
		return o, false, err
	}
	orgs, err := s.store.Orgs(ctx)
	if err != nil {
		return nil, false, err
	}
	switch len(orgs) {
	case 0:
		o := &Org{ID: NewID(), Name: DefaultOrgName, CreatedAt: NowOf(s.Now)}
		if err := s.store.CreateOrg(ctx, o); err != nil {
			if ErrorCode(err) == EEXISTS {
				// Another process created it first.
				o, err := s.store.OrgByName(ctx, DefaultOrgName)
				return o, false, err
			}
			return nil, false, err
		}
		return o, true, nil
	case 1:
		return orgs[0], false, nil
	}
	return nil, false, fmt.Errorf("there are %d organizations; choose one with --org", len(orgs))
}
