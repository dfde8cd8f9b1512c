package connect

import (
	"context"

	"github.com/linkd-dev/linkd"
)

// Available reports whether the tenant's linked accounts may connect app:
// enabled in the tenant's settings, or enabled by default in the test
// environment; an OAuth app also needs the tenant's client credentials.
func Available(t linkd.Tenant, app *linkd.App, set *linkd.AppSettings) bool {
	enabled := app.EnabledByDefault && t.Env == linkd.EnvTest
	if set != nil {
		enabled = set.Enabled
	}
	if app.AuthType == linkd.AuthOAuth2 {
		return enabled && set != nil && set.ClientID != "" && len(set.ClientSecret) > 0
	}
	return enabled
}

// SettingsInput changes a tenant's settings of an app; nil fields keep
// their value. An empty ClientSecret clears it.
type SettingsInput struct {
	Enabled      *bool
	ClientID     *string
	ClientSecret *string
}

// PutSettings changes the tenant's settings of an app.
func (s *Service) PutSettings(ctx context.Context, t linkd.Tenant, actor, slug string, in SettingsInput) (*linkd.AppSettings, error) {
	app, ok := s.Catalog.App(slug)
	if !ok {
		return nil, linkd.AppNotFound(slug)
	}
	all, err := s.store.AppSettings(ctx, t)
	if err != nil {
		return nil, err
	}
	set := all[slug]
	if set == nil {
		set = &linkd.AppSettings{Slug: slug, Enabled: app.EnabledByDefault && t.Env == linkd.EnvTest}
	}
	var fields []string
	if in.Enabled != nil {
		set.Enabled = *in.Enabled
		fields = append(fields, "enabled")
	}
	if in.ClientID != nil {
		if len(*in.ClientID) > 1024 {
			return nil, linkd.FieldError("client_id", "client_id is longer than 1024 bytes")
		}
		set.ClientID = *in.ClientID
		fields = append(fields, "client_id")
	}
	if in.ClientSecret != nil {
		if len(*in.ClientSecret) > 4096 {
			return nil, linkd.FieldError("client_secret", "client_secret is longer than 4096 bytes")
		}
		set.ClientSecret = nil
		if *in.ClientSecret != "" {
			owner := linkd.AppSettingsOwner(t, slug)
			if set.DataKey == nil {
				if set.DataKey, err = s.Keys.NewDataKey(owner); err != nil {
					return nil, err
				}
			}
			if set.ClientSecret, err = s.Keys.Seal(set.DataKey, owner, "client_secret", []byte(*in.ClientSecret)); err != nil {
				return nil, err
			}
		}
		fields = append(fields, "client_secret")
	}
	if app.AuthType == linkd.AuthKeyBased && (in.ClientID != nil || in.ClientSecret != nil) {
		return nil, linkd.FieldError("client_id", "%s is key-based: it has no OAuth client credentials", app.Name)
	}
	set.UpdatedAt = s.now()
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: set.UpdatedAt, Actor: actor, Action: "application.settings", Fields: fields, Details: map[string]any{"slug": slug}}
	if err := s.store.PutAppSettings(ctx, t, set, ev); err != nil {
		return nil, err
	}
	return set, nil
}
