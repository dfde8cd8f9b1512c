package http

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/linkd-dev/linkd"
)

// emethod is the code of a request whose path exists but not with its
// method. Only HTTP has that notion, so the code is local to this package.
const emethod = "method_not_allowed"

// statuses maps application error codes to HTTP statuses. It is the one place
// where that mapping lives. EEXISTS answers 400 because the compatible API
// documents that status for a duplicate linked account id.
var statuses = map[string]int{
	linkd.EINVALID:       http.StatusBadRequest,
	linkd.EEXISTS:        http.StatusBadRequest,
	linkd.ECONFLICT:      http.StatusConflict,
	linkd.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	linkd.ENOTFOUND:      http.StatusNotFound,
	linkd.EUNAUTHORIZED:  http.StatusUnauthorized,
	linkd.EFORBIDDEN:     http.StatusForbidden,
	linkd.ERATELIMITED:   http.StatusTooManyRequests,
	linkd.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	linkd.EUNSUPPORTED:   http.StatusUnsupportedMediaType,
	linkd.EUPSTREAM:      http.StatusBadGateway,
	linkd.ETIMEOUT:       http.StatusGatewayTimeout,
	linkd.EUNAVAILABLE:   http.StatusServiceUnavailable,
	linkd.EINTERNAL:      http.StatusInternalServerError,
	emethod:              http.StatusMethodNotAllowed,
}

// errorTypes are the wire "error" codes used when an error sets no Type of
// its own; they follow the compatible API's documented codes.
var errorTypes = map[string]string{
	linkd.EINVALID:       "BAD_REQUEST",
	linkd.EEXISTS:        "BAD_REQUEST",
	linkd.ECONFLICT:      "CONFLICT",
	linkd.EUNPROCESSABLE: "UNPROCESSABLE_ENTITY",
	linkd.ENOTFOUND:      "RESOURCE_NOT_FOUND",
	linkd.EUNAUTHORIZED:  "SERVER_ERROR",
	linkd.EFORBIDDEN:     "FORBIDDEN",
	linkd.ERATELIMITED:   "RATE_LIMITED",
	linkd.ETOOLARGE:      "PAYLOAD_TOO_LARGE",
	linkd.EUNSUPPORTED:   "UNSUPPORTED_MEDIA_TYPE",
	linkd.EUPSTREAM:      "UPSTREAM_ERROR",
	linkd.ETIMEOUT:       "UPSTREAM_TIMEOUT",
	linkd.EUNAVAILABLE:   "SERVICE_UNAVAILABLE",
	linkd.EINTERNAL:      "SERVER_ERROR",
	emethod:              "METHOD_NOT_ALLOWED",
}

// ErrorBody is the error shape of the compatible API, plus field (which input
// was at fault), an extension.
type ErrorBody struct {
	StatusCode    int    `json:"status_code"`
	HTTPErrorType string `json:"http_error_type"`
	Error         string `json:"error"`
	Message       string `json:"message"`
	Field         string `json:"field,omitempty"`
	RequestID     string `json:"request_id,omitempty"`
}

// httpErrorType renders a status as the compatible API does: its reason phrase
// in upper snake case ("NOT_FOUND", "TOO_MANY_REQUESTS").
func httpErrorType(status int) string {
	b := []byte(http.StatusText(status))
	for i, c := range b {
		switch {
		case c == ' ' || c == '-':
			b[i] = '_'
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// writeError renders err in the error shape. Internal errors are logged here,
// once, with the request id that the client also sees; the client gets no
// detail of them.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := linkd.ErrorCode(err)
	status := statuses[code]
	body := ErrorBody{
		StatusCode:    status,
		HTTPErrorType: httpErrorType(status),
		Error:         errorTypes[code],
		Message:       linkd.ErrorMessage(err),
		RequestID:     requestID(r.Context()),
	}
	var e *linkd.Error
	if errors.As(err, &e) {
		body.Field = e.Field
		if e.Type != "" {
			body.Error = e.Type
		}
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		}
	} else if code == linkd.EUNAVAILABLE {
		// The database could not be reached: the request failed whole.
		w.Header().Set("Retry-After", strconv.Itoa(int(linkd.DatabaseRetryAfter.Seconds())))
		s.logger.WarnContext(r.Context(), "database unavailable", "err", err, "request_id", body.RequestID, "method", r.Method, "path", r.URL.Path)
	}
	if code == linkd.EINTERNAL {
		s.logger.ErrorContext(r.Context(), "request failed", "err", err, "request_id", body.RequestID, "method", r.Method, "path", r.URL.Path)
	} else {
		s.logger.DebugContext(r.Context(), "request refused", "code", code, "message", body.Message, "request_id", body.RequestID)
	}
	writeJSON(w, status, body)
}

// writeJSON writes v with status. Encoding errors can only come from a broken
// connection at this point, so they are logged by nobody.
func writeJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// setJSONHeaders marks a JSON answer as JSON, and tells browsers not to
// guess otherwise (nosniff): an answer echoing caller text must never be
// taken for HTML or script.
func setJSONHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}
