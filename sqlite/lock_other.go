//go:build !unix

package sqlite

import "os"

// useLock opens path and, where flock does not exist, locks nothing: restore
// cannot tell there whether a server still uses the database.
func useLock(path string, how int) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
}

const (
	lockShared    = 1
	lockExclusive = 2
)
