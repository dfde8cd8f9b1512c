package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/linkd-dev/linkd"
)

// readBody reads a JSON request body: the content type must be JSON and the
// body at most MaxBodyBytes. It returns the raw bytes, which idempotency
// hashes and the decoder below parses.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, &linkd.Error{Code: linkd.EUNSUPPORTED, Field: "Content-Type",
			Message: fmt.Sprintf("Content-Type must be application/json, not %q", r.Header.Get("Content-Type"))}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, &linkd.Error{Code: linkd.ETOOLARGE, Field: "body", Message: fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}
	} else if err != nil {
		return nil, &linkd.Error{Code: linkd.EINVALID, Field: "body", Message: "could not read the request body"}
	}
	return body, nil
}

// decodeJSON parses body into v and turns the decoder's errors into messages
// that name the field and say what was expected.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &linkd.Error{Code: linkd.EINVALID, Field: "body", Message: "request body is empty; a JSON object is required"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err, "")
	}
	if _, err := dec.Token(); err != io.EOF {
		return &linkd.Error{Code: linkd.EINVALID, Field: "body", Message: "request body has data after the JSON value"}
	}
	return nil
}

// jsonError explains a decoding error; prefix qualifies field names of a
// nested document (e.g. "payload.").
func jsonError(err error, prefix string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var fe *linkd.Error
	switch {
	case errors.As(err, &fe):
		if prefix != "" && fe.Field != "" {
			fe.Field = prefix + fe.Field
			fe.Message = prefix + fe.Message
		}
		return fe
	case errors.As(err, &syn):
		return &linkd.Error{Code: linkd.EINVALID, Field: "body", Message: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &linkd.Error{Code: linkd.EINVALID, Field: "body", Message: "malformed JSON: the body ends in the middle of a value"}
	case errors.As(err, &typ):
		field := prefix + typ.Field
		if typ.Field == "" {
			return &linkd.Error{Code: linkd.EINVALID, Field: "body", Message: fmt.Sprintf("request body must be a JSON object, not %s", typ.Value)}
		}
		return &linkd.Error{Code: linkd.EINVALID, Field: field, Message: fmt.Sprintf("%s must be %s, not %s", field, jsonTypeName(typ.Type.Kind().String()), typ.Value)}
	}
	return &linkd.Error{Code: linkd.EINVALID, Field: "body", Message: "malformed JSON: " + err.Error()}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "a boolean"
	}
	return "a " + kind
}
