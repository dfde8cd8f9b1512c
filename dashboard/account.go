package dashboard

import (
	"context"
	"hash/fnv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
)

// The linked account page (GET /account/{id}): metric cards, the connected
// apps with their removal, the apps' workflows with a switch each, the
// account's recent audit entries, and a side panel with its properties,
// user-defined fields and deletion. The actions live in account_*.go, each
// a POST that redirects back here; their confirmations are pages of their
// own without JavaScript and <dialog>s rendered into this page with it.

// activityLimit is how many audit entries "Recent activity" shows.
const activityLimit = 20

// accountView is what templates/account.html renders.
type accountView struct {
	Account *linkd.LinkedAccount
	Base    string // the page's path, id escaped: the actions' URLs start with it
	// Apps are the connected apps, by name.
	Apps []*integration
	// LastChange is the newest connection.* audit entry, nil when none.
	LastChange *activity
	Workflows  []*workflowGroup
	Activity   []*activity
	// Webhooks are the deliveries of the account's newest events, each a
	// link to its attempts.
	Webhooks []*linkd.Delivery
	Delete   *deletionPlan
	// Alert is a workflow switch's error, carried across the redirect back
	// here; it shows in the Workflows card.
	Alert string
	// Calls sums up the account's API calls; RecentCalls are the newest.
	Calls       *linkd.CallStats
	ErrorRate   string // of the last day's calls, "" without calls
	RecentCalls []*callRow
	// Executions sums up the account's workflow runs.
	Executions *execStats
	// NoService is set when the server runs without the connection service:
	// connections are shown but cannot be changed.
	NoService bool
}

// integration is one connected app of the account.
type integration struct {
	Slug, Name, IconURL string
	Initial             string // shown when the icon cannot be loaded
	Tone                int    // the letter tile's colour, 0–5
	Connected           time.Time
	Expired             bool // a refresh failed for good: the customer must reconnect
	OAuth               bool // connected with OAuth (else with keys)
	Revocable           bool // OAuth, at a provider with a revocation endpoint
	Identifier          string
	Remove              *removalPlan
}

// workflowGroup is one app's workflows within one of the account's configs.
type workflowGroup struct {
	Slug, Name, IconURL, Initial string
	Tone                         int
	ConfigID                     string // "" for the default config (the account's id)
	ShowConfig                   bool   // the app has several configs: name them
	Items                        []*workflowItem
	// Missing are the app's required config fields without a value, shown
	// while one of its workflows is on (it cannot run without them).
	Missing []string
}

// workflowItem is one workflow with its state in the config.
type workflowItem struct {
	ID, Name, Description string
	Enabled               bool
	Missing               []string // required fields without a value, while enabled
	DOMID                 string
}

// handleAccount shows one linked account of the session's tenant; an id of
// another tenant or environment is simply not found.
func (h *Handler) handleAccount(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	v, err := h.loadAccount(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	v.Alert = takeAccountAlert(w, r)
	return h.render(w, r, http.StatusOK, "account", Page{Title: accountTitle(v.Account), Nav: "accounts", Data: v})
}

// accountPath is the page of the account id.
func accountPath(id string) string { return "/account/" + url.PathEscape(id) }

// accountTitle names an account: its name, or its id.
func accountTitle(a *linkd.LinkedAccount) string {
	if a.Name != "" {
		return a.Name
	}
	return a.AccountID
}

// accountNotFound is the error of an id the tenant does not have.
func accountNotFound(c *Current, id string) error {
	return linkd.Errorf(linkd.ENOTFOUND, "There is no linked account %q in the %s environment.", id, c.Session.Env)
}

// loadAccount reads everything the page shows: the account with its
// connections, its configs, and its recent audit entries.
func (h *Handler) loadAccount(ctx context.Context, c *Current, id string) (*accountView, error) {
	t := c.Tenant()
	acct, conns, err := h.store.Connections(ctx, t, id)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return nil, accountNotFound(c, id)
	} else if err != nil {
		return nil, err
	}
	_, cfgs, err := h.store.Configs(ctx, t, id, "")
	if linkd.ErrorCode(err) == linkd.ENOTFOUND { // deleted in between
		return nil, accountNotFound(c, id)
	} else if err != nil {
		return nil, err
	}
	v := &accountView{Account: acct, Base: accountPath(acct.AccountID), NoService: h.cfg.Connections == nil}
	v.Apps = h.integrations(acct, conns, cfgs)
	v.Workflows = h.workflowGroups(acct, v.Apps, cfgs)
	v.Delete = h.deletionPlan(acct, v.Apps, cfgs)
	if err := h.loadActivity(ctx, c, acct, v); err != nil {
		return nil, err
	}
	if err := h.loadCalls(ctx, c, acct, v); err != nil {
		return nil, err
	}
	if err := h.loadExecStats(ctx, c, acct, v); err != nil {
		return nil, err
	}
	return v, nil
}

// catalogApp returns an app of the catalog; false when the server has no
// catalog or the app left it.
func (h *Handler) catalogApp(slug string) (*linkd.App, bool) {
	if h.cfg.Connections == nil || h.cfg.Connections.Catalog == nil {
		return nil, false
	}
	return h.cfg.Connections.Catalog.App(slug)
}

// integrations groups the connections by app (an app may be connected with
// more than one auth type; the page shows it once).
func (h *Handler) integrations(acct *linkd.LinkedAccount, conns []*linkd.Connection, cfgs []*linkd.AppConfig) []*integration {
	var out []*integration
	bySlug := map[string]*integration{}
	for _, cn := range conns {
		in := bySlug[cn.Slug]
		if in == nil {
			in = &integration{Slug: cn.Slug, Name: cn.Slug, Connected: cn.CreatedAt}
			if app, ok := h.catalogApp(cn.Slug); ok {
				in.Name, in.IconURL = app.Name, app.IconURL
			}
			in.Initial, in.Tone = appInitial(in.Name), appTone(cn.Slug)
			bySlug[cn.Slug] = in
			out = append(out, in)
		}
		in.Connected = earlier(in.Connected, cn.CreatedAt)
		in.Expired = in.Expired || cn.Status == linkd.ConnExpired
		in.OAuth = in.OAuth || cn.AuthType == linkd.AuthOAuth2
		if in.Identifier == "" {
			in.Identifier = cn.Identifier
		}
	}
	slices.SortFunc(out, func(a, b *integration) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	for _, in := range out {
		if app, ok := h.catalogApp(in.Slug); ok && in.OAuth && app.OAuth != nil && app.OAuth.RevocationURL != "" {
			in.Revocable = true
		}
		var theirs []*linkd.Connection
		for _, cn := range conns {
			if cn.Slug == in.Slug {
				theirs = append(theirs, cn)
			}
		}
		in.Remove = h.removalPlan(acct, in, theirs, cfgs)
	}
	return out
}

// workflowGroups lists, for each connected app, its workflows in each of
// the account's configs of it (the default config when it has none yet:
// switching a workflow on creates it).
func (h *Handler) workflowGroups(acct *linkd.LinkedAccount, apps []*integration, cfgs []*linkd.AppConfig) []*workflowGroup {
	var out []*workflowGroup
	for _, in := range apps {
		app, ok := h.catalogApp(in.Slug)
		if !ok {
			continue
		}
		var mine []*linkd.AppConfig
		for _, cf := range cfgs {
			if cf.Slug == in.Slug {
				mine = append(mine, cf)
			}
		}
		if len(mine) == 0 {
			mine = []*linkd.AppConfig{{Slug: in.Slug, ConfigID: acct.AccountID}}
		}
		for _, cf := range mine {
			g := &workflowGroup{Slug: in.Slug, Name: in.Name, IconURL: in.IconURL, Initial: in.Initial, Tone: in.Tone, ShowConfig: len(mine) > 1}
			if cf.ConfigID != acct.AccountID {
				g.ConfigID = cf.ConfigID
			}
			problems := (&connect.ConfigView{App: app, Config: cf}).Problems()
			for _, wf := range app.Workflows {
				it := &workflowItem{ID: wf.ID, Name: wf.Name, Description: wf.Description, DOMID: domID("wf", in.Slug, cf.ConfigID, wf.ID)}
				if st := cf.Workflow(wf.ID); st != nil {
					it.Enabled = st.Enabled
				}
				for _, p := range problems {
					if p.WorkflowID == wf.ID {
						it.Missing = append(it.Missing, p.Name)
					}
				}
				g.Items = append(g.Items, it)
			}
			if cf.EnabledWorkflows() > 0 {
				for _, p := range problems {
					if p.WorkflowID == "" {
						g.Missing = append(g.Missing, p.Name)
					}
				}
			}
			out = append(out, g)
		}
	}
	return out
}

// domID joins parts into an HTML id: letters, digits and dashes only.
func domID(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('-')
		}
		for _, r := range p {
			if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
	}
	return b.String()
}

// appInitial is the letter an app's placeholder icon shows.
func appInitial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// appTone picks one of six tile colours for an app, the same on every page.
func appTone(slug string) int {
	f := fnv.New32a()
	f.Write([]byte(slug))
	return int(f.Sum32() % 6)
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// accountAlertCookie carries an action's error back to the account page,
// where it shows as an alert (the layout's notice is for successes).
const accountAlertCookie = "linkd_account_alert"

// redirectAlert redirects to target with an error for the account page.
func (h *Handler) redirectAlert(w http.ResponseWriter, r *http.Request, target, msg string) {
	http.SetCookie(w, &http.Cookie{Name: accountAlertCookie, Value: url.QueryEscape(msg), Path: "/account/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: h.https(r), MaxAge: 60})
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func takeAccountAlert(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(accountAlertCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: accountAlertCookie, Path: "/account/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	v, _ := url.QueryUnescape(ck.Value)
	return v
}
