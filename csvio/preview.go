package csvio

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"

	"github.com/linkd-dev/linkd"
)

// PreviewRows is how many rows a preview shows by default: enough to
// recognise what each column holds.
const PreviewRows = 5

// Preview is the start of a file as the importer would read it, for a person
// to check and map its columns before the import starts.
type Preview struct {
	// Delimiter and Encoding are what the file is read with: detected (or
	// found from a byte order mark) unless asked for.
	Delimiter string
	Encoding  string
	Header    []string
	Rows      [][]string
	// Targets is what each column of Header is read as without a mapping
	// (linked_account_id, name or udf.<key>), or "" when its heading names
	// nothing and the person must say.
	Targets []string
	// NotUTF8 is set when the file, read as UTF-8, has bytes that are not
	// UTF-8: the upload would be refused. Its text then shows U+FFFD for
	// them; the same head read as Windows-1252 is the usual alternative.
	NotUTF8 bool
}

// PreviewFile reads the header and up to maxRows rows from head, the first
// bytes of a file as uploaded, with delimiter and encoding as an
// UploadRequest takes them ("" to detect). It goes through the importer's
// own decoding, delimiter detection, CSV reader and header matching, so what
// it shows is what the import will read. head should hold the header and
// maxRows rows whole: a row cut at its end shows cut.
func PreviewFile(head []byte, delimiter, encoding string, maxRows int) (*Preview, error) {
	delim, err := ParseDelimiter(delimiter)
	if err != nil {
		return nil, err
	}
	enc, err := ParseEncoding(encoding)
	if err != nil {
		return nil, err
	}
	text, used := decodeUpload(bytes.NewReader(head), enc)
	decoded, err := io.ReadAll(text)
	if err != nil {
		return nil, linkd.FieldError("file", "the file could not be decoded as %s: %v", used, err)
	}
	p := &Preview{Encoding: used}
	if used == linkd.EncodingUTF8 {
		carry, bad := checkUTF8(nil, decoded)
		if bad >= 0 {
			p.NotUTF8 = true
			decoded = []byte(strings.ToValidUTF8(string(decoded), "\uFFFD"))
		} else {
			decoded = decoded[:len(decoded)-len(carry)] // a character cut at the end of head
		}
	}
	br := bufio.NewReaderSize(bytes.NewReader(decoded), headPeek)
	if _, err := skipBOM(br); err != nil {
		return nil, err
	}
	if delim == "" {
		peek, _ := br.Peek(headPeek)
		delim = detectDelimiter(peek)
	}
	p.Delimiter = delim
	cr, err := newReader(br, delim)
	if err != nil {
		return nil, err
	}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, linkd.FieldError("file", "the file is empty; it needs a header row and at least one account")
	} else if err != nil {
		return nil, linkd.FieldError("file", "the header row is not valid CSV: %v", err)
	}
	p.Header = header
	p.Targets = make([]string, len(header))
	for i, h := range header {
		p.Targets[i] = matchColumn(h)
	}
	for len(p.Rows) < maxRows {
		rec, err := cr.Read()
		var pe *csv.ParseError
		if err == io.EOF || errors.As(err, &pe) {
			// The end of head, or a row the import will report as an
			// error: the preview stops before it.
			break
		} else if err != nil {
			return nil, err
		}
		p.Rows = append(p.Rows, rec)
	}
	return p, nil
}
