package sqlite

import (
	"errors"
	"time"

	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/linkd-dev/linkd"
)

// diskFull turns SQLite's "database or disk is full" into an error a client
// can act on: 503 with Retry-After rather than an internal error, since the
// write did not happen and will succeed once space is freed. Reads go on
// meanwhile; the rolled-back transaction leaves the file intact.
func diskFull(err error) error {
	var se *sqlite3.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3lib.SQLITE_FULL {
		return &linkd.Error{Code: linkd.EUNAVAILABLE, RetryAfter: 30 * time.Second,
			Message: "The database's disk is full: linkd cannot save changes until space is freed. Reads still work."}
	}
	return err
}
