package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
)

// A list page writes fifty accounts, and encoding/json, which walks each
// one's struct by reflection and re-validates every UDF value, took as
// long as the database read (about 190 µs a page of 50 accounts with two
// UDFs each, the bench's list workload). writeAccountList writes the same
// bytes by hand; FuzzAccountListJSON holds it to encoding/json's output.

// writeAccountList answers a list page: out with docs of accts. It falls
// back to encoding/json for a UDF value that is not valid JSON (which the
// stores never hold), as that is what decides the answer then.
func writeAccountList(w http.ResponseWriter, t linkd.Tenant, accts []*linkd.LinkedAccount, out listJSON) {
	buf := listBuffers.Get().(*[]byte)
	defer listBuffers.Put(buf)
	b, ok := appendAccountList((*buf)[:0], t, accts, &out)
	if ok && cap(b) <= maxPooledList {
		*buf = b
	}
	if !ok {
		out.Docs = make([]*accountJSON, 0, len(accts))
		for _, a := range accts {
			out.Docs = append(out.Docs, renderAccount(t, a))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	setJSONHeaders(w)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// listBuffers keeps the buffers pages are written into: a page of 50
// accounts is about 35 KiB, which each request allocated and the collector
// swept. A buffer grown past maxPooledList (a page of 1,000 accounts with
// large UDFs) is not kept.
var listBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const maxPooledList = 1 << 20

// appendAccountList appends what encoding/json (SetEscapeHTML(false))
// writes for out with its docs rendered from accts, newline included.
func appendAccountList(b []byte, t linkd.Tenant, accts []*linkd.LinkedAccount, out *listJSON) ([]byte, bool) {
	b = append(b, `{"docs":[`...)
	for i, a := range accts {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendAccount(b, t, a); !ok {
			return nil, false
		}
	}
	b = append(b, `],"totalDocs":`...)
	b = appendOptInt(b, out.TotalDocs)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(out.Limit), 10)
	b = append(b, `,"totalPages":`...)
	b = appendOptInt(b, out.TotalPages)
	b = append(b, `,"page":`...)
	b = appendOptInt(b, out.Page)
	b = append(b, `,"pagingCounter":`...)
	b = appendOptInt(b, out.PagingCounter)
	b = append(b, `,"hasPrevPage":`...)
	b = strconv.AppendBool(b, out.HasPrevPage)
	b = append(b, `,"hasNextPage":`...)
	b = strconv.AppendBool(b, out.HasNextPage)
	b = append(b, `,"prevPage":`...)
	b = appendOptInt(b, out.PrevPage)
	b = append(b, `,"nextPage":`...)
	b = appendOptInt(b, out.NextPage)
	b = append(b, `,"next_cursor":`...)
	if out.NextCursor == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *out.NextCursor)
	}
	return append(b, "}\n"...), true
}

// appendAccount appends renderAccount(t, a) as encoding/json writes it,
// for an account without integrations (as lists show them).
func appendAccount(b []byte, t linkd.Tenant, a *linkd.LinkedAccount) ([]byte, bool) {
	b = append(b, `{"_id":`...)
	b = appendJSONString(b, a.ID)
	b = append(b, `,"associated_org":`...)
	b = appendJSONString(b, t.OrgID)
	b = append(b, `,"account_id":`...)
	b = appendJSONString(b, a.AccountID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, a.Name)
	b = append(b, `,"environment":`...)
	b = appendJSONString(b, string(t.Env))
	b = append(b, `,"udf":[`...)
	for i, u := range a.UDF {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key_name":`...)
		b = appendJSONString(b, u.Key)
		b = append(b, `,"key_value":`...)
		var ok bool
		if b, ok = appendRawJSON(b, u.Value); !ok {
			return nil, false
		}
		b = append(b, `,"_id":`...)
		b = appendJSONString(b, u.ID)
		b = append(b, `,"createdAt":"`...)
		b = appendWireTime(b, u.CreatedAt)
		b = append(b, `","updatedAt":"`...)
		b = appendWireTime(b, u.UpdatedAt)
		b = append(b, `"}`...)
	}
	b = append(b, `],"is_seed":false,"tenant_account_id":null,"integrations":[],"has_auth_credentials":`...)
	b = strconv.AppendBool(b, a.HasCredentials())
	b = append(b, `,"connected_apps":`...)
	b = strconv.AppendInt(b, int64(a.ConnectedApps), 10)
	b = append(b, `,"active_workflows":`...)
	b = strconv.AppendInt(b, int64(a.ActiveWorkflows), 10)
	b = append(b, `,"createdAt":"`...)
	b = appendWireTime(b, a.CreatedAt)
	b = append(b, `","updatedAt":"`...)
	b = appendWireTime(b, a.UpdatedAt)
	return append(b, `","__v":0}`...), true
}

func appendOptInt[T int | int64](b []byte, v *T) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(*v), 10)
}

// appendRawJSON appends v as encoding/json writes a json.RawMessage:
// compacted, null when nil; false when v is not valid JSON (empty
// included).
func appendRawJSON(b []byte, v json.RawMessage) ([]byte, bool) {
	if v == nil {
		return append(b, "null"...), true
	}
	if len(v) == 0 {
		return nil, false
	}
	if compactScalar(v) {
		return append(b, v...), true
	}
	buf := bytes.NewBuffer(b)
	if json.Compact(buf, v) != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

// compactScalar reports whether v is a string literal with nothing to
// escape or compact, or a bare word or number (validated by json.Valid,
// which is cheap on so few bytes): most UDF values, appended as they are.
func compactScalar(v []byte) bool {
	if v[0] == '"' {
		if len(v) < 2 || v[len(v)-1] != '"' {
			return false
		}
		for i := 1; i < len(v)-1; i++ {
			if c := v[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
				return false
			}
		}
		return true
	}
	for _, c := range v {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '{' || c == '[' {
			return false
		}
	}
	return json.Valid(v)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes a string
// without HTML escaping: ", \ and control characters escaped (\b \f \n \r
// \t short), invalid UTF-8 as \ufffd, and U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
