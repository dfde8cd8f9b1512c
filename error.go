package linkd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"
)

// Error codes. They are deliberately few: each maps to one HTTP status in the
// http package, and clients branch on them rather than on messages.
const (
	EINVALID  = "invalid"  // the input is malformed or breaks a rule
	EEXISTS   = "exists"   // the resource exists already (400 on the wire, as documented)
	ECONFLICT = "conflict" // the write clashes with a request in progress
	// EUNPROCESSABLE is well-formed input that cannot be acted on as sent:
	// an Idempotency-Key reused with another request (422, as the
	// well-known idempotency designs answer).
	EUNPROCESSABLE = "unprocessable"
	ENOTFOUND      = "not_found"    // no such resource in the caller's tenant
	EUNAUTHORIZED  = "unauthorized" // missing, unknown or revoked credentials
	EFORBIDDEN     = "forbidden"    // authenticated but not allowed
	ERATELIMITED   = "rate_limited" // too many requests for this key
	ETOOLARGE      = "too_large"    // the request body exceeds a limit
	EUNSUPPORTED   = "unsupported"  // e.g. a wrong content type
	EUPSTREAM      = "upstream"     // an app's API, called for the caller, failed or could not be reached
	ETIMEOUT       = "timeout"      // an app's API did not answer in time
	EUNAVAILABLE   = "unavailable"  // busy for now: try again after Error.RetryAfter
	EINTERNAL      = "internal"     // anything else; details are logged, not shown
)

// Error is the application error. Message is safe to show to API clients;
// Field names the offending input field when there is one, so that forms and
// scripts can point at it.
type Error struct {
	Code    string
	Message string
	Field   string
	// Type overrides the wire "error" code (e.g. INVALID_LINKED_ACCOUNT_ID)
	// where the compatible API documents a specific one.
	Type string
	// RetryAfter, for ERATELIMITED and EUNAVAILABLE, is how long the client
	// should wait before trying again (the Retry-After header).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("linkd error: code=%s field=%s message=%s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("linkd error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID error that names the field at fault.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the application error in err's chain,
// EUNAVAILABLE when err says the database cannot be reached now, or
// EINTERNAL for any other non-nil error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	} else if DatabaseUnavailable(err) {
		return EUNAVAILABLE
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the application error's
// message, or a generic text for internal errors so that no detail leaks.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	} else if DatabaseUnavailable(err) {
		// Not "nothing was changed": a connection dropped while a commit
		// was under way may have committed it.
		return "The database cannot be reached right now. Try again shortly: a change sent with an Idempotency-Key is applied once however often it is sent."
	}
	return "Internal error."
}

// DatabaseRetryAfter is the wait a client is told when the database
// cannot be reached: a restart or a failover takes seconds.
const DatabaseRetryAfter = 5 * time.Second

// DatabaseUnavailable reports whether err says that the database cannot be
// reached now (refused or dropped connections, a server shutting down or
// starting up), as opposed to a fault of the request or of linkd: such a
// request failed whole and may be retried, so clients get 503 with
// Retry-After rather than 500. PostgreSQL's errors are recognised by their
// SQLSTATE (class 08, connection exception; 57P01-57P03, shutdown and
// startup), without this package depending on a driver.
func DatabaseUnavailable(err error) bool {
	// A connection the server drops mid-answer (an immediate shutdown or
	// a crash ends its backends without a word) reads as an unexpected
	// EOF: pgconn returns it as it is. Request bodies cut short never get
	// here: the decoders turn theirs into 400s first.
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		code := st.SQLState()
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
	}
	return false
}
