package csvio

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/linkd-dev/linkd"
)

// Export writes the tenant's accounts matching f (filters only; paging is
// ignored) as CSV in the import format, and returns how many it wrote.
//
// The header must list every UDF key before the first row, so the accounts
// are read once, in one consistent read, into a temporary file while the keys
// are collected; then the file is written out. A second read instead would
// AccountLister is the one read Export needs.
type AccountLister interface {
	EachAccount(ctx context.Context, t linkd.Tenant, f linkd.AccountFilter, fn func(*linkd.LinkedAccount) error) error
}

// miss keys added in between and silently drop their values.
func Export(ctx context.Context, store AccountLister, t linkd.Tenant, f linkd.AccountFilter, w io.Writer) (int64, error) {
	tmp, err := os.CreateTemp("", "linkd-export-*.jsonl")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	type line struct {
		ID   string            `json:"i"`
		Name string            `json:"n"`
		UDF  map[string]string `json:"u,omitempty"`
	}
	keys := map[string]bool{}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	enc := json.NewEncoder(bw)
	var n int64
	err = store.EachAccount(ctx, t, f, func(a *linkd.LinkedAccount) error {
		l := line{ID: a.AccountID, Name: a.Name}
		if len(a.UDF) > 0 {
			l.UDF = make(map[string]string, len(a.UDF))
			for _, u := range a.UDF {
				keys[u.Key] = true
				l.UDF[u.Key] = udfCell(u.Value)
			}
		}
		n++
		return enc.Encode(l)
	})
	if err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}

	sorted, rec := exportHeader(keys)
	cw := csv.NewWriter(w)
	if err := cw.Write(rec); err != nil {
		return 0, err
	}
	dec := json.NewDecoder(bufio.NewReaderSize(tmp, 1<<20))
	for i := int64(0); i < n; i++ {
		var l line
		if err := dec.Decode(&l); err != nil {
			return i, fmt.Errorf("export: read back: %w", err)
		}
		rec[0], rec[1] = EscapeText(l.ID), EscapeText(l.Name)
		for j, k := range sorted {
			rec[2+j] = l.UDF[k]
		}
		if err := cw.Write(rec); err != nil {
			return i, err
		}
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return i, err
			}
		}
	}
	cw.Flush()
	return n, cw.Error()
}

// Sample is the file served as "Download Sample CSV": realistic rows that
// show every rule of the format.
const Sample = `linked_account_id,name,udf.plan,udf.seats,udf.region,udf.trial
acme-001,Acme Inc.,enterprise,250,us-east,false
globex-42,Globex Corporation,pro,25,eu-west,
initech-7,"Initech, LLC",starter,5,,true
umbrella-19,Umbrella Corp,pro,'0042,ap-south,false
`

// exportHeader returns the UDF keys of an export, sorted, and its header
// record (id, name, then a udf.<key> column per key): the record is reused
// for the rows.
func exportHeader(keys map[string]bool) (sorted, rec []string) {
	sorted = make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	rec = make([]string, 2+len(sorted))
	rec[0], rec[1] = ColID, ColName
	for i, k := range sorted {
		rec[2+i] = udfPre + k
	}
	return sorted, rec
}
