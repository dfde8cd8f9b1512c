package linkd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// A linked account's UDFs are stored in one JSON column, an object from key to
// {"v": value, "c": created, "u": updated} (times in unix microseconds). One
// row per account keeps writes (and bulk imports) cheap and reads to a single
// lookup; filters match the "v" member with the engine's JSON functions.
// The encoding lives here so both engines store identical bytes.

// EncodeUDF returns the stored form of udf (which is sorted by key).
func EncodeUDF(udf []UDF) []byte {
	if len(udf) == 0 {
		return []byte("{}")
	}
	var b bytes.Buffer
	b.Grow(64 * len(udf))
	b.WriteByte('{')
	for i, u := range udf {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(QuoteUDF(u.Key))
		b.WriteString(`:{"v":`)
		b.Write(u.Value)
		b.WriteString(`,"c":`)
		b.WriteString(strconv.FormatInt(u.CreatedAt.UnixMicro(), 10))
		b.WriteString(`,"u":`)
		b.WriteString(strconv.FormatInt(u.UpdatedAt.UnixMicro(), 10))
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes()
}

// storedUDF is one member of the stored object.
type storedUDF struct {
	V json.RawMessage `json:"v"`
	C int64           `json:"c"`
	U int64           `json:"u"`
}

// DecodeUDF parses the stored form back, sorted by key, for the account
// whose internal id is accountPK (which the UDF ids derive from).
func DecodeUDF(accountPK string, b []byte) ([]UDF, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if out, ok := decodeUDFFast(accountPK, b); ok {
		return out, nil
	}
	var m map[string]storedUDF
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode udf of %s: %w", accountPK, err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	out := make([]UDF, 0, len(m))
	for k, s := range m {
		out = append(out, UDF{ID: UDFID(accountPK, k), Key: k, Value: CanonicalUDF(s.V),
			CreatedAt: time.UnixMicro(s.C).UTC(), UpdatedAt: time.UnixMicro(s.U).UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// UDFID is the "_id" a UDF shows on the wire: 24 hex digits (the shape of the
// compatible API's ids) derived from the account and key, so it is stable
// without being stored.
func UDFID(accountPK, key string) string {
	h := sha256.Sum256([]byte(accountPK + "\x00" + key))
	return hex.EncodeToString(h[:12])
}
