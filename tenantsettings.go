package linkd

import (
	"context"
	"time"
)

// AuditSettingsUpdate is the audit action of a change to TenantSettings.
const AuditSettingsUpdate = "org.settings.update"

// TenantSettings are a tenant's choices about what its end customers'
// browsers may do. Every setting is off by default: a browser credential
// gets the least the browser SDK needs.
type TenantSettings struct {
	// SessionTokenMayRename lets a session token change its own account's
	// name through PUT /api/v2/public/linked-account. Never its UDFs (they
	// often carry the product's own facts: plan, seats) nor its
	// your_app.auth_credentials.
	SessionTokenMayRename bool
	UpdatedAt             time.Time // zero when nothing was ever set
}

// TenantSettingsUpdate changes the settings whose fields are not nil.
type TenantSettingsUpdate struct {
	SessionTokenMayRename *bool
}

// TenantSettingsStore keeps TenantSettings.
type TenantSettingsStore interface {
	// TenantSettings returns the tenant's settings, the defaults when none
	// were ever set.
	TenantSettings(ctx context.Context, t Tenant) (*TenantSettings, error)
	// PutTenantSettings stores s with its audit entry, in one transaction.
	PutTenantSettings(ctx context.Context, t Tenant, s *TenantSettings, ev *AuditEntry) error
}

// SettingsService reads and changes tenant settings, auditing each change.
type SettingsService struct {
	store TenantSettingsStore
	// Now returns the current time; tests may fix it.
	Now func() time.Time
}

// NewSettingsService returns the service over store.
func NewSettingsService(store TenantSettingsStore) *SettingsService {
	return &SettingsService{store: store}
}

func (s *SettingsService) now() time.Time { return NowOf(s.Now) }

// Get returns the tenant's settings.
func (s *SettingsService) Get(ctx context.Context, t Tenant) (*TenantSettings, error) {
	return s.store.TenantSettings(ctx, t)
}

// Update applies u and returns the settings as stored. A change is audited
// with the names of the settings it changed; an update that changes
// nothing writes nothing.
func (s *SettingsService) Update(ctx context.Context, t Tenant, actor string, u TenantSettingsUpdate) (*TenantSettings, error) {
	cur, err := s.store.TenantSettings(ctx, t)
	if err != nil {
		return nil, err
	}
	next := *cur
	var fields []string
	if u.SessionTokenMayRename != nil && *u.SessionTokenMayRename != cur.SessionTokenMayRename {
		next.SessionTokenMayRename = *u.SessionTokenMayRename
		fields = append(fields, "session_token_may_rename")
	}
	if len(fields) == 0 {
		return cur, nil
	}
	next.UpdatedAt = s.now()
	ev := &AuditEntry{ID: NewID(), Time: next.UpdatedAt, Actor: actor, Action: AuditSettingsUpdate, Fields: fields}
	if err := s.store.PutTenantSettings(ctx, t, &next, ev); err != nil {
		return nil, err
	}
	return &next, nil
}

// UpdateOwn is an update by a session token of its own account (the end
// customer's browser). By default it is refused: @cobaltio/cobalt-js never
// calls that route, and UDFs and your_app.auth_credentials carry the
// tenant's facts about its customer, not the customer's. With the tenant's
// SessionTokenMayRename setting the name alone may change. settings may be
// nil, which means the defaults.
func (s *AccountService) UpdateOwn(ctx context.Context, t Tenant, actor string, settings *SettingsService, in AccountInput) (*LinkedAccount, error) {
	may := false
	if settings != nil {
		ts, err := settings.Get(ctx, t)
		if err != nil {
			return nil, err
		}
		may = ts.SessionTokenMayRename
	}
	if !may {
		return nil, &Error{Code: EFORBIDDEN, Field: "Authorization",
			Message: "a session token may not change its linked account; the organization's API key can, or it can let session tokens rename their account (PUT /api/v2/public/org/settings)"}
	}
	switch {
	case in.UDF != nil:
		return nil, &Error{Code: EFORBIDDEN, Field: "udf", Message: "a session token may change its account's name only, not udf"}
	case in.Credentials != nil:
		return nil, &Error{Code: EFORBIDDEN, Field: "your_app.auth_credentials", Message: "a session token may change its account's name only, not your_app.auth_credentials"}
	case in.Name == nil:
		return nil, FieldError("name", "name is required: it is all a session token may change")
	}
	if err := in.Validate(false); err != nil {
		return nil, err
	}
	acct, _, err := s.store.PutAccount(ctx, t, in.AccountID, func(cur *LinkedAccount) (*LinkedAccount, *AuditEntry, error) {
		if cur == nil {
			return nil, nil, AccountNotFound(in.AccountID)
		}
		next, ev, err := s.Apply(t, actor, cur, AccountInput{AccountID: in.AccountID, Name: in.Name})
		announce(t, cur, ev)
		return next, ev, err
	})
	return acct, err
}
