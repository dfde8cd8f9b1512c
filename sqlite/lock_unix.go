//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// useLock takes a lock of the kind given (syscall.LOCK_SH or LOCK_EX) on
// path without waiting. It is how a restore and the processes using the
// database keep out of each other's way: every open store holds a shared
// lock for its lifetime, and a restore replaces the file only under an
// exclusive one. flock locks are separate from the POSIX locks SQLite
// itself takes, so they do not disturb them.
func useLock(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

const (
	lockShared    = syscall.LOCK_SH
	lockExclusive = syscall.LOCK_EX
)
