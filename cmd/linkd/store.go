package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

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

// openKeyring loads the master key (from the setting, or the key file in the
// data dir, created on first use) and any older keys of a rotation
// (--decryption-keys), and checks that they fit the database: its data keys
// must be wrapped by the master key, or, while a rotation to it is pending,
// by one of the older keys. A wrong key would otherwise surface only when a
// secret is first read, long after the mistake; a key rotated away from is
// refused, so an instance started with yesterday's settings cannot wrap new
// data keys with it.
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
	var older [][]byte
	for i, s := range strings.Split(c.DecryptionKeys, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		k, err := vault.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("LINKD_DECRYPTION_KEYS, key %d: %w", i+1, err)
		}
		older = append(older, k)
	}
	keys, err := vault.New(master, older...)
	if err != nil {
		return nil, err
	}
	stored, err := store.EnsureSetting(ctx, linkd.MasterKeyIDSetting, keys.KeyID())
	if err != nil {
		return nil, fmt.Errorf("check master key: %w", err)
	}
	retiredSetting, err := store.EnsureSetting(ctx, linkd.RetiredKeysSetting, "")
	if err != nil {
		return nil, fmt.Errorf("check master key: %w", err)
	}
	retired := linkd.RetiredKeyIDs(retiredSetting)
	switch {
	case slices.Contains(retired, keys.KeyID()):
		return nil, fmt.Errorf("the master encryption key (id %s) was rotated away from; this database's key is now id %s: set LINKD_ENCRYPTION_KEY to that key", keys.KeyID(), stored)
	case stored == keys.KeyID():
	case slices.Contains(keys.OlderKeyIDs(), stored):
		log.Warn("this database's data keys are wrapped by an older key of LINKD_DECRYPTION_KEYS: once every instance has the new LINKD_ENCRYPTION_KEY, run linkd key rotate", "database_key_id", stored, "key_id", keys.KeyID())
	default:
		return nil, fmt.Errorf("the master encryption key (id %s) is not the one this database was set up with (id %s): set LINKD_ENCRYPTION_KEY to that key", keys.KeyID(), stored)
	}
	for _, id := range keys.OlderKeyIDs() {
		if slices.Contains(retired, id) {
			log.Info("a key of LINKD_DECRYPTION_KEYS is retired (linkd key rotate finished): remove it", "key_id", id)
		}
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
