package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
)

// errLocked is what useLock returns when another process holds a lock that
// conflicts with the one asked for.
var errLocked = errors.New("locked by another process")

// ErrInUse is returned by Restore while a process (a server, a CLI command)
// has the database open: replacing the file under it would lose its writes.
var ErrInUse = errors.New("the database is open in another linkd process; stop it first")

// ErrNotEmpty is returned by Restore when the database it would replace
// holds data and force was not given.
var ErrNotEmpty = errors.New("the database to replace holds data")

// FileInfo describes a database file: what Backup wrote or Restore read.
type FileInfo struct {
	Bytes int64
	// SchemaVersion is the last migration applied to it.
	SchemaVersion int
	// MasterKeyID is the id of the master key its secrets are wrapped
	// with; a server starts on it only with that key.
	MasterKeyID string
	Accounts    int64
}

// Backup writes a consistent copy of the database at path to dest with
// VACUUM INTO, while servers keep reading and writing it: the copy is one
// read transaction's snapshot (WAL lets the writer go on meanwhile), and
// compact. It writes dest.partial first and renames it once complete and
// synced, so dest is never a torn file; an existing dest is not overwritten.
func Backup(ctx context.Context, path, dest string) (FileInfo, error) {
	if _, err := os.Stat(path); err != nil {
		return FileInfo{}, fmt.Errorf("no database to back up: %w", err)
	}
	if _, err := os.Lstat(dest); err == nil {
		return FileInfo{}, fmt.Errorf("%s exists already; choose a new file name", dest)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return FileInfo{}, err
	}
	defer db.Close()
	tmp := dest + ".partial"
	// VACUUM INTO writes into an empty file: made here, so that the
	// copy of wrapped secrets is private to the owner like the database.
	os.Remove(tmp) // what an interrupted backup left
	if f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
		return FileInfo{}, err
	} else {
		f.Close()
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return FileInfo{}, fmt.Errorf("copy %s: %w", path, err)
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return FileInfo{}, err
	}
	info, err := Inspect(ctx, tmp)
	if err != nil {
		os.Remove(tmp)
		return FileInfo{}, fmt.Errorf("check the copy: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return FileInfo{}, err
	}
	return info, syncDir(filepath.Dir(dest))
}

// Inspect checks that the file at path is an intact linkd database that this
// build can run (PRAGMA integrity_check; no migration newer than it knows)
// and describes it. It opens the file read-only.
func Inspect(ctx context.Context, path string) (FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return FileInfo{}, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return FileInfo{}, err
	}
	defer db.Close()
	info := FileInfo{Bytes: st.Size()}
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check(1)`).Scan(&check); err != nil {
		return info, fmt.Errorf("%s is not a readable SQLite database: %w", path, err)
	}
	if check != "ok" {
		return info, fmt.Errorf("%s is damaged: %s", path, check)
	}
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&info.SchemaVersion); err != nil {
		return info, fmt.Errorf("%s is not a linkd database: %w", path, err)
	}
	latest, err := LatestMigration()
	if err != nil {
		return info, err
	}
	if info.SchemaVersion > latest {
		return info, fmt.Errorf("%s has migration %d, newer than this linkd knows (%d): use a newer linkd", path, info.SchemaVersion, latest)
	}
	if err := db.QueryRowContext(ctx, `SELECT coalesce((SELECT value FROM settings WHERE name = 'master_key_id'), '')`).Scan(&info.MasterKeyID); err != nil {
		return info, err
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM linked_accounts`).Scan(&info.Accounts); err != nil {
		return info, err
	}
	return info, nil
}

// holdsData reports whether the database at path has anything a restore
// would lose: accounts, API keys or users (a server that only started once
// has an organization and its settings, which the backup brings its own of).
func holdsData(ctx context.Context, path string) (bool, error) {
	if st, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) || (err == nil && st.Size() == 0) {
		return false, nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return false, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM linked_accounts) + (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM users)`).Scan(&n)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return false, nil
	}
	return n > 0, err
}

// Restore replaces the database at path with the backup src. It refuses
// while any process has path open (ErrInUse), and over a database that holds
// data unless force (ErrNotEmpty); the database it replaces is kept beside
// it as PATH.before-restore-TIME, returned as previous (or "" when there was
// none). The swap is one rename, so path is always either the old database
// or the whole backup.
func Restore(ctx context.Context, src, path string, force bool) (info FileInfo, previous string, err error) {
	if info, err = Inspect(ctx, src); err != nil {
		return info, "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return info, "", err
	}
	lock, err := useLock(path, lockExclusive)
	if errors.Is(err, errLocked) {
		return info, "", ErrInUse
	} else if err != nil {
		return info, "", err
	}
	defer lock.Close()
	full, err := holdsData(ctx, path)
	if err != nil {
		return info, "", fmt.Errorf("read %s: %w", path, err)
	}
	if full && !force {
		return info, "", ErrNotEmpty
	}
	tmp := path + ".restore-partial"
	if err := copyFile(src, tmp); err != nil {
		os.Remove(tmp)
		return info, "", err
	}
	// Fold the old database's WAL into its file, so the copy kept of it
	// is whole; closing the last connection removes the WAL.
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		if err := checkpoint(ctx, path); err != nil {
			os.Remove(tmp)
			return info, "", err
		}
		previous = path + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Link(path, previous); err != nil {
			os.Remove(tmp)
			return info, "", fmt.Errorf("keep the old database: %w", err)
		}
	}
	// A WAL left beside the new file would be replayed into it.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			os.Remove(tmp)
			return info, previous, err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return info, previous, err
	}
	return info, previous, syncDir(filepath.Dir(path))
}

func checkpoint(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return db.Close()
}

// LatestMigration is the version of the newest migration this build has.
func LatestMigration() (int, error) {
	latest := 0
	err := linkd.Migrate(context.Background(), migrations, "migrations", func(_ context.Context, m linkd.Migration) error {
		latest = m.Version
		return nil
	})
	return latest, err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
