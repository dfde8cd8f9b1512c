package csvio

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/linkd-dev/linkd"
)

// DefaultMaxBytes is the default size limit of an uploaded file.
const DefaultMaxBytes = 1 << 30

// Importer accepts uploads and runs import jobs.
type Importer struct {
	store    linkd.Store
	Accounts *linkd.AccountService
	// MaxBytes bounds an uploaded file (DefaultMaxBytes when 0).
	MaxBytes int64
	// Now returns the current time; tests may fix it.
	Now func() time.Time
}

// NewImporter returns the importer over store, creating and updating
// accounts with accounts' rules; maxBytes bounds an upload (DefaultMaxBytes
// when 0).
func NewImporter(store linkd.Store, accounts *linkd.AccountService, maxBytes int64) *Importer {
	return &Importer{store: store, Accounts: accounts, MaxBytes: maxBytes}
}

func (im *Importer) now() time.Time { return linkd.NowOf(im.Now) }

// UploadRequest describes an upload.
type UploadRequest struct {
	Tenant   linkd.Tenant
	Actor    string
	FileName string
	Mode     string
	DryRun   bool
	// Delimiter is comma, semicolon, tab or pipe; "" detects it from the
	// header line.
	Delimiter string
	// Encoding is "" or utf-8, or windows-1252 (also latin-1); a byte order
	// mark overrides it.
	Encoding string
	// Mapping sends columns of the header (exactly as written there) to
	// linked_account_id, name, udf.<key> or ignore; other columns are matched
	// by name.
	Mapping map[string]string
}

// Upload streams body into the database as a new job's file, checking on the
// way that it is UTF-8 within the size limit, has a valid header and how
// many rows it has. A file that fails is refused whole (nothing of it is
// kept) with an EINVALID or ETOOLARGE error; otherwise the job is queued.
// Memory use is one chunk, whatever the file's size.
func (im *Importer) Upload(ctx context.Context, req UploadRequest, body io.Reader) (*linkd.ImportJob, error) {
	return im.upload(ctx, req, body, nil)
}

// upload is Upload with a last step before the job is queued: when
// beforeQueue fails, the upload is refused with its error.
func (im *Importer) upload(ctx context.Context, req UploadRequest, body io.Reader, beforeQueue func(context.Context) error) (*linkd.ImportJob, error) {
	if err := normaliseRequest(&req); err != nil {
		return nil, err
	}
	delim, err := ParseDelimiter(req.Delimiter)
	if err != nil {
		return nil, err
	}
	enc, err := ParseEncoding(req.Encoding)
	if err != nil {
		return nil, err
	}
	if err := CheckMapping(req.Mapping); err != nil {
		return nil, err
	}
	max := cmpOr(im.MaxBytes, DefaultMaxBytes)
	job := &linkd.ImportJob{ID: linkd.NewID(), OrgID: req.Tenant.OrgID, Env: req.Tenant.Env, Actor: req.Actor, FileName: req.FileName,
		Mode: req.Mode, DryRun: req.DryRun, State: linkd.ImportUploading, CreatedAt: im.now()}
	if err := im.store.CreateImportJob(ctx, job); err != nil {
		return nil, err
	}
	size, rows, l, opts, err := im.receive(ctx, job, body, max, linkd.ImportOptions{Delimiter: delim, Encoding: enc, Mapping: req.Mapping})
	if err == nil && beforeQueue != nil {
		err = beforeQueue(ctx)
	}
	if err != nil {
		// Refused or broken off: remove what arrived. The request's context
		// may be gone (client hung up), so use a fresh one.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := im.store.DeleteImportJob(dctx, req.Tenant, job.ID); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove refused upload: %w", derr))
		}
		return nil, err
	}
	if err := im.store.QueueImportJob(ctx, req.Tenant, job.ID, size, rows, l.columns, opts); err != nil {
		return nil, err
	}
	return im.store.ImportJob(ctx, req.Tenant, job.ID)
}

// normaliseRequest checks req's mode (create when empty) and makes its file
// name one worth storing.
func normaliseRequest(req *UploadRequest) error {
	switch req.Mode {
	case "":
		req.Mode = linkd.ImportCreate
	case linkd.ImportCreate, linkd.ImportUpsert:
	default:
		return linkd.FieldError("mode", "mode must be %q or %q", linkd.ImportCreate, linkd.ImportUpsert)
	}
	if req.FileName == "" {
		req.FileName = "upload.csv"
	}
	if len(req.FileName) > 255 {
		req.FileName = req.FileName[:255]
	}
	if !utf8.ValidString(req.FileName) {
		req.FileName = "upload.csv"
	}
	return nil
}

// receive stores body, decoded to UTF-8, in chunks while a CSV reader on the
// other end of a pipe checks the header and counts rows. It returns the
// options the file was read with: the encoding found, the delimiter
// detected and the complete mapping.
func (im *Importer) receive(ctx context.Context, job *linkd.ImportJob, body io.Reader, max int64, asked linkd.ImportOptions) (size, rows int64, l *layout, opts linkd.ImportOptions, err error) {
	raw := &countingReader{r: body}
	text, enc := decodeUpload(raw, asked.Encoding)
	pr, pw := io.Pipe()
	type result struct {
		rows  int64
		l     *layout
		delim string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		n, l, delim, err := scanFile(pr, asked.Delimiter, asked.Mapping)
		pr.CloseWithError(err) // unblocks the writer if the scan stopped early
		if err == nil {
			io.Copy(io.Discard, pr) // the scan read to EOF; nothing left
		}
		done <- result{n, l, delim, err}
	}()
	fail := func(err error) (int64, int64, *layout, linkd.ImportOptions, error) {
		pw.CloseWithError(err)
		<-done
		return 0, 0, nil, opts, err
	}
	var carry []byte
	buf := make([]byte, linkd.ImportChunkSize)
	for seq := 0; ; seq++ {
		n, rerr := fill(text, buf)
		if raw.n > max {
			return fail(&linkd.Error{Code: linkd.ETOOLARGE, Field: "file", Message: fmt.Sprintf("the file is larger than the limit of %d bytes", max)})
		}
		if n > 0 {
			size += int64(n)
			var bad int
			if carry, bad = checkUTF8(carry, buf[:n]); bad >= 0 {
				return fail(notUTF8(fmt.Sprintf("invalid byte at offset %d", size-int64(n)+int64(bad))))
			}
			if err := im.store.AppendImportChunk(ctx, job.Tenant(), job.ID, seq, buf[:n]); err != nil {
				return fail(err)
			}
			if _, err := pw.Write(buf[:n]); err != nil {
				// The scanner stopped: the header is wrong. Its error says why.
				r := <-done
				if r.err != nil {
					return 0, 0, nil, opts, r.err
				}
				return 0, 0, nil, opts, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fail(linkd.FieldError("file", "the upload broke off after %d bytes: %v", raw.n, rerr))
		}
	}
	if len(carry) > 0 {
		return fail(notUTF8("it ends in the middle of a character"))
	}
	if size == 0 {
		return fail(linkd.FieldError("file", "the file is empty; it needs a header row and at least one account"))
	}
	pw.Close()
	r := <-done
	if r.err != nil {
		return 0, 0, nil, opts, r.err
	}
	return size, r.rows, r.l, linkd.ImportOptions{Delimiter: r.delim, Encoding: enc, Mapping: r.l.mapping}, nil
}

// notUTF8 refuses a file that is neither UTF-8 nor marked as UTF-16, and
// says how to send it again: such files are nearly always what older
// spreadsheet programs save as plain "CSV" in Western locales.
func notUTF8(where string) error {
	return &notUTF8Error{linkd.FieldError("file", "the file is not UTF-8: %s. If it was saved as Windows-1252 or Latin-1 "+
		"(Excel's \"CSV (Comma delimited)\"), upload it again with encoding=windows-1252; or save it as CSV UTF-8", where)}
}

// notUTF8Error marks the refusal of a file for its encoding, which the
// dashboard answers by offering Windows-1252; it is a *linkd.Error to
// everyone else.
type notUTF8Error struct{ err *linkd.Error }

func (e *notUTF8Error) Error() string { return e.err.Error() }
func (e *notUTF8Error) Unwrap() error { return e.err }

// IsNotUTF8 reports whether an upload was refused because the file is not
// UTF-8 (and was not asked for as Windows-1252).
func IsNotUTF8(err error) bool {
	var e *notUTF8Error
	return errors.As(err, &e)
}

// fill reads until buf is full or the body ends. Unlike io.ReadFull it keeps
// the body's own io.ErrUnexpectedEOF (a truncated request) apart from a clean
// end, which it reports as io.EOF.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// checkUTF8 validates data following carry (the incomplete character at the
// end of the previous piece) and returns the new carry, and the offset in
// data of the first invalid byte, or -1.
func checkUTF8(carry, data []byte) ([]byte, int) {
	if len(carry) > 0 {
		joined := append(append([]byte(nil), carry...), data[:min(len(data), 4)]...)
		r, size := utf8.DecodeRune(joined)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(joined) {
				return joined, -1 // still incomplete (tiny piece)
			}
			return nil, 0
		}
		data = data[size-len(carry):]
	}
	// An incomplete character at the end carries over to the next piece.
	end := len(data)
	for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
		if utf8.RuneStart(data[i]) {
			if !utf8.FullRune(data[i:]) {
				end = i
			}
			break
		}
	}
	if !utf8.Valid(data[:end]) {
		for i := 0; i < end; {
			r, size := utf8.DecodeRune(data[i:end])
			if r == utf8.RuneError && size == 1 {
				return nil, i
			}
			i += size
		}
	}
	return append([]byte(nil), data[end:]...), -1
}

// headPeek is how much of the file the delimiter is detected from: the
// header line, unless it is longer than this.
const headPeek = 64 << 10

// scanFile reads the header, with delim ("" to detect it) and mapping, and
// counts the rows.
func scanFile(r io.Reader, delim string, mapping map[string]string) (rows int64, l *layout, usedDelim string, err error) {
	br := bufio.NewReaderSize(r, headPeek)
	if _, err := skipBOM(br); err != nil {
		return 0, nil, "", err
	}
	if delim == "" {
		head, _ := br.Peek(headPeek) // shorter at the end of the file; errors show up when read
		delim = detectDelimiter(head)
	}
	cr, err := newReader(br, delim)
	if err != nil {
		return 0, nil, "", err
	}
	header, err := cr.Read()
	if err == io.EOF {
		return 0, nil, "", linkd.FieldError("file", "the file has no header row")
	} else if err != nil {
		return 0, nil, "", linkd.FieldError("file", "the header row is not valid CSV: %v", err)
	}
	if l, err = parseHeader(header, mapping); err != nil {
		return 0, nil, "", err
	}
	for {
		_, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			return 0, nil, "", err
		}
		// A malformed row counts: it becomes a row error when the job runs.
		rows++
	}
	if rows == 0 {
		return 0, nil, "", linkd.FieldError("file", "the file has a header but no rows")
	}
	return rows, l, delim, nil
}

// bom is the UTF-8 byte order mark some tools write at the start of a file.
const bom = "\uFEFF"

// skipBOM consumes a leading byte order mark, which must go before the CSV
// reader sees the bytes (it would take a quote after it for a bare quote),
// and returns how many bytes it skipped.
func skipBOM(br *bufio.Reader) (int, error) {
	b, err := br.Peek(len(bom))
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return 0, err
	}
	if string(b) == bom {
		br.Discard(len(bom))
		return len(bom), nil
	}
	return 0, nil
}

// newReader is how every part of the importer reads CSV, with the named
// delimiter.
func newReader(r io.Reader, delim string) (*csv.Reader, error) {
	c, ok := delimiterChar(delim)
	if !ok {
		return nil, fmt.Errorf("unknown delimiter %q", delim)
	}
	cr := csv.NewReader(r)
	cr.Comma = c
	cr.FieldsPerRecord = -1 // a wrong field count is a row error, not the file's
	cr.ReuseRecord = false
	return cr, nil
}
