package linkd

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeUDF checks the fast UDF decoder against encoding/json: on any
// input it accepts, both must agree; on what EncodeUDF writes it must accept.
func FuzzDecodeUDF(f *testing.F) {
	now := time.UnixMicro(1_700_000_000_123_456).UTC()
	enc := EncodeUDF([]UDF{{Key: "a", Value: json.RawMessage(`"x"`), CreatedAt: now, UpdatedAt: now},
		{Key: "plan \"q\"", Value: json.RawMessage(`-1.5e3`), CreatedAt: now, UpdatedAt: now}, {Key: "z", Value: json.RawMessage(`true`), CreatedAt: now, UpdatedAt: now}})
	f.Add(enc)
	f.Add([]byte(`{"b": {"u": 2, "c": 1, "v": "x\u00e9"}, "a": {"v": 10, "c": 3, "u": 4}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"a":{"v":"x","c":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeUDFFast("pk", b)
		if !ok {
			return
		}
		var m map[string]storedUDF
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("fast accepted %q, encoding/json says %v", b, err)
		}
		if len(m) != len(fast) {
			t.Fatalf("%q: %d keys, want %d", b, len(fast), len(m))
		}
		for _, u := range fast {
			s, ok := m[u.Key]
			if !ok || string(CanonicalUDF(s.V)) != string(u.Value) || u.CreatedAt.UnixMicro() != s.C || u.UpdatedAt.UnixMicro() != s.U {
				t.Fatalf("%q: key %q = %+v, want %+v", b, u.Key, u, s)
			}
		}
	})
}

func TestDecodeUDFRoundTrip(t *testing.T) {
	now := time.UnixMicro(1_700_000_000_123_456).UTC()
	in := []UDF{{Key: "a", Value: json.RawMessage(`"x"`), CreatedAt: now, UpdatedAt: now.Add(time.Second)},
		{Key: "b\\c", Value: json.RawMessage(`42`), CreatedAt: now, UpdatedAt: now}}
	for i := range in {
		in[i].ID = UDFID("pk", in[i].Key)
	}
	fast, ok := decodeUDFFast("pk", EncodeUDF(in))
	if !ok || !reflect.DeepEqual(fast, in) {
		t.Fatalf("fast = %+v, %v", fast, ok)
	}
}
