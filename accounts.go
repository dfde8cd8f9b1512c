package linkd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// AccountService applies the rules of linked accounts (validation, UDF merge,
// sealing of credentials, audit) on top of a store. The API, the CSV importer
// and the dashboard all go through it, so they cannot disagree.
type AccountService struct {
	store AccountStore
	Keys  Keyring
	// Now returns the current time; tests may fix it.
	Now func() time.Time
}

// NewAccountService returns the service over store, sealing secrets with
// keys.
func NewAccountService(store AccountStore, keys Keyring) *AccountService {
	return &AccountService{store: store, Keys: keys}
}

func (s *AccountService) now() time.Time { return NowOf(s.Now) }

// Create adds a new account; EEXISTS when the id is taken in the tenant.
func (s *AccountService) Create(ctx context.Context, t Tenant, actor string, in AccountInput) (*LinkedAccount, error) {
	if err := in.Validate(false); err != nil {
		return nil, err
	}
	acct, ev, err := s.Apply(t, actor, nil, in)
	if err != nil {
		return nil, err
	}
	announce(t, nil, ev)
	if err := s.store.CreateAccount(ctx, t, acct, ev); err != nil {
		return nil, err
	}
	return acct, nil
}

// AccountExists is the error of creating an account whose id is taken.
func AccountExists(t Tenant, accountID string) error {
	return &Error{Code: EEXISTS, Field: "linked_account_id",
		Message: fmt.Sprintf("Linked account with id %s already exists in the %s environment", accountID, t.Env)}
}

// Upsert creates the account or merges in into it: a UDF key sent as null is
// removed, other keys are set, and absent fields are left alone.
func (s *AccountService) Upsert(ctx context.Context, t Tenant, actor string, in AccountInput) (acct *LinkedAccount, created bool, err error) {
	if err := in.Validate(true); err != nil {
		return nil, false, err
	}
	return s.store.PutAccount(ctx, t, in.AccountID, func(cur *LinkedAccount) (*LinkedAccount, *AuditEntry, error) {
		next, ev, err := s.Apply(t, actor, cur, in)
		announce(t, cur, ev)
		return next, ev, err
	})
}

// Update merges in into an existing account, as Upsert does, and returns
// the fields it changed; ENOTFOUND when the account does not exist, so that
// a form shown before a delete cannot create the account again.
func (s *AccountService) Update(ctx context.Context, t Tenant, actor string, in AccountInput) (*LinkedAccount, []string, error) {
	if err := in.Validate(true); err != nil {
		return nil, nil, err
	}
	var changed []string
	acct, _, err := s.store.PutAccount(ctx, t, in.AccountID, func(cur *LinkedAccount) (*LinkedAccount, *AuditEntry, error) {
		if cur == nil {
			return nil, nil, AccountNotFound(in.AccountID)
		}
		next, ev, err := s.Apply(t, actor, cur, in)
		announce(t, cur, ev)
		changed = nil
		if ev != nil {
			changed = ev.Fields
		}
		return next, ev, err
	})
	return acct, changed, err
}

// AccountNotFound is the error of an account id the tenant does not have.
func AccountNotFound(accountID string) error {
	return Errorf(ENOTFOUND, "Linked Account with account id %s not found", accountID)
}

// AccountNotFoundIn is the stores' AccountNotFound, naming the tenant as
// the compatible API does for a direct read.
func AccountNotFoundIn(t Tenant, accountID string) error {
	return Errorf(ENOTFOUND, "Linked Account with account id %s for org %s in environment %s not found", accountID, t.OrgID, t.Env)
}

// Get returns one account.
func (s *AccountService) Get(ctx context.Context, t Tenant, accountID string) (*LinkedAccount, error) {
	return s.store.FindAccount(ctx, t, accountID)
}

// List returns one page of accounts.
func (s *AccountService) List(ctx context.Context, t Tenant, f AccountFilter) (*AccountPage, error) {
	return s.store.ListAccounts(ctx, t, f)
}

// Delete removes the account with everything it owns. Its data key goes with
// the row, which makes every secret sealed with it unreadable; the tokens of
// its connections are first re-sealed into revocations, so they can still be
// revoked at their providers afterwards (and are destroyed when they are).
func (s *AccountService) Delete(ctx context.Context, t Tenant, actor, accountID string) error {
	return s.DeleteCreatedBefore(ctx, t, actor, accountID, nil)
}

// DeleteCreatedBefore is Delete of an account made before the time given
// (none: any): one made since answers ENOTFOUND and stays. A bulk delete
// is pinned to the accounts that existed when the user confirmed it, and
// reaches each by its id minutes later; an account deleted meanwhile and
// made again under the same id is not the one the user picked. The check
// is made inside the delete's transaction, so no create can slip between.
func (s *AccountService) DeleteCreatedBefore(ctx context.Context, t Tenant, actor, accountID string, before *time.Time) error {
	if err := ValidateAccountID(accountID); err != nil {
		return err
	}
	return s.store.DeleteAccount(ctx, t, accountID, func(acct *LinkedAccount, removed []*Connection) ([]*Revocation, *AuditEntry, error) {
		if before != nil && !acct.CreatedAt.Before(*before) {
			return nil, nil, AccountNotFound(accountID)
		}
		revs, err := s.Revocations(t, acct, removed)
		if err != nil {
			return nil, nil, err
		}
		now := s.now()
		ev := &AuditEntry{ID: NewID(), Time: now, Actor: actor, Action: AuditAccountDelete, AccountID: accountID,
			Events: append(ConnectionEvents(t, EventConnectionDeleted, accountID, removed, now), NewAccountEvent(t, EventAccountDeleted, accountID, now))}
		if len(removed) > 0 {
			ev.Details = map[string]any{"connections_removed": len(removed), "revocations_queued": len(revs)}
		}
		return revs, ev, nil
	})
}

// announce attaches to ev, the audit entry of a create (cur nil) or an
// update of cur, the Linked Account event it makes. Apply does not: the
// CSV importer applies rows with it and announces a whole import once
// (Import Completed), not each row. A nil ev (nothing changed) announces
// nothing.
func announce(t Tenant, cur *LinkedAccount, ev *AuditEntry) {
	if ev == nil {
		return
	}
	typ := EventAccountUpdated
	if cur == nil {
		typ = EventAccountCreated
	}
	ev.Events = append(ev.Events, NewAccountEvent(t, typ, ev.AccountID, ev.Time))
}

// Revocations turns the removed connections of acct that hold OAuth tokens
// into revocations, each sealed under a data key of its own.
func (s *AccountService) Revocations(t Tenant, acct *LinkedAccount, removed []*Connection) ([]*Revocation, error) {
	var out []*Revocation
	for _, c := range removed {
		if c.AuthType != AuthOAuth2 || len(c.Credentials) == 0 {
			continue
		}
		sec, err := s.OpenConnection(t, acct, c)
		if err != nil {
			return nil, err
		}
		// The refresh token, where there is one, revokes the whole grant.
		token := sec.RefreshToken
		if token == "" {
			token = sec.AccessToken
		}
		if token == "" {
			continue
		}
		r := &Revocation{ID: NewID(), OrgID: t.OrgID, Env: t.Env, AccountID: acct.AccountID, Slug: c.Slug, NextAt: s.now(), CreatedAt: s.now()}
		if r.DataKey, err = s.Keys.NewDataKey("revocation/" + r.ID); err != nil {
			return nil, err
		}
		if r.Token, err = s.Keys.Seal(r.DataKey, "revocation/"+r.ID, "token", []byte(token)); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// OpenConnection returns a connection's secrets in clear.
func (s *AccountService) OpenConnection(t Tenant, acct *LinkedAccount, c *Connection) (*ConnectionSecrets, error) {
	var sec ConnectionSecrets
	if len(c.Credentials) == 0 {
		return &sec, nil
	}
	b, err := s.Keys.Open(acct.DataKey, KeyOwner(t, acct.ID), ConnectionField(c.ID), c.Credentials)
	if err != nil {
		return nil, fmt.Errorf("open connection %s: %w", c.ID, err)
	}
	if err := json.Unmarshal(b, &sec); err != nil {
		return nil, fmt.Errorf("open connection %s: %w", c.ID, err)
	}
	return &sec, nil
}

// OpenCredentials returns the account's your_app credentials in clear, or nil.
func (s *AccountService) OpenCredentials(t Tenant, a *LinkedAccount) (json.RawMessage, error) {
	if !a.HasCredentials() {
		return nil, nil
	}
	return s.Keys.Open(a.DataKey, KeyOwner(t, a.ID), CredentialsField, a.Credentials)
}

// Apply computes the next state of cur (nil for a new account) under in, and
// the audit entry naming what changed. It returns a nil account when nothing
// would change, so that a repeated upsert writes nothing. in must have been
// validated. The CSV importer calls it for each row, so rows and API calls
// follow the same rules.
func (s *AccountService) Apply(t Tenant, actor string, cur *LinkedAccount, in AccountInput) (*LinkedAccount, *AuditEntry, error) {
	now := s.now()
	var next LinkedAccount
	var fields []string
	action := AuditAccountUpdate
	if cur == nil {
		action = AuditAccountCreate
		next = LinkedAccount{ID: NewIDAt(now), AccountID: in.AccountID, CreatedAt: now}
		fields = append(fields, "linked_account_id")
	} else {
		next = *cur
		next.UDF = append([]UDF(nil), cur.UDF...)
	}
	if in.Name != nil && (cur == nil || *in.Name != cur.Name) {
		next.Name = *in.Name
		fields = append(fields, "name")
	}
	keys := make([]string, 0, len(in.UDF))
	for k := range in.UDF {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if changed := SetUDF(&next, k, in.UDF[k], now); changed {
			fields = append(fields, "udf."+k)
		}
	}
	if len(next.UDF) > MaxUDFKeys {
		return nil, nil, FieldError("udf", "the account would have %d udf keys; at most %d are allowed", len(next.UDF), MaxUDFKeys)
	}
	if in.Credentials != nil {
		if next.DataKey == nil {
			key, err := s.Keys.NewDataKey(KeyOwner(t, next.ID))
			if err != nil {
				return nil, nil, fmt.Errorf("new data key: %w", err)
			}
			next.DataKey = key
		}
		sealed, err := s.Keys.Seal(next.DataKey, KeyOwner(t, next.ID), CredentialsField, in.Credentials)
		if err != nil {
			return nil, nil, fmt.Errorf("seal credentials: %w", err)
		}
		// Secrets are compared by nothing: a resent value counts as a change,
		// which costs a write but never reveals whether a guess was right.
		next.Credentials = sealed
		fields = append(fields, "your_app.auth_credentials")
	}
	if len(fields) == 0 {
		return nil, nil, nil
	}
	next.UpdatedAt = now
	ev := &AuditEntry{ID: NewID(), Time: now, Actor: actor, Action: action, AccountID: in.AccountID, Fields: fields}
	return &next, ev, nil
}

// SetUDF sets (or with a JSON null removes) one field, keeping the UDF slice
// sorted by key, and reports whether anything changed.
func SetUDF(a *LinkedAccount, key string, v json.RawMessage, now time.Time) bool {
	v = CanonicalUDF(v)
	i := sort.Search(len(a.UDF), func(i int) bool { return a.UDF[i].Key >= key })
	found := i < len(a.UDF) && a.UDF[i].Key == key
	switch {
	case jsonKind(v) == 'n':
		if !found {
			return false
		}
		a.UDF = append(a.UDF[:i], a.UDF[i+1:]...)
	case found:
		if bytes.Equal(a.UDF[i].Value, v) {
			return false
		}
		a.UDF[i].Value = append(json.RawMessage(nil), v...)
		a.UDF[i].UpdatedAt = now
	default:
		u := UDF{ID: UDFID(a.ID, key), Key: key, Value: append(json.RawMessage(nil), v...), CreatedAt: now, UpdatedAt: now}
		a.UDF = append(a.UDF, UDF{})
		copy(a.UDF[i+1:], a.UDF[i:])
		a.UDF[i] = u
	}
	return true
}

// CredentialsField names the your_app credentials among an account's secrets.
const CredentialsField = "your_app.auth_credentials"

// KeyOwner names the owner of an account's data key: tenant and internal id.
func KeyOwner(t Tenant, accountID string) string {
	return t.OrgID + "/" + string(t.Env) + "/" + accountID
}
