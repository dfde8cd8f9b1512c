package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/vault"
)

// pgBackupHelp is what backup and restore say on PostgreSQL, whose own tools
// do the job better than a copy through linkd could (consistent snapshots of
// a live database, parallel restore, point-in-time recovery with WAL
// archiving).
const pgBackupHelp = `on PostgreSQL, back up and restore with PostgreSQL's own tools:
  pg_dump --format=custom --file=linkd.dump "$LINKD_DATABASE_URL"      (online: one consistent snapshot)
  pg_restore --clean --if-exists --no-owner --dbname="$LINKD_DATABASE_URL" linkd.dump   (with every linkd instance stopped)
or continuous archiving (pg_basebackup + WAL archive) for point-in-time recovery; see docs/operations.md`

// runBackup copies the SQLite database, online, to a new file.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("backup", getenv, stderr)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usageError{errors.New("usage: linkd backup FILE")}
	}
	if f.cfg.isPostgres() {
		return errors.New("linkd backup copies SQLite databases; " + pgBackupHelp)
	}
	src, dest := f.cfg.sqlitePath(), f.Arg(0)
	start := time.Now()
	info, err := sqlite.Backup(ctx, src, dest)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backed up %s to %s in %s: %d bytes, %d accounts, migration %d, master key id %s\n",
		src, dest, time.Since(start).Round(time.Millisecond), info.Bytes, info.Accounts, info.SchemaVersion, info.MasterKeyID)
	fmt.Fprintln(stdout, "the backup's secrets open only with that master key: keep a copy of the key apart from the backup")
	return nil
}

// runRestore puts a backup in place of the SQLite database.
func runRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("restore", getenv, stderr)
	force := f.Bool("force", false, "replace a database that holds accounts, API keys or users (it is kept beside as .before-restore-TIME)")
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		return usageError{errors.New("usage: linkd restore FILE [--force]")}
	}
	if f.cfg.isPostgres() {
		return errors.New("linkd restore replaces SQLite databases; " + pgBackupHelp)
	}
	src, dest := f.Arg(0), f.cfg.sqlitePath()
	info, previous, err := sqlite.Restore(ctx, src, dest, *force)
	switch {
	case errors.Is(err, sqlite.ErrInUse):
		return fmt.Errorf("restore: %s is open in a running linkd (serve or another command): stop every process using it, then restore", dest)
	case errors.Is(err, sqlite.ErrNotEmpty):
		return fmt.Errorf("restore: %s holds accounts, API keys or users that the backup would replace; add --force to replace it (the old file is kept beside it)", dest)
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s to %s: %d accounts, migration %d\n", src, dest, info.Accounts, info.SchemaVersion)
	if previous != "" {
		fmt.Fprintf(stdout, "the database it replaced is kept as %s; delete it once the restore is checked\n", previous)
	}
	latest, err := sqlite.LatestMigration()
	if err == nil && info.SchemaVersion < latest {
		fmt.Fprintf(stdout, "the next start applies migrations %d to %d\n", info.SchemaVersion+1, latest)
	}
	if info.MasterKeyID != "" {
		fmt.Fprintf(stdout, "start linkd with the master key the backup was made with (key id %s)\n", info.MasterKeyID)
		if id := configuredKeyID(f.cfg); id != "" && id != info.MasterKeyID {
			fmt.Fprintf(stdout, "warning: the master key configured here has id %s, not %s: linkd will refuse to start until LINKD_ENCRYPTION_KEY is the backup's\n", id, info.MasterKeyID)
		}
	}
	return nil
}

// configuredKeyID is the id of the master key c names (LINKD_ENCRYPTION_KEY,
// or an existing key file in the data dir), or "" when it names none yet.
func configuredKeyID(c *Config) string {
	var raw []byte
	if c.EncryptionKey != "" {
		raw, _ = vault.ParseKey(c.EncryptionKey)
	} else if b, err := os.ReadFile(filepath.Join(c.DataDir, "master.key")); err == nil {
		raw, _ = vault.ParseKey(string(b))
	}
	k, err := vault.New(raw)
	if err != nil {
		return ""
	}
	return k.KeyID()
}
