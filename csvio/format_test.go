package csvio

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

func TestParseHeader(t *testing.T) {
	ok := [][]string{
		{"linked_account_id"},
		{"name", "udf.plan", "linked_account_id", "udf.seats"},
	}
	for _, h := range ok {
		if _, err := parseHeader(h, nil); err != nil {
			t.Errorf("parseHeader(%q): %v", h, err)
		}
	}
	bad := map[string][]string{
		"no linked_account_id": {"name", "udf.plan"},
		"unknown column":       {"linked_account_id", "plan"},
		"duplicate column":     {"linked_account_id", "name", "name"},
		"empty udf key":        {"linked_account_id", "udf."},
		"udf key too long":     {"linked_account_id", "udf." + strings.Repeat("k", 65)},
		"misspelt id":          {"linked_acount_id"},
	}
	for name, h := range bad {
		_, err := parseHeader(h, nil)
		var e *linkd.Error
		if !errors.As(err, &e) || e.Code != linkd.EINVALID || e.Field != "header" {
			t.Errorf("%s: %v, want EINVALID on header", name, err)
		}
	}
	many := []string{"linked_account_id"}
	for i := range MaxUDFColumns + 1 {
		many = append(many, "udf.k"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if _, err := parseHeader(many, nil); err == nil {
		t.Error("a header with too many udf columns was accepted")
	}
	if _, err := parseHeader([]string{"linked_account_id", "plan", "region"}, nil); err == nil || !strings.Contains(err.Error(), `"plan"`) || !strings.Contains(err.Error(), `"region"`) {
		t.Errorf("unknown columns are not all named: %v", err)
	}
}

func TestCellTyping(t *testing.T) {
	cases := map[string]string{
		"pro": `"pro"`, "42": `42`, "-1.5e3": `-1.5e3`, "true": `true`, "false": `false`, "TRUE": `"TRUE"`,
		"0042": `"0042"`, "1.": `"1."`, "'42": `"42"`, "'true": `"true"`, "''x": `"'x"`, "a,b": `"a,b"`, "R&D <x>": `"R&D <x>"`,
	}
	for cell, want := range cases {
		if got := string(cellValue(cell)); got != want {
			t.Errorf("cellValue(%q) = %s, want %s", cell, got, want)
		}
	}
}

// FuzzUDFRoundTrip checks that any string UDF value, written by the exporter
// and read by the importer, comes back as the same string; and numbers and
// booleans as themselves.
func FuzzUDFRoundTrip(f *testing.F) {
	for _, s := range []string{"", "x", "42", "-5", "=SUM(A1)", "+1", "@me", "\tx", "\rx", "'", "'42", "true", "1e9", "a\nb", "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !jsonValidString(s) {
			return
		}
		v := json.RawMessage(linkd.QuoteUDF(s))
		cell := udfCell(v)
		if cell == "" {
			t.Fatalf("%q exported as an empty cell, which means 'not set'", s)
		}
		if c := cell[0]; c == '=' || c == '+' || c == '@' || c == '\t' || c == '\r' || (c == '-' && !isJSONNumber(cell)) {
			t.Fatalf("%q exported as %q, which a spreadsheet would run", s, cell)
		}
		if back := cellValue(cell); !bytes.Equal(back, v) {
			t.Fatalf("%q → cell %q → %s", s, cell, back)
		}
		if isJSONNumber(s) != json.Valid([]byte(s)) && !strings.ContainsAny(s, " \t\n\r{}[]\"tfn") {
			t.Fatalf("isJSONNumber(%q) = %v disagrees with encoding/json", s, isJSONNumber(s))
		}
		if isJSONNumber(s) {
			num := json.RawMessage(s)
			if back := cellValue(udfCell(num)); !bytes.Equal(back, num) {
				t.Fatalf("number %s → %s", s, back)
			}
		}
		// Text cells (ids, names) survive too.
		if back := unescapeText(EscapeText(s)); back != s {
			t.Fatalf("text %q → %q → %q", s, EscapeText(s), back)
		}
	})
}

func jsonValidString(s string) bool {
	var out string
	return json.Unmarshal([]byte(linkd.QuoteUDF(s)), &out) == nil && out == s
}

// FuzzReadFile feeds arbitrary files to the upload scan and the row parser:
// they answer with rows or errors that name what is wrong, never a panic.
func FuzzReadFile(f *testing.F) {
	for _, s := range []string{
		"linked_account_id,name,udf.plan\na,A,pro\nb,\"B, Inc.\",\n",
		"\uFEFFlinked_account_id\r\nx\r\n", "\uFEFF\"linked_account_id\",name\nx,y\n",
		"linked_account_id,name\n\"a\nb\",x\n",
		"linked_account_id\n\"unterminated\n",
		"name\nx\n", "", "linked_account_id,linked_account_id\n", "linked_account_id,udf.a\n1,2,3\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, scanned, delim, err := scanFile(bytes.NewReader(data), "", nil)
		if err != nil {
			var e *linkd.Error
			if !errors.As(err, &e) || e.Code != linkd.EINVALID || e.Field == "" {
				t.Fatalf("scan error %v is not EINVALID naming a field", err)
			}
			return
		}
		// The runner reads the stored header with the stored mapping: it
		// must read it as the scan did.
		l, err := parseHeader(scanned.columns, scanned.mapping)
		if err != nil {
			t.Fatalf("scan accepted a header parseHeader refuses with its own mapping: %v", err)
		}
		if !reflect.DeepEqual(l, scanned) {
			t.Fatalf("the stored mapping reads the header as %+v, the scan read %+v", l, scanned)
		}
		br := bufio.NewReader(bytes.NewReader(data))
		skipBOM(br)
		cr, err := newReader(br, delim)
		if err != nil {
			t.Fatal(err)
		}
		cr.Read()
		var n int64
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			n++
			if err != nil {
				continue
			}
			in, rowErr := l.row(n+1, rec)
			if rowErr == nil {
				if err := in.Validate(false); err != nil {
					t.Fatalf("row accepted but invalid: %v", err)
				}
			} else if rowErr.Message == "" || rowErr.Row != n+1 {
				t.Fatalf("row error %+v", rowErr)
			}
		}
		if n != rows {
			t.Fatalf("scan counted %d rows, reading found %d", rows, n)
		}
	})
}

func TestCheckUTF8(t *testing.T) {
	text := []byte("añb€c😀d")
	// Every split of valid text into two pieces is valid.
	for i := range len(text) + 1 {
		carry, bad := checkUTF8(nil, text[:i])
		if bad >= 0 {
			t.Fatalf("split %d: first piece bad at %d", i, bad)
		}
		carry, bad = checkUTF8(carry, text[i:])
		if bad >= 0 || len(carry) != 0 {
			t.Fatalf("split %d: second piece bad at %d, carry %q", i, bad, carry)
		}
	}
	if _, bad := checkUTF8(nil, []byte("ok\xffno")); bad != 2 {
		t.Fatalf("invalid byte found at %d, want 2", bad)
	}
	carry, _ := checkUTF8(nil, []byte("x\xe2\x82"))
	if _, bad := checkUTF8(carry, []byte("y")); bad < 0 {
		t.Fatal("a broken character across pieces was accepted")
	}
}

// FuzzDetectDelimiter builds a header from fuzzed fields joined by one
// candidate delimiter, quoting every field that holds a delimiter, a quote
// or a line break: detection must name that delimiter (the others occur
// only inside quotes), and reading the header with it must give the fields
// back, whatever follows the header line.
func FuzzDetectDelimiter(f *testing.F) {
	f.Add("linked_account_id\x00name\x00udf.plan", uint8(0), "a,b;c\n")
	f.Add("Account ID\x00Name; full\x00udf.a|b", uint8(1), "")
	f.Add("x\x00\"y\"\x00z\tw", uint8(2), "\"\n;;;;;")
	f.Add("a\x00b,c,d,e", uint8(3), "")
	f.Add("\x00", uint8(1), ",,,,")
	f.Fuzz(func(t *testing.T, fields string, which uint8, rest string) {
		d := delimiters[int(which)%len(delimiters)]
		parts := strings.Split(strings.ReplaceAll(strings.ToValidUTF8(fields, ""), "\r", ""), "\x00")
		if len(parts) < 2 {
			return
		}
		quoted := make([]string, len(parts))
		for i, p := range parts {
			quoted[i] = p
			if strings.ContainsAny(p, ",;\t|\"\n") {
				quoted[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
			}
		}
		file := strings.Join(quoted, string(d.char)) + "\r\n" + rest
		if got := detectDelimiter([]byte(file)); got != d.name {
			t.Fatalf("detected %s in %q, want %s", got, file, d.name)
		}
		cr, err := newReader(strings.NewReader(file), d.name)
		if err != nil {
			t.Fatal(err)
		}
		header, err := cr.Read()
		if err != nil || !reflect.DeepEqual(header, parts) {
			t.Fatalf("read %q (%v) from %q, want %q", header, err, file, parts)
		}
	})
}
