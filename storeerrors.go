package linkd

import "fmt"

// The errors both stores answer with, in one place: their texts reach API
// clients and dashboard users, so the two engines must not drift apart.

// ImportJobNotFound is the error of an import job id the tenant does not
// have.
func ImportJobNotFound(id string) error { return Errorf(ENOTFOUND, "Import job %s not found", id) }

// ImportJobFinished is the error of cancelling a job that has ended.
func ImportJobFinished(id, state string) error {
	return FieldError("job_id", "import job %s has already %s", id, state)
}

// BulkJobNotFound is the error of a bulk job id the tenant does not have.
func BulkJobNotFound(id string) error { return Errorf(ENOTFOUND, "no bulk job %s", id) }

// BulkJobLost is the error of saving a bulk job whose lease another
// runner took.
func BulkJobLost(id, owner string) error {
	return Errorf(ECONFLICT, "bulk job %s is no longer held by %s", id, owner)
}

// BadCursor is the error of a paging cursor this server did not make.
func BadCursor(cursor string) error {
	return FieldError("cursor", "cursor %q is not a cursor this server returned", cursor)
}

// UserNotFound is the error of a user id the organization does not have.
func UserNotFound(id string) error {
	return Errorf(ENOTFOUND, "There is no user %s in this organization.", id)
}

// UserEmailTaken is the error of adding a user whose email another has.
func UserEmailTaken(email string) error {
	return &Error{Code: EEXISTS, Field: "email", Message: fmt.Sprintf("A user with the email %s exists already.", email)}
}

// FirstUserExists is the error of a setup code used once a user exists.
func FirstUserExists() error {
	return Errorf(EEXISTS, "The organization has a user already; sign in instead.")
}

// LastEnabledUser is the error of disabling or deleting (what) the
// organization's last enabled user.
func LastEnabledUser(what string) error {
	return Errorf(EFORBIDDEN, "This is the organization's last enabled user: %s it would leave nobody to sign in. Add or enable another user first.", what)
}

// OrgExists is the error of creating an organization whose name is taken.
func OrgExists(name string) error {
	return Errorf(EEXISTS, "an organization named %q exists already", name)
}

// OrgNotFound is the error of an organization id (or name) that does not
// exist.
func OrgNotFound(id string) error { return Errorf(ENOTFOUND, "no organization with id %q", id) }

// OrgNamedNotFound is OrgNotFound by name.
func OrgNamedNotFound(name string) error {
	return Errorf(ENOTFOUND, "no organization named %q", name)
}

// APIKeyNotFound is the error of an API key id the organization does not
// have.
func APIKeyNotFound(id string) error { return Errorf(ENOTFOUND, "no API key with id %s", id) }

// OAuthStateUnknown and OAuthStateExpired are the errors of an OAuth
// callback whose state linkd cannot use.
func OAuthStateUnknown() error { return Errorf(ENOTFOUND, "unknown or already used OAuth state") }

// OAuthStateExpired is the error of a callback that came too late.
func OAuthStateExpired() error {
	return Errorf(ENOTFOUND, "the OAuth state has expired; start the connection again")
}

// WebhookNotFound is the error of a webhook id the tenant does not have.
func WebhookNotFound(id string) error {
	return &Error{Code: ENOTFOUND, Field: "id", Type: "RESOURCE_NOT_FOUND", Message: fmt.Sprintf("Webhook %s not found", id)}
}
