package linkd

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeUDFFast parses the stored UDF object without reflection: lists
// decode it for every row they return, and encoding/json's generic path was
// a sixth of a list's CPU. It accepts any JSON whitespace and member order
// (PostgreSQL's jsonb reorders and reformats what EncodeUDF wrote); anything
// it does not expect makes it give up, and DecodeUDF falls back to
// encoding/json.
func decodeUDFFast(accountPK string, b []byte) ([]UDF, bool) {
	p := udfParser{b: b}
	if !p.byte('{') {
		return nil, false
	}
	var out []UDF
	if p.peek('}') {
		return nil, p.end()
	}
	for {
		key, ok := p.str()
		if !ok || !p.byte(':') || !p.byte('{') {
			return nil, false
		}
		u := UDF{Key: key, ID: UDFID(accountPK, key)}
		seen := 0 // a bit per member: each exactly once
		for {
			member, ok := p.str()
			if !ok || !p.byte(':') {
				return nil, false
			}
			bit := 0
			switch member {
			case "v":
				bit = 1
			case "c":
				bit = 2
			case "u":
				bit = 4
			}
			if bit == 0 || seen&bit != 0 {
				return nil, false
			}
			seen |= bit
			switch member {
			case "v":
				v, ok := p.value()
				if !ok {
					return nil, false
				}
				u.Value = CanonicalUDF(v)
			case "c", "u":
				n, ok := p.int()
				if !ok {
					return nil, false
				}
				if member == "c" {
					u.CreatedAt = time.UnixMicro(n).UTC()
				} else {
					u.UpdatedAt = time.UnixMicro(n).UTC()
				}
			}
			if p.byte('}') {
				break
			}
			if !p.byte(',') {
				return nil, false
			}
		}
		if seen != 7 {
			return nil, false
		}
		out = append(out, u)
		if p.byte('}') {
			break
		}
		if !p.byte(',') {
			return nil, false
		}
	}
	if !p.end() {
		return nil, false
	}
	if !sort.SliceIsSorted(out, func(i, j int) bool { return out[i].Key < out[j].Key }) {
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	}
	for i := 1; i < len(out); i++ {
		if out[i].Key == out[i-1].Key {
			return nil, false // repeated key: let encoding/json decide
		}
	}
	return out, true
}

type udfParser struct {
	b []byte
	i int
}

func (p *udfParser) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\t' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *udfParser) peek(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *udfParser) byte(c byte) bool { return p.peek(c) }

func (p *udfParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// strEnd returns the index just past the string literal starting at p.i.
func (p *udfParser) strEnd() (int, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return 0, false
	}
	for j := p.i + 1; j < len(p.b); j++ {
		switch p.b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

func (p *udfParser) str() (string, bool) {
	p.ws()
	end, ok := p.strEnd()
	if !ok {
		return "", false
	}
	raw := p.b[p.i:end]
	p.i = end
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return "", false
			}
			return s, true
		}
	}
	if !utf8.Valid(raw) {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

// value returns the raw JSON primitive at p.i.
func (p *udfParser) value() (json.RawMessage, bool) {
	p.ws()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '"' {
		end, ok := p.strEnd()
		if !ok {
			return nil, false
		}
		p.i = end
		v := p.b[start:end]
		if !json.Valid(v) {
			return nil, false
		}
		return json.RawMessage(v), true
	}
	for p.i < len(p.b) && p.b[p.i] != ',' && p.b[p.i] != '}' && p.b[p.i] != ' ' && p.b[p.i] != '\n' {
		p.i++
	}
	v := p.b[start:p.i]
	if len(v) == 0 || !json.Valid(v) {
		return nil, false
	}
	return json.RawMessage(v), true
}

func (p *udfParser) int() (int64, bool) {
	p.ws()
	start := p.i
	for p.i < len(p.b) && (p.b[p.i] == '-' || (p.b[p.i] >= '0' && p.b[p.i] <= '9')) {
		p.i++
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return n, err == nil
}
