package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/linkd-dev/linkd"
)

// ConfigInput is a write to a config: field values by field id (a JSON null
// clears one) and workflow changes.
type ConfigInput struct {
	Fields    map[string]json.RawMessage
	Workflows []WorkflowInput
}

// WorkflowInput changes one workflow of a config.
type WorkflowInput struct {
	ID      string
	Enabled *bool // nil leaves it as it is
	Fields  map[string]json.RawMessage
}

// ConfigView is a config with the app that defines its fields and workflows.
type ConfigView struct {
	App    *linkd.App
	Config *linkd.AppConfig
}

// FieldProblem is a required field without a value: the config is kept
// (settings are filled in steps), and the problem is reported beside it, as
// the compatible API's field_errors do.
type FieldProblem struct {
	ID, Name, WorkflowID, Message string
}

// Problems lists the required fields of the app, and of its enabled
// workflows, that have no value.
func (v *ConfigView) Problems() []FieldProblem {
	var out []FieldProblem
	missing := func(fs []linkd.ConfigField, vals map[string]json.RawMessage, wf string) {
		for _, f := range fs {
			if f.Required && len(vals[f.ID]) == 0 {
				out = append(out, FieldProblem{ID: f.ID, Name: f.Name, WorkflowID: wf, Message: f.Name + " is required"})
			}
		}
	}
	missing(v.App.ConfigFields, v.Config.Fields, "")
	for _, w := range v.App.Workflows {
		if st := v.Config.Workflow(w.ID); st != nil && st.Enabled {
			missing(w.Fields, st.Fields, w.ID)
		}
	}
	return out
}

// configApp returns the app of a config route: available to the tenant, or
// still connected to the account (so its config can be read and removed).
func (s *Service) configApp(ctx context.Context, t linkd.Tenant, accountID, slug string) (*linkd.App, error) {
	if slug == "" {
		return nil, &linkd.Error{Code: linkd.EINVALID, Field: "slug", Message: "Missing Slug"}
	}
	if err := linkd.ValidateAccountID(accountID); err != nil {
		return nil, err
	}
	// The usual case needs only the tenant's settings; the account's
	// connections are read only for an app no longer available.
	if app, _, err := s.app(ctx, t, slug); err == nil || linkd.ErrorCode(err) != linkd.ENOTFOUND {
		return app, err
	}
	views, err := s.AccountApps(ctx, t, accountID, slug)
	if err != nil {
		return nil, err
	}
	return views[0].App, nil
}

// configID returns the config id a request names, the account's own id by
// default.
func configID(accountID, id string) (string, error) {
	if id == "" {
		return accountID, nil
	}
	return id, linkd.ValidateConfigID(id)
}

// Config returns one config; ENOTFOUND when there is none.
func (s *Service) Config(ctx context.Context, t linkd.Tenant, accountID, slug, id string) (*ConfigView, error) {
	app, err := s.configApp(ctx, t, accountID, slug)
	if err != nil {
		return nil, err
	}
	if id, err = configID(accountID, id); err != nil {
		return nil, err
	}
	_, cfgs, err := s.store.Configs(ctx, t, accountID, slug)
	if err != nil {
		return nil, err
	}
	for _, c := range cfgs {
		if c.ConfigID == id {
			return &ConfigView{App: app, Config: c}, nil
		}
	}
	return nil, &linkd.Error{Code: linkd.ENOTFOUND, Field: "config_id", Message: fmt.Sprintf("Config with config id %s not found", id)}
}

// Configs lists the account's configs of an app.
func (s *Service) Configs(ctx context.Context, t linkd.Tenant, accountID, slug string) ([]*linkd.AppConfig, error) {
	if _, err := s.configApp(ctx, t, accountID, slug); err != nil {
		return nil, err
	}
	_, cfgs, err := s.store.Configs(ctx, t, accountID, slug)
	return cfgs, err
}

// PutConfig writes a config. With onlyCreate (the compatible API's POST,
// "get or create") an existing config is returned unchanged; otherwise in
// is applied to it, creating it when missing. Values are checked against the
// app's fields, unknown fields and workflows are refused, and a workflow can
// be switched on only while the account is connected to the app.
func (s *Service) PutConfig(ctx context.Context, t linkd.Tenant, actor, accountID, slug, id string, in ConfigInput, onlyCreate bool) (*ConfigView, bool, error) {
	app, err := s.configApp(ctx, t, accountID, slug)
	if err != nil {
		return nil, false, err
	}
	if id, err = configID(accountID, id); err != nil {
		return nil, false, err
	}
	if err := checkConfigInput(app, in); err != nil {
		return nil, false, err
	}
	cfg, created, err := s.store.PutConfig(ctx, t, accountID, slug, id, func(acct *linkd.LinkedAccount, connected bool, cur *linkd.AppConfig) (*linkd.AppConfig, *linkd.AuditEntry, error) {
		if cur != nil && onlyCreate {
			return nil, nil, nil
		}
		now := s.now()
		next := &linkd.AppConfig{ID: linkd.NewID(), AccountPK: acct.ID, Slug: slug, ConfigID: id, CreatedAt: now}
		action := "config.create"
		if cur != nil {
			next, action = cloneConfig(cur), "config.update"
		}
		next.UpdatedAt = now
		changed, err := applyConfigInput(next, in, connected, now)
		if err != nil {
			return nil, nil, err
		}
		if cur != nil && len(changed) == 0 {
			return nil, nil, nil // nothing to write, nothing to audit
		}
		size := 0
		for _, v := range next.Fields {
			size += len(v)
		}
		for _, w := range next.Workflows {
			for _, v := range w.Fields {
				size += len(v)
			}
		}
		if size > linkd.MaxConfigBytes {
			return nil, nil, &linkd.Error{Code: linkd.ETOOLARGE, Field: "fields", Message: fmt.Sprintf("the config's values take %d bytes; at most %d are allowed", size, linkd.MaxConfigBytes)}
		}
		ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: now, Actor: actor, Action: action, AccountID: accountID,
			Fields: changed, Details: map[string]any{"slug": slug, "config_id": id}}
		return next, ev, nil
	})
	if err != nil {
		return nil, false, err
	}
	return &ConfigView{App: app, Config: cfg}, created, nil
}

// DeleteConfig removes one config.
func (s *Service) DeleteConfig(ctx context.Context, t linkd.Tenant, actor, accountID, slug, id string) error {
	if _, err := s.configApp(ctx, t, accountID, slug); err != nil {
		return err
	}
	id, err := configID(accountID, id)
	if err != nil {
		return err
	}
	ev := &linkd.AuditEntry{ID: linkd.NewID(), Time: s.now(), Actor: actor, Action: "config.delete", AccountID: accountID,
		Details: map[string]any{"slug": slug, "config_id": id}}
	return s.store.DeleteConfig(ctx, t, accountID, slug, id, ev)
}

// EnabledWorkflow is a workflow switched on in one of an account's configs.
type EnabledWorkflow struct {
	App      *linkd.App
	Workflow *linkd.Workflow
	ConfigID string
	State    linkd.WorkflowState
}

// EnabledWorkflows lists the workflows switched on across the account's
// configs, by app, config and workflow.
func (s *Service) EnabledWorkflows(ctx context.Context, t linkd.Tenant, accountID string) ([]EnabledWorkflow, error) {
	if err := linkd.ValidateAccountID(accountID); err != nil {
		return nil, err
	}
	_, cfgs, err := s.store.Configs(ctx, t, accountID, "")
	if err != nil {
		return nil, err
	}
	out := []EnabledWorkflow{}
	for _, c := range cfgs {
		app, ok := s.Catalog.App(c.Slug)
		if !ok {
			continue // the app left the catalog; its config stays until removed
		}
		for _, w := range c.Workflows {
			if !w.Enabled {
				continue
			}
			if wf := findWorkflow(app, w.ID); wf != nil {
				out = append(out, EnabledWorkflow{App: app, Workflow: wf, ConfigID: c.ConfigID, State: w})
			}
		}
	}
	return out, nil
}

func findWorkflow(app *linkd.App, id string) *linkd.Workflow {
	for i := range app.Workflows {
		if app.Workflows[i].ID == id {
			return &app.Workflows[i]
		}
	}
	return nil
}

func findField(fs []linkd.ConfigField, id string) *linkd.ConfigField {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}

// checkConfigInput validates in against the app before any transaction.
func checkConfigInput(app *linkd.App, in ConfigInput) error {
	check := func(prefix string, fs []linkd.ConfigField, vals map[string]json.RawMessage) error {
		for id, v := range vals {
			name := prefix + "fields." + id
			f := findField(fs, id)
			if f == nil {
				return linkd.FieldError(name, "%s: %s has no field %q", name, app.Slug, id)
			}
			if string(v) == "null" {
				continue
			}
			if err := linkd.ValidateConfigValue(name, f, v); err != nil {
				return err
			}
		}
		return nil
	}
	if err := check("", app.ConfigFields, in.Fields); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, w := range in.Workflows {
		prefix := fmt.Sprintf("workflows[%d].", i)
		wf := findWorkflow(app, w.ID)
		if w.ID == "" {
			return linkd.FieldError(prefix+"id", "%sid is required", prefix)
		}
		if wf == nil {
			return &linkd.Error{Code: linkd.EINVALID, Field: prefix + "id", Message: fmt.Sprintf("%s has no workflow %q", app.Slug, w.ID)}
		}
		if seen[w.ID] {
			return linkd.FieldError(prefix+"id", "workflow %q is listed twice", w.ID)
		}
		seen[w.ID] = true
		if err := check(prefix, wf.Fields, w.Fields); err != nil {
			return err
		}
	}
	return nil
}

// applyConfigInput applies in to c and returns the names of what changed.
func applyConfigInput(c *linkd.AppConfig, in ConfigInput, connected bool, now time.Time) ([]string, error) {
	var changed []string
	merge := func(prefix string, dst *map[string]json.RawMessage, vals map[string]json.RawMessage) {
		for id, v := range vals {
			old, had := (*dst)[id]
			if string(v) == "null" {
				if had {
					delete(*dst, id)
					changed = append(changed, prefix+"fields."+id)
				}
				continue
			}
			if *dst == nil {
				*dst = map[string]json.RawMessage{}
			}
			if !had || string(old) != string(v) {
				(*dst)[id] = v
				changed = append(changed, prefix+"fields."+id)
			}
		}
	}
	merge("", &c.Fields, in.Fields)
	for i, w := range in.Workflows {
		st := c.Workflow(w.ID)
		if st == nil {
			c.Workflows = append(c.Workflows, linkd.WorkflowState{ID: w.ID, CreatedAt: now, UpdatedAt: now})
			st = &c.Workflows[len(c.Workflows)-1]
		}
		prefix := "workflows." + w.ID + "."
		before := len(changed)
		if w.Enabled != nil && *w.Enabled != st.Enabled {
			if *w.Enabled && !connected {
				return nil, &linkd.Error{Code: linkd.EINVALID, Field: fmt.Sprintf("workflows[%d].enabled", i),
					Message: fmt.Sprintf("Application %s is not authenticated for this linked account: connect it before enabling workflows", c.Slug)}
			}
			st.Enabled = *w.Enabled
			changed = append(changed, prefix+"enabled")
		}
		merge(prefix, &st.Fields, w.Fields)
		if len(changed) > before {
			st.UpdatedAt = now
		}
	}
	sort.Slice(c.Workflows, func(i, j int) bool { return c.Workflows[i].ID < c.Workflows[j].ID })
	sort.Strings(changed)
	return changed, nil
}

// cloneConfig copies c deeply enough for applyConfigInput to change it.
func cloneConfig(c *linkd.AppConfig) *linkd.AppConfig {
	n := *c
	n.Fields = make(map[string]json.RawMessage, len(c.Fields))
	for k, v := range c.Fields {
		n.Fields[k] = v
	}
	n.Workflows = make([]linkd.WorkflowState, len(c.Workflows))
	for i, w := range c.Workflows {
		n.Workflows[i] = w
		n.Workflows[i].Fields = make(map[string]json.RawMessage, len(w.Fields))
		for k, v := range w.Fields {
			n.Workflows[i].Fields[k] = v
		}
	}
	return &n
}
