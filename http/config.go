package http

import (
	"encoding/json"
	"net/http"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
)

// configFieldJSON is a config field with its value, as the compatible API's
// Config DTO shows it.
type configFieldJSON struct {
	ID        string              `json:"id"`
	Name      string              `json:"name"`
	FieldType string              `json:"field_type"`
	Required  bool                `json:"required"`
	Options   []linkd.FieldOption `json:"options"`
	Labels    []linkd.FieldOption `json:"labels"`
	HelpText  string              `json:"help_text,omitempty"`
	Value     json.RawMessage     `json:"value,omitempty"`
}

type configWorkflowJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Enabled     bool              `json:"enabled"`
	Fields      []configFieldJSON `json:"fields"`
}

type fieldErrorJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	WorkflowID string            `json:"workflow_id,omitempty"`
	Error      map[string]string `json:"error"`
}

// configJSON is the compatible API's Config DTO, with linkd's _id and
// timestamps added.
type configJSON struct {
	ID          string               `json:"_id"`
	Slug        string               `json:"slug"`
	ConfigID    string               `json:"config_id"`
	Fields      []configFieldJSON    `json:"fields"`
	Workflows   []configWorkflowJSON `json:"workflows"`
	FieldErrors []fieldErrorJSON     `json:"field_errors"`
	CreatedAt   string               `json:"createdAt"`
	UpdatedAt   string               `json:"updatedAt"`
}

func renderConfigFields(fs []linkd.ConfigField, vals map[string]json.RawMessage) []configFieldJSON {
	out := make([]configFieldJSON, 0, len(fs))
	for _, f := range fs {
		opts := f.Options
		if opts == nil {
			opts = []linkd.FieldOption{}
		}
		out = append(out, configFieldJSON{ID: f.ID, Name: f.Name, FieldType: f.FieldType, Required: f.Required,
			Options: opts, Labels: []linkd.FieldOption{}, HelpText: f.HelpText, Value: vals[f.ID]})
	}
	return out
}

func renderConfig(v *connect.ConfigView) *configJSON {
	c := v.Config
	out := &configJSON{ID: c.ID, Slug: c.Slug, ConfigID: c.ConfigID, Fields: renderConfigFields(v.App.ConfigFields, c.Fields),
		Workflows: renderWorkflows(v), FieldErrors: []fieldErrorJSON{},
		CreatedAt: wireTime(c.CreatedAt), UpdatedAt: wireTime(c.UpdatedAt)}
	for _, p := range v.Problems() {
		out.FieldErrors = append(out.FieldErrors, fieldErrorJSON{ID: p.ID, Name: p.Name, WorkflowID: p.WorkflowID, Error: map[string]string{"message": p.Message}})
	}
	return out
}

// renderWorkflows lists every workflow of the app with its state in the
// config (off when never set).
func renderWorkflows(v *connect.ConfigView) []configWorkflowJSON {
	out := make([]configWorkflowJSON, 0, len(v.App.Workflows))
	for _, w := range v.App.Workflows {
		wj := configWorkflowJSON{ID: w.ID, Name: w.Name, Description: w.Description}
		var vals map[string]json.RawMessage
		if st := v.Config.Workflow(w.ID); st != nil {
			wj.Enabled, vals = st.Enabled, st.Fields
		}
		wj.Fields = renderConfigFields(w.Fields, vals)
		out = append(out, wj)
	}
	return out
}

// configBody is the body of POST and PUT /config.
type configBody struct {
	Slug      string                     `json:"slug"`
	ConfigID  string                     `json:"config_id"`
	Labels    []json.RawMessage          `json:"labels"`
	Fields    map[string]json.RawMessage `json:"fields"`
	Workflows []struct {
		ID      string                     `json:"id"`
		Enabled *bool                      `json:"enabled"`
		Fields  map[string]json.RawMessage `json:"fields"`
	} `json:"workflows"`
}

func (b *configBody) input() connect.ConfigInput {
	in := connect.ConfigInput{Fields: b.Fields}
	for _, w := range b.Workflows {
		in.Workflows = append(in.Workflows, connect.WorkflowInput{ID: w.ID, Enabled: w.Enabled, Fields: w.Fields})
	}
	return in
}

// handlePostConfig gets or creates a config (the compatible API's POST): an
// existing config is returned unchanged.
func (s *Server) handlePostConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	return s.writeConfigBody(w, r, body, true)
}

// handlePutConfig applies fields and workflow changes to a config, creating
// it when missing.
func (s *Server) handlePutConfig(w http.ResponseWriter, r *http.Request, body []byte) error {
	return s.writeConfigBody(w, r, body, false)
}

func (s *Server) writeConfigBody(w http.ResponseWriter, r *http.Request, body []byte, onlyCreate bool) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	var b configBody
	if err := decodeJSON(body, &b); err != nil {
		return err
	}
	if b.Slug == "" {
		b.Slug = r.Header.Get("slug")
	}
	v, _, err := s.connections.PutConfig(r.Context(), tenant(r), actor(r), id, b.Slug, b.ConfigID, b.input(), onlyCreate)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderConfig(v))
	return nil
}

// handleGetConfig returns one config; without a config id in the path, the
// account's default config (config id = the account's id).
func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	v, err := s.connections.Config(r.Context(), tenant(r), id, r.PathValue("slug"), r.PathValue("config_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, renderConfig(v))
	return nil
}

func (s *Server) handleDeleteConfig(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	if err := s.connections.DeleteConfig(r.Context(), tenant(r), actor(r), id, r.PathValue("slug"), r.PathValue("config_id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "Installation Deleted Success"})
	return nil
}

// handleListConfigs lists the ids of the account's configs of an app.
func (s *Server) handleListConfigs(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	cfgs, err := s.connections.Configs(r.Context(), tenant(r), id, r.PathValue("slug"))
	if err != nil {
		return err
	}
	type item struct {
		ID       string `json:"_id"`
		ConfigID string `json:"config_id"`
	}
	out := make([]item, 0, len(cfgs))
	for _, c := range cfgs {
		out = append(out, item{c.ID, c.ConfigID})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleToggleWorkflow switches one workflow of a config on or off.
func (s *Server) handleToggleWorkflow(w http.ResponseWriter, r *http.Request, body []byte) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	var b struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeJSON(body, &b); err != nil {
		return err
	}
	if b.Enabled == nil {
		return linkd.FieldError("enabled", "enabled (true or false) is required")
	}
	in := connect.ConfigInput{Workflows: []connect.WorkflowInput{{ID: r.PathValue("workflow_id"), Enabled: b.Enabled}}}
	v, _, err := s.connections.PutConfig(r.Context(), tenant(r), actor(r), id, r.PathValue("slug"), r.PathValue("config_id"), in, false)
	if err != nil {
		if e, ok := err.(*linkd.Error); ok && e.Field == "workflows[0].id" {
			e.Field = "workflow_id"
		} else if ok && e.Field == "workflows[0].enabled" {
			e.Field = "enabled"
		}
		return err
	}
	type wfJSON struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Enabled     bool   `json:"enabled"`
	}
	out := []wfJSON{}
	for _, wf := range renderWorkflows(v) {
		out = append(out, wfJSON{wf.ID, wf.Name, wf.Description, wf.Enabled})
	}
	writeJSON(w, http.StatusOK, map[string]any{"workflows": out})
	return nil
}

// handleEnabledWorkflows lists the workflows switched on across the
// account's configs.
func (s *Server) handleEnabledWorkflows(w http.ResponseWriter, r *http.Request) error {
	id, err := accountFor(r)
	if err != nil {
		return err
	}
	list, err := s.connections.EnabledWorkflows(r.Context(), tenant(r), id)
	if err != nil {
		return err
	}
	type item struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Icon        string `json:"icon"`
		ConfigID    string `json:"config_id"`
		Application string `json:"application"`
		Slug        string `json:"slug"`
		CreatedAt   string `json:"createdAt"`
		UpdatedAt   string `json:"updatedAt"`
	}
	out := make([]item, 0, len(list))
	for _, e := range list {
		out = append(out, item{ID: e.Workflow.ID, Name: e.Workflow.Name, Description: e.Workflow.Description, Icon: e.App.IconURL,
			ConfigID: e.ConfigID, Application: e.App.Name, Slug: e.App.Slug,
			CreatedAt: wireTime(e.State.CreatedAt), UpdatedAt: wireTime(e.State.UpdatedAt)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
