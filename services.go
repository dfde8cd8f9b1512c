package linkd

// Services are the domain's services over one store: every change to data
// goes through one of them (the front ends get these and a Reader, never the
// Store). cmd/linkd wires them; tests build the same with NewServices.
type Services struct {
	Accounts    *AccountService
	APIKeys     *APIKeyService
	Hosted      *HostedService
	Sessions    *SessionService
	Settings    *SettingsService
	Idempotency *IdempotencyService
	Users       *UserService
	Orgs        *OrgService
	Bulk        *BulkService
	// Webhooks are the tenants' webhook endpoints; set its Catalog so
	// that a slug filter must name a known app.
	Webhooks *WebhookService
	// Executions are workflow runs and event definitions; set its
	// Catalog (and Wake, to the runner's).
	Executions *ExecutionService
}

// NewServices builds every service over store, sealing secrets with keys;
// publicURL is where users reach linkd (hosted links start with it).
func NewServices(store Store, keys Keyring, publicURL string) *Services {
	accounts := NewAccountService(store, keys)
	return &Services{
		Accounts:    accounts,
		APIKeys:     NewAPIKeyService(store),
		Hosted:      NewHostedService(store, publicURL),
		Sessions:    NewSessionService(store, 0),
		Settings:    NewSettingsService(store),
		Idempotency: NewIdempotencyService(store, keys),
		Users:       NewUserService(store),
		Orgs:        NewOrgService(store),
		Bulk:        NewBulkService(store, accounts),
		Webhooks:    NewWebhookService(store, keys),
		Executions:  NewExecutionService(store),
	}
}
