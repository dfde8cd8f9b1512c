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
		// Without --name the key is labelled by its origin and day; an
		// explicit empty name is refused like any other bad name.
		name = "CLI key " + time.Now().UTC().Format("2006-01-02")
		f.StringVar(&name, "name", name, "a label to recognise the key by (at most 100 characters)")
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
		k, secret, err := linkd.NewAPIKeyService(store).Create(ctx, o.ID, e, name, "cli")
		if err != nil {
			return fmt.Errorf("--name: %s", linkd.ErrorMessage(err))
		}
		// The secret alone on stdout, so scripts can capture it; the rest
		// goes to stderr.
		fmt.Fprintln(stdout, secret)
		log.Info("created API key; it is shown once, store it now", "id", k.ID, "org", o.Name, "environment", e, "name", k.Name)
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
		if _, err := linkd.NewAPIKeyService(store).Revoke(ctx, o.ID, "", f.Arg(0), "cli"); err != nil {
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
