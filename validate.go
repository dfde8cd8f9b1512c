package linkd

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on linked-account input. They are shared by the JSON API and the CSV
// importer so that a row is valid in one exactly when it is valid in the other.
const (
	MaxAccountIDBytes   = 255
	MaxNameBytes        = 255
	MaxUDFKeys          = 100
	MaxUDFKeyBytes      = 64
	MaxUDFValueBytes    = 4 << 10
	MaxCredentialsBytes = 64 << 10
)

// AccountInput is a create or upsert request after decoding. Pointer and nil
// fields were absent from the request and leave the stored value alone.
type AccountInput struct {
	AccountID string
	Name      *string
	// UDF maps keys to JSON primitives. On upsert a JSON null removes the key.
	UDF map[string]json.RawMessage
	// Credentials is the your_app.auth_credentials JSON object, or nil.
	Credentials json.RawMessage
}

// Validate checks every field against the limits and names the first one at
// fault. allowNull permits null UDF values, which only an upsert gives meaning.
func (in *AccountInput) Validate(allowNull bool) error {
	if err := ValidateAccountID(in.AccountID); err != nil {
		return err
	}
	if in.Name != nil {
		if err := validateText("name", *in.Name, MaxNameBytes, false); err != nil {
			return err
		}
	}
	if len(in.UDF) > MaxUDFKeys {
		return FieldError("udf", "udf has %d keys; at most %d are allowed", len(in.UDF), MaxUDFKeys)
	}
	for k, v := range in.UDF {
		if err := ValidateUDF(k, v, allowNull); err != nil {
			return err
		}
	}
	if in.Credentials != nil {
		if len(in.Credentials) > MaxCredentialsBytes {
			return FieldError("your_app.auth_credentials", "your_app.auth_credentials is larger than %d bytes", MaxCredentialsBytes)
		}
		if t := jsonKind(in.Credentials); t != '{' {
			return FieldError("your_app.auth_credentials", "your_app.auth_credentials must be an object")
		}
	}
	return nil
}

// ValidateAccountID checks a tenant-chosen account id: 1–255 bytes of
// printable UTF-8 without surrounding white space, which would make two ids
// look the same in every listing.
func ValidateAccountID(id string) error {
	if id == "" {
		return &Error{Code: EINVALID, Field: "linked_account_id", Type: "INVALID_LINKED_ACCOUNT_ID", Message: "linked_account_id required"}
	}
	if err := validateText("linked_account_id", id, MaxAccountIDBytes, true); err != nil {
		err.Type = "INVALID_LINKED_ACCOUNT_ID"
		return err
	}
	return nil
}

// ValidateUDF checks one user-defined field.
func ValidateUDF(key string, value json.RawMessage, allowNull bool) error {
	field := "udf." + key
	if key == "" {
		return FieldError("udf", "udf keys must not be empty")
	}
	if err := validateText(field, key, MaxUDFKeyBytes, true); err != nil {
		return err
	}
	if len(value) > MaxUDFValueBytes {
		return FieldError(field, "%s is larger than %d bytes", field, MaxUDFValueBytes)
	}
	switch jsonKind(value) {
	case '"':
		// PostgreSQL cannot store a NUL character in text or jsonb, so
		// no engine accepts one: data must move between engines intact.
		var str string
		if bytes.Contains(value, []byte(`\u0000`)) && json.Unmarshal(value, &str) == nil && strings.ContainsRune(str, 0) {
			return FieldError(field, "%s must not contain the NUL character (\\u0000)", field)
		}
		return nil
	case '0':
		return validateNumber(field, value)
	case 't':
		return nil
	case 'n':
		if allowNull {
			return nil
		}
		return FieldError(field, "%s must be a string, number or boolean, not null", field)
	}
	return FieldError(field, "%s must be a string, number or boolean", field)
}

// validateNumber accepts a JSON number only within float64's range: what
// every client can decode, and what both engines can store (PostgreSQL's
// jsonb refused 1e999999 with an error that became a 500, and failed a
// whole import batch with it, while SQLite kept it). A number that rounds
// to infinity, or a non-zero one that rounds to zero, is refused.
func validateNumber(field string, v json.RawMessage) error {
	lit := string(bytes.TrimSpace(v))
	f, err := strconv.ParseFloat(lit, 64)
	if err == nil && f == 0 {
		mantissa, _, _ := strings.Cut(strings.ToLower(lit), "e")
		if strings.Trim(mantissa, "-+0.") != "" {
			err = strconv.ErrRange
		}
	}
	if err != nil {
		return FieldError(field, "%s is a number out of range: numbers must be within ±1.8e308 (float64), and not so small they round to 0", field)
	}
	return nil
}

// validateText enforces valid UTF-8 without control characters and a byte
// limit; strict (ids and keys) also requires printable runes, which refuses
// the bidi controls (format characters: an id that reads differently than
// it sorts), and no surrounding space.
func validateText(field, s string, max int, strict bool) *Error {
	if len(s) > max {
		return FieldError(field, "%s is %d bytes long; at most %d are allowed", field, len(s), max)
	}
	if !utf8.ValidString(s) {
		return FieldError(field, "%s is not valid UTF-8", field)
	}
	// JSON decoding turns invalid UTF-8 (and a lone surrogate escape) into
	// U+FFFD without a word, so an id sent as invalid UTF-8 arrives as
	// another, valid id. No real id holds the replacement character.
	if strict && strings.ContainsRune(s, utf8.RuneError) {
		return FieldError(field, "%s is not valid UTF-8 (or holds U+FFFD, the replacement character)", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) || (strict && !unicode.IsPrint(r)) {
			return FieldError(field, "%s contains the non-printable character %U", field, r)
		}
	}
	if strict && strings.TrimSpace(s) != s {
		return FieldError(field, "%s must not start or end with white space", field)
	}
	return nil
}

// jsonKind classifies a JSON value by its first byte: '{', '[', '"', 't'
// (boolean), 'n' (null) or '0' (number); 0 for anything else.
func jsonKind(v json.RawMessage) byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || !json.Valid(v) {
		return 0
	}
	switch c := v[0]; c {
	case '{', '[', '"', 'n':
		return c
	case 't', 'f':
		return 't'
	}
	return '0'
}

// CanonicalUDF re-encodes a UDF value in one canonical form (strings without
// needless escapes, numbers and booleans as their literals), so that equal
// values are stored as equal bytes and a filter can match them by equality.
func CanonicalUDF(v json.RawMessage) json.RawMessage {
	v = bytes.TrimSpace(v)
	if jsonKind(v) != '"' || plainJSONString(v) {
		return v
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return v
	}
	return json.RawMessage(QuoteUDF(s))
}

// plainJSONString reports whether a JSON string literal is already in the
// canonical form: no escapes, no control characters, nothing the encoder
// would escape (U+2028, U+2029). Most values are, and skip re-encoding.
func plainJSONString(v []byte) bool {
	for i := 1; i < len(v)-1; i++ {
		switch c := v[i]; {
		case c == '\\' || c < 0x20:
			return false
		case c == 0xe2 && i+2 < len(v) && v[i+1] == 0x80 && (v[i+2] == 0xa8 || v[i+2] == 0xa9):
			return false
		}
	}
	return utf8.Valid(v)
}

// QuoteUDF is the canonical JSON form of a string UDF value; stores match
// filters against it.
func QuoteUDF(s string) string {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c != '"' && c != '\\' && c < 0x80
	}
	if plain {
		return `"` + s + `"`
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// UDFText is the text a UDF value is matched and exported as: a string's
// contents, or a number's or boolean's literal.
func UDFText(v json.RawMessage) string {
	if jsonKind(v) == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	return string(bytes.TrimSpace(v))
}
