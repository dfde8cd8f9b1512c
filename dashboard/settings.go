package dashboard

import (
	"net/http"
)

// settingsRoutes registers the Settings pages: the tenant's API keys, its
// applications (enabled, OAuth client credentials), the allowed origins of
// the browser SDK and hosted page, the import jobs, the webhook endpoints,
// and the organization's dashboard users. Everything is scoped by the
// session's tenant: the organization in the environment the header
// switch selects.
//
// Destructive actions (revoking a key, disabling an app, removing allowed
// origins) always go through a confirmation page of their own, so they are
// confirmed the same way with and without JavaScript.
func (h *Handler) settingsRoutes() {
	toKeys := func(w http.ResponseWriter, r *http.Request) error {
		http.Redirect(w, r, "/settings/api-keys", http.StatusSeeOther)
		return nil
	}
	h.page("GET /settings", toKeys)
	h.page("GET /settings/{$}", toKeys)

	h.page("GET /settings/api-keys", h.handleAPIKeys)
	h.page("POST /settings/api-keys", h.handleCreateAPIKey)
	h.page("GET /settings/api-keys/{id}/revoke", h.handleRevokeAPIKey)
	h.page("POST /settings/api-keys/{id}/revoke", h.handleRevokeAPIKey)

	h.page("GET /settings/apps", h.handleApps)
	h.page("POST /settings/apps/{slug}/enable", h.handleEnableApp)
	h.page("GET /settings/apps/{slug}/disable", h.handleDisableApp)
	h.page("POST /settings/apps/{slug}/disable", h.handleDisableApp)
	h.page("POST /settings/apps/{slug}/credentials", h.handleAppCredentials)

	h.page("GET /settings/origins", h.handleOrigins)
	h.page("POST /settings/origins", h.handleOrigins)

	h.page("GET /settings/imports", h.handleImportJobs)

	h.page("GET /settings/webhooks", h.handleWebhooks)
	h.page("POST /settings/webhooks", h.handleCreateWebhook)
	h.page("GET /settings/webhooks/{id}", h.handleWebhook)
	h.page("POST /settings/webhooks/{id}", h.handleEditWebhook)
	h.page("POST /settings/webhooks/{id}/enable", h.handleWebhookEnabled(true))
	h.page("POST /settings/webhooks/{id}/disable", h.handleWebhookEnabled(false))
	h.page("GET /settings/webhooks/{id}/rotate-secret", h.handleRotateWebhookSecret)
	h.page("POST /settings/webhooks/{id}/rotate-secret", h.handleRotateWebhookSecret)
	h.page("GET /settings/webhooks/{id}/delete", h.handleDeleteWebhook)
	h.page("POST /settings/webhooks/{id}/delete", h.handleDeleteWebhook)
	h.page("POST /settings/webhooks/{id}/test", h.handleSendTestWebhook)                          // settings_webhook_log.go
	h.page("GET /settings/webhooks/{id}/deliveries/{event}", h.handleWebhookDelivery)             // settings_webhook_log.go
	h.page("POST /settings/webhooks/{id}/deliveries/{event}/redeliver", h.handleRedeliverWebhook) // settings_webhook_log.go

	h.page("GET /settings/users", h.handleUsers)
	h.page("POST /settings/users/{id}/{action}", h.handleUserAction)
	h.page("GET /settings/users/{id}/delete", h.handleDeleteUser)
	h.page("POST /settings/users/{id}/delete", h.handleDeleteUser)
}

// settingsPage is a Settings page's Page: the Settings nav item, and the
// title.
func settingsPage(title string, data any) Page {
	return Page{Title: title, Nav: "settings", Data: data}
}
