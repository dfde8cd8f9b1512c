package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/postgres"
	"github.com/linkd-dev/linkd/sqlite"
	"github.com/linkd-dev/linkd/vault"
)

// openStore opens the configured database and applies pending migrations.
func openStore(ctx context.Context, c *Config) (linkd.Store, error) {
	if c.isPostgres() {
		s, err := postgres.Open(ctx, c.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL: %w", err)
		}
		return s, nil
	}
	path := c.sqlitePath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	return s, nil
}

// masterKeyID is the settings row that pins the master key to the database.
const masterKeyID = "master_key_id"

// openKeyring loads the master key (from the setting, or the key file in the
// data dir, created on first use) and checks that it is the one the database
// was set up with: a wrong key would otherwise surface only when a secret is
// first read, long after the mistake.
func openKeyring(ctx context.Context, c *Config, store linkd.Store, log *slog.Logger) (*vault.Keyring, error) {
	var master []byte
	if c.EncryptionKey != "" {
		k, err := vault.ParseKey(c.EncryptionKey)
		if err != nil {
			return nil, fmt.Errorf("LINKD_ENCRYPTION_KEY: %w", err)
		}
		master = k
	} else {
		path := filepath.Join(c.DataDir, "master.key")
		k, created, err := vault.LoadOrCreateKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		if created {
			log.Warn("generated a new master encryption key; back it up, without it no stored secret can be read", "path", path)
		}
		if c.isPostgres() {
			log.Warn("LINKD_ENCRYPTION_KEY is not set: every instance on this database must share the key file", "path", path)
		}
		master = k
	}
	keys, err := vault.New(master)
	if err != nil {
		return nil, err
	}
	stored, err := store.EnsureSetting(ctx, masterKeyID, keys.KeyID())
	if err != nil {
		return nil, fmt.Errorf("check master key: %w", err)
	}
	if stored != keys.KeyID() {
		return nil, fmt.Errorf("the master encryption key (id %s) is not the one this database was set up with (id %s): set LINKD_ENCRYPTION_KEY to that key", keys.KeyID(), stored)
	}
	return keys, nil
}

// defaultOrgName is the organization a fresh install gets.
const defaultOrgName = linkd.DefaultOrgName

// ensureOrg returns the organization named name; with an empty name, the
// only one, creating it on a fresh install (linkd.OrgService.Resolve).
func ensureOrg(ctx context.Context, store linkd.Store, name string) (org *linkd.Org, created bool, err error) {
	return linkd.NewOrgService(store).Resolve(ctx, name)
}
