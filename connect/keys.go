package connect

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/linkd-dev/linkd"
)

// SaveKeys connects a key-based app with the customer's fields: required
// ones must be present, unknown ones are refused, values are sealed.
func (s *Service) SaveKeys(ctx context.Context, t linkd.Tenant, actor, accountID, slug string, values map[string]json.RawMessage) (*linkd.Connection, error) {
	if err := linkd.ValidateAccountID(accountID); err != nil {
		return nil, err
	}
	app, _, err := s.app(ctx, t, slug)
	if err != nil {
		return nil, err
	}
	if app.AuthType != linkd.AuthKeyBased {
		return nil, linkd.FieldError("slug", "%s connects with OAuth 2.0, not with keys", slug)
	}
	fields, err := checkFields(app, values)
	if err != nil {
		return nil, err
	}
	secret, err := json.Marshal(linkd.ConnectionSecrets{Fields: fields})
	if err != nil {
		return nil, err
	}
	return s.put(ctx, t, actor, accountID, slug, linkd.AuthKeyBased, linkd.EventConnectionCreated, func(c *linkd.Connection) {
		c.Status = linkd.ConnActive
		c.RefreshFailures, c.LastRefreshError, c.LastRefreshAt = 0, "", nil // a new grant, never refreshed
	}, secret)
}

// checkFields validates key-based input against the app's fields.
func checkFields(app *linkd.App, values map[string]json.RawMessage) (map[string]string, error) {
	known := map[string]linkd.InputField{}
	for _, f := range app.AuthInputs {
		known[f.Name] = f
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	out := map[string]string{}
	for _, name := range names {
		f, ok := known[name]
		if !ok {
			return nil, linkd.FieldError(name, "%s has no field %q", app.Name, name)
		}
		raw := values[name]
		var v string
		switch {
		case json.Unmarshal(raw, &v) == nil:
		case f.Type == "number" || f.Type == "boolean":
			v = string(raw)
		default:
			return nil, linkd.FieldError(name, "%s must be a string", name)
		}
		if len(v) > linkd.MaxUDFValueBytes {
			return nil, linkd.FieldError(name, "%s is longer than %d bytes", name, linkd.MaxUDFValueBytes)
		}
		if f.Type == "select" && v != "" && !linkd.OptionAllowed(f.Options, v) {
			return nil, linkd.FieldError(name, "%s must be one of the field's options", f.Label)
		}
		if v != "" {
			out[name] = v
		}
	}
	for _, f := range app.AuthInputs {
		if f.Required && out[f.Name] == "" {
			return nil, linkd.FieldError(f.Name, "%s is required", f.Label)
		}
	}
	return out, nil
}
