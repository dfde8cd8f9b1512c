package dashboard

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/linkd-dev/linkd"
)

// deletionPlan says exactly what deleting the account takes with it, for
// the confirmation page and the page's dialog alike.
type deletionPlan struct {
	Question string   // "Delete Acme (acme-001)?"
	Items    []string // what goes, one sentence each
	Page     string   // the confirmation page (without JavaScript)
	Action   string   // where the form posts
	Button   string
}

// accountLabel names an account with its id: "Acme (acme-001)", or the id
// alone when it has no name.
func accountLabel(a *linkd.LinkedAccount) string {
	if a.Name == "" || a.Name == a.AccountID {
		return a.AccountID
	}
	return a.Name + " (" + a.AccountID + ")"
}

// deletionPlan lists what AccountService.Delete removes with acct: its
// fields, its connections (credentials destroyed, OAuth grants revoked at
// the providers), its configs with their workflows, its session tokens.
func (h *Handler) deletionPlan(acct *linkd.LinkedAccount, apps []*integration, cfgs []*linkd.AppConfig) *deletionPlan {
	p := &deletionPlan{Question: "Delete " + accountLabel(acct) + "?", Page: accountPath(acct.AccountID) + "/delete",
		Action: accountPath(acct.AccountID) + "/delete", Button: "Delete account"}
	what := "The linked account " + acct.AccountID
	switch {
	case acct.Name != "" && len(acct.UDF) > 0:
		what += fmt.Sprintf(", its name and %s", countNoun(len(acct.UDF), "user-defined field", "user-defined fields"))
	case acct.Name != "":
		what += " and its name"
	case len(acct.UDF) > 0:
		what += " and its " + countNoun(len(acct.UDF), "user-defined field", "user-defined fields")
	}
	if acct.HasCredentials() {
		what += ", and the your_app credentials stored for it"
	}
	p.Items = append(p.Items, what+".")

	if len(apps) == 0 {
		p.Items = append(p.Items, "No connections: it has no app connected.")
	} else {
		names := make([]string, len(apps))
		oauth, revocable := 0, 0
		for i, in := range apps {
			names[i] = in.Name
			if in.OAuth {
				oauth++
			}
			if in.Revocable {
				revocable++
			}
		}
		s := fmt.Sprintf("%s (%s): their stored credentials are destroyed", countNoun(len(apps), "connection", "connections"), strings.Join(names, ", "))
		switch {
		case revocable > 0 && revocable == oauth:
			s += " and the OAuth tokens are revoked at the providers"
		case revocable > 0:
			s += " and the OAuth tokens are revoked at the providers that offer it"
		}
		p.Items = append(p.Items, s+".")
	}
	if len(cfgs) == 0 {
		p.Items = append(p.Items, "No configs: no workflow is set up.")
	} else {
		var active []string
		for _, cf := range cfgs {
			app, _ := h.catalogApp(cf.Slug)
			for _, st := range cf.Workflows {
				if st.Enabled {
					active = append(active, workflowName(app, st.ID))
				}
			}
		}
		s := countNoun(len(cfgs), "config", "configs") + " with " + countNoun(len(active), "active workflow", "active workflows")
		if len(active) > 0 {
			s += " (" + strings.Join(active, ", ") + "), switched off for good"
		}
		p.Items = append(p.Items, s+".")
	}
	p.Items = append(p.Items, "Its session tokens: the SDK and hosted connect pages signed in as this account stop working at once.")
	return p
}

// deleteData is the confirmation page of an account's deletion.
type deleteData struct {
	Account *linkd.LinkedAccount
	Base    string
	Plan    *deletionPlan
}

// handleDeleteAccount confirms (GET) and deletes (POST) the account with
// everything it owns, through the same AccountService.Delete as the API.
func (h *Handler) handleDeleteAccount(w http.ResponseWriter, r *http.Request) error {
	c := current(r)
	id := r.PathValue("id")
	if r.Method == http.MethodGet {
		v, err := h.loadAccount(r.Context(), c, id)
		if err != nil {
			return err
		}
		return h.render(w, r, http.StatusOK, "account_delete", Page{Title: v.Delete.Question, Nav: "accounts",
			Data: deleteData{Account: v.Account, Base: v.Base, Plan: v.Delete}})
	}
	acct, err := h.store.FindAccount(r.Context(), c.Tenant(), id)
	if linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, id)
	} else if err != nil {
		return err
	}
	if err := h.cfg.Services.Accounts.Delete(r.Context(), c.Tenant(), c.Actor(), acct.AccountID); linkd.ErrorCode(err) == linkd.ENOTFOUND {
		return accountNotFound(c, id)
	} else if err != nil {
		return err
	}
	h.redirectNotice(w, r, "/accounts", "Deleted "+accountLabel(acct)+" and everything it owned.")
	return nil
}
