package http

import (
	_ "embed"
	"net/http"

	"github.com/linkd-dev/linkd/hosted"
)

//go:embed openapi.json
var openapiJSON []byte

// routes registers every route. It is the one place to read to know what the
// server answers; the OpenAPI test checks the document against it.
func (s *Server) routes() {
	s.handle("GET /healthz", s.handleHealthz)
	s.handle("GET /readyz", s.handleReadyz)
	s.handle("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) error {
		setJSONHeaders(w)
		w.Write(openapiJSON)
		return nil
	})
	if !s.metricsElsewhere {
		s.handle("GET /metrics", s.handleMetrics())
	}

	const la = "/api/v2/public/linked-account"
	s.handle("POST "+la, s.withAPIKey(s.withIdempotency(s.handleCreateAccount)))
	s.handle("PUT "+la, s.withKeyOrSession(s.withIdempotency(s.handleUpsertAccount)))
	s.handle("GET "+la, s.withAPIKey(s.handleListAccounts))
	s.handle("GET "+la+"/{linked_account_id}", s.withKeyOrSession(s.handleGetAccount))
	s.handle("DELETE "+la+"/{linked_account_id}", s.withAPIKey(s.handleDeleteAccount))
	s.handle("GET /api/v2/public/audit", s.withAPIKey(s.handleListAudit))

	s.handle("POST /api/v2/public/session-token", s.withAPIKey(s.withIdempotency(s.handleSessionToken)))
	s.handle("POST /api/v2/public/session-token/revoke", s.withSession(s.handleRevokeSession))
	s.handle("GET /api/v2/public/session/active-linked-account", s.withSession(s.handleActiveAccount))

	if s.connections != nil {
		const app = "/api/v2/public/application"
		s.handle("GET "+app, s.withKeyOrSession(s.handleListApps))
		s.handle("GET "+app+"/{slug}", s.withKeyOrSession(s.handleGetApp))
		// {slug}/settings goes through workflowRoutes' dispatcher.
		s.handle("PUT "+la+"/integration/save-key-credentials/{slug}", s.withKeyOrSession(s.withIdempotency(s.handleSaveKeys)))
		s.handle("DELETE "+la+"/integration/{slug}", s.withKeyOrSession(s.handleDisconnect))
		s.handle("GET "+la+"/integration/oauth-url/{slug}", s.withKeyOrSession(s.handleOAuthURL))
		s.handle("PUT /api/v2/public/migrate-token", s.withAPIKey(s.withIdempotency(s.handleMigrateToken)))
		// Using a connection from the backend (credentials.go, proxy.go).
		// The proxy is not idempotent here: a caller's Idempotency-Key
		// goes on to the app.
		s.handle("GET "+la+"/{linked_account_id}/connection/{slug}/credentials", s.withAPIKey(s.handleCredentials))
		if s.apps != nil {
			for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
				s.handle(m+" "+proxyPrefix+"{slug}/{path...}", s.withAPIKey(s.handleProxy))
			}
		}
		// Configs: which workflows an account switched on, and their fields.
		const cfg = "/api/v2/public/config"
		const bySlug = "/api/v2/public/slug/{slug}"
		s.handle("POST "+cfg, s.withKeyOrSession(s.withIdempotency(s.handlePostConfig)))
		s.handle("PUT "+cfg, s.withKeyOrSession(s.withIdempotency(s.handlePutConfig)))
		s.handle("GET "+bySlug+"/configs", s.withKeyOrSession(s.handleListConfigs))
		for _, p := range []string{bySlug + "/config", bySlug + "/config/{$}", bySlug + "/config/{config_id}"} {
			// The Node SDK asks for ".../config/" when it has no config id.
			s.handle("GET "+p, s.withKeyOrSession(s.handleGetConfig))
			s.handle("DELETE "+p, s.withKeyOrSession(s.handleDeleteConfig))
		}
		s.handle("PATCH "+bySlug+"/config/{config_id}/workflows/{workflow_id}", s.withKeyOrSession(s.withIdempotency(s.handleToggleWorkflow)))
		s.handle("GET /api/v2/public/workflow/enabled", s.withKeyOrSession(s.handleEnabledWorkflows))
		// The same, as the browser SDK calls them with a session token.
		s.handle("POST /api/v2/f-sdk/config", s.withSession(s.withIdempotency(s.handlePostConfig)))
		s.handle("PUT /api/v2/f-sdk/config", s.withSession(s.withIdempotency(s.handlePutConfig)))
		s.handle("GET /api/v2/f-sdk/slug/{slug}/config", s.withSession(s.handleGetConfig))
		s.handle("GET /api/v2/f-sdk/slug/{slug}/config/{config_id}", s.withSession(s.handleGetConfig))
		s.handle("DELETE /api/v2/f-sdk/slug/{slug}/config", s.withSession(s.handleDeleteConfig))
		s.handle("DELETE /api/v2/f-sdk/slug/{slug}/config/{config_id}", s.withSession(s.handleDeleteConfig))
		s.handle("GET /api/v2/f-sdk/application", s.withSession(s.handleListApps))
		s.handle("GET /api/v2/f-sdk/application/{slug}", s.withSession(s.handleGetApp))
		s.handle("POST /api/v2/app/{slug}/save", s.withSession(s.withIdempotency(s.handleSaveKeys)))
		s.handle("DELETE /api/v1/linked-acc/integration/{slug}", s.withSession(s.handleDisconnect))
		s.handle("GET /api/v1/{slug}/integrate", s.withSession(s.handleOAuthURL))
		// The hosted connect page (hosted.go): a URL made with a session
		// token, then a page whose credential is the token in its path.
		s.handle("POST /api/v2/public/connect-url", s.withSession(s.handleConnectURL))
		s.handle("DELETE /api/v2/public/connect-url", s.withKeyOrSession(s.handleRevokeConnectURLs))
		s.handle("GET /api/v2/public/hosted-properties", s.withSession(s.handleHostedProperties))
	}

	// The hosted connect page and the OAuth callback page are HTML, served
	// by package hosted; the routes are registered here too, so that logs
	// and metrics name them.
	if s.pages != nil {
		for _, p := range hosted.Patterns {
			s.handle(p, func(w http.ResponseWriter, r *http.Request) error {
				s.pages.ServeHTTP(w, r)
				return nil
			})
		}
	}

	// The organization as the browser sees it, and where it may call from
	// (cors.go, org.go).
	s.handle("GET /api/v3/org/basics", s.withSession(s.handleOrgBasics))
	s.handle("GET /api/v2/public/org/allowed-origins", s.withAPIKey(s.handleGetAllowedOrigins))
	s.handle("PUT /api/v2/public/org/allowed-origins", s.withAPIKey(s.withIdempotency(s.handlePutAllowedOrigins)))
	s.handle("GET /api/v2/public/org/settings", s.withAPIKey(s.handleGetOrgSettings))
	s.handle("PUT /api/v2/public/org/settings", s.withAPIKey(s.withIdempotency(s.handlePutOrgSettings)))

	// Webhook endpoints (webhook.go). The deprecated subscribe routes
	// and the SDK's DELETE without an id edit the environment's endpoints
	// as a whole.
	const wh = "/api/v2/public/webhook"
	s.handle("GET "+wh, s.withAPIKey(s.handleListWebhooks))
	s.handle("POST "+wh, s.withAPIKey(s.withIdempotency(s.handleCreateWebhook)))
	s.handle("DELETE "+wh, s.withAPIKey(s.handleDeleteAllWebhooks))
	s.handle("GET "+wh+"/{id}", s.withAPIKey(s.handleGetWebhook))
	s.handle("PUT "+wh+"/{id}", s.withAPIKey(s.withIdempotency(s.handleUpdateWebhook)))
	s.handle("DELETE "+wh+"/{id}", s.withAPIKey(s.handleDeleteWebhook))
	s.handle("POST "+wh+"/subscribe", s.withAPIKey(s.withIdempotency(s.handleSubscribeWebhook)))
	s.handle("POST "+wh+"/unsubscribe", s.withAPIKey(s.withIdempotency(s.handleUnsubscribeWebhook)))
	s.handle("POST "+wh+"/{id}/rotate-secret", s.withAPIKey(s.handleRotateWebhookSecret))
	s.handle("GET "+wh+"/{id}/deliveries", s.withAPIKey(s.handleListDeliveries))
	s.handle("GET "+wh+"/{id}/deliveries/{delivery_id}", s.withAPIKey(s.handleGetDelivery))
	s.handle("POST "+wh+"/{id}/deliveries/{delivery_id}/redeliver", s.withAPIKey(s.handleRedeliver))
	s.handle("POST "+wh+"/{id}/test", s.withAPIKey(s.handleTestWebhook))
	s.handle("POST "+wh+"/{id}/replay", s.withAPIKey(s.withIdempotency(s.handleReplay)))
	s.handle("PUT /api/v2/public/webhooks/group/edit", s.withAPIKey(s.withIdempotency(s.handleEditWebhookGroup)))

	// Events, workflow runs and executions (workflows.go), and the
	// application/{slug}/{sub} dispatcher.
	s.workflowRoutes()

	s.handle("POST "+la+"/import", s.withAPIKey(s.handleImport))
	s.handle("GET "+la+"/import", s.withAPIKey(s.handleListImports))
	s.handle("GET "+la+"/import/sample.csv", s.handleSampleCSV)
	s.handle("GET "+la+"/import/{job_id}", s.withAPIKey(s.handleGetImport))
	s.handle("GET "+la+"/import/{job_id}/errors.csv", s.withAPIKey(s.handleImportErrors))
	s.handle("DELETE "+la+"/import/{job_id}", s.withAPIKey(s.handleCancelImport))
	s.handle("GET "+la+"/export.csv", s.withAPIKey(s.handleExport))
}
