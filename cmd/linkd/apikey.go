package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/linkd-dev/linkd"
)

// runAPIKey manages API keys directly in the database: it is how the first
// key of a fresh install is made, before any key exists to call the API with.
func runAPIKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: linkd apikey create|list|revoke …\n")
		return usageError{fmt.Errorf("apikey needs a subcommand")}
	}
	sub, args := args[0], args[1:]
	f := newFlags("apikey "+sub, getenv, stderr)
	org := f.String("org", "", "organization name; default: the only one (a fresh install's is created)")
	var env, name string
	if sub == "create" {
		f.StringVar(&env, "env", "", "environment of the key: test or production (required)")
		f.StringVar(&name, "name", "", "a label to recognise the key by")
	}
	if err := f.parse(args); err != nil {
		return err
	}
	log := f.cfg.logger(stderr)
	log.Debug("config", "config", f.cfg.logValue())
	store, err := openStore(ctx, f.cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	switch sub {
	case "create":
		e, err := linkd.ParseEnvironment(env)
		if err != nil {
			return fmt.Errorf("--env: %s", linkd.ErrorMessage(err))
		}
		if f.NArg() > 0 {
			return usageError{fmt.Errorf("unexpected argument %q", f.Arg(0))}
		}
		o, _, err := ensureOrg(ctx, store, *org)
		if err != nil {
			return err
		}
		secret, hash := linkd.NewAPIKeySecret(e)
		k := &linkd.APIKey{ID: linkd.NewID(), OrgID: o.ID, Env: e, Name: name, Prefix: linkd.APIKeyPrefix(secret),
			CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if err := store.CreateAPIKey(ctx, k, hash, linkd.APIKeyAudit(k, linkd.AuditAPIKeyCreate, "cli", k.CreatedAt)); err != nil {
			return err
		}
		// The secret alone on stdout, so scripts can capture it; the rest
		// goes to stderr.
		fmt.Fprintln(stdout, secret)
		log.Info("created API key; it is shown once, store it now", "id", k.ID, "org", o.Name, "environment", e, "name", name)
		return nil
	case "list":
		o, _, err := ensureOrg(ctx, store, *org)
		if err != nil {
			return err
		}
		keys, err := store.ListAPIKeys(ctx, o.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tENV\tNAME\tCREATED\tLAST USED\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Env, k.Name, k.CreatedAt.Format(time.RFC3339), optTime(k.LastUsedAt), optTime(k.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		if f.NArg() != 1 {
			return usageError{fmt.Errorf("usage: linkd apikey revoke ID")}
		}
		o, _, err := ensureOrg(ctx, store, *org)
		if err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		// The audit entry names the key as the list shows it.
		revoked := &linkd.APIKey{ID: f.Arg(0)}
		if keys, err := store.ListAPIKeys(ctx, o.ID); err == nil {
			for _, k := range keys {
				if k.ID == revoked.ID {
					revoked = k
				}
			}
		}
		if err := store.RevokeAPIKey(ctx, o.ID, revoked.ID, now, linkd.APIKeyAudit(revoked, linkd.AuditAPIKeyRevoke, "cli", now)); err != nil {
			return fmt.Errorf("revoke: %s", linkd.ErrorMessage(err))
		}
		fmt.Fprintln(stdout, "revoked", f.Arg(0))
		return nil
	}
	return usageError{fmt.Errorf("unknown apikey subcommand %q", sub)}
}

func optTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
