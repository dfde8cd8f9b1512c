package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/linkd-dev/linkd"
)

const userUsage = `usage:
  linkd user create --email EMAIL [--org NAME]   (password from stdin)
  linkd user list [--org NAME]
  linkd user disable EMAIL          sign-in refused, every session ended at once
  linkd user enable EMAIL
  linkd user reset-password EMAIL   (new password from stdin; ends every session)
  linkd user sign-out EMAIL         end every session of the user
  linkd user delete EMAIL
`

// runUser manages dashboard users directly in the database, through the
// same UserService as the dashboard (so the same rules and audit entries):
// it is how the first user is made, and how a user is offboarded when no
// one can sign in. Passwords are read from stdin (one line), never from a
// flag, so they stay out of shell history and the process list.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return usageError{errors.New("user needs a subcommand")}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create", "list", "disable", "enable", "reset-password", "sign-out", "delete":
	default:
		fmt.Fprintf(stderr, "linkd user: unknown subcommand %q\n%s", sub, userUsage)
		return usageError{fmt.Errorf("unknown user subcommand %q", sub)}
	}
	f := newFlags("user "+sub, getenv, stderr)
	var org, email string
	if sub == "create" || sub == "list" {
		f.StringVar(&org, "org", "", "organization name; default: the only one (a fresh install's is created)")
	}
	if sub == "create" {
		f.StringVar(&email, "email", "", "the user's email address, used to sign in (required)")
	}
	if err := f.parse(args); err != nil {
		return err
	}
	switch {
	case sub == "create" || sub == "list":
		if f.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q\n%s", f.Arg(0), userUsage)
		}
	case f.NArg() != 1:
		return fmt.Errorf("linkd user %s needs the user's email, and only that\n%s", sub, userUsage)
	default:
		email = f.Arg(0)
	}
	if sub != "list" {
		addr, err := linkd.NormalizeEmail(email)
		if err != nil {
			return fmt.Errorf("email: %s", linkd.ErrorMessage(err))
		}
		email = addr
	}
	var password string
	if sub == "create" || sub == "reset-password" {
		p, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		if err := linkd.ValidatePassword(p); err != nil {
			return fmt.Errorf("password: %s", linkd.ErrorMessage(err))
		}
		password = p
	}
	log := f.cfg.logger(stderr)
	store, err := openStore(ctx, f.cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	users := linkd.NewUserService(store)
	const actor = "cli"
	fail := func(what string, err error) error {
		if linkd.ErrorCode(err) == linkd.EINTERNAL {
			return fmt.Errorf("%s: %w", what, err)
		}
		return fmt.Errorf("%s: %s", what, linkd.ErrorMessage(err))
	}

	if sub == "create" || sub == "list" {
		o, _, err := ensureOrg(ctx, store, org)
		if err != nil {
			return err
		}
		if sub == "list" {
			list, err := users.ListUsers(ctx, o.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tCREATED\tSTATUS")
			for _, u := range list {
				status := "enabled"
				if u.DisabledAt != nil {
					status = "disabled " + u.DisabledAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.ID, u.Email, u.CreatedAt.Format(time.RFC3339), status)
			}
			return tw.Flush()
		}
		u, err := users.CreateUser(ctx, o.ID, email, password, actor)
		if err != nil {
			return fail("create user", err)
		}
		fmt.Fprintln(stdout, u.ID)
		log.Info("created dashboard user", "email", email, "org", o.Name)
		return nil
	}

	u, err := users.UserByEmail(ctx, email)
	if err != nil {
		return fail(sub, err)
	}
	switch sub {
	case "disable":
		_, err = users.Disable(ctx, u.OrgID, u.ID, actor)
		if err == nil {
			fmt.Fprintf(stdout, "disabled %s: signing in is refused and every session has ended\n", email)
		}
	case "enable":
		_, err = users.Enable(ctx, u.OrgID, u.ID, actor)
		if err == nil {
			fmt.Fprintf(stdout, "enabled %s\n", email)
		}
	case "reset-password":
		_, err = users.ResetPassword(ctx, u.OrgID, u.ID, password, actor)
		if err == nil {
			fmt.Fprintf(stdout, "set a new password for %s and ended every session\n", email)
		}
	case "sign-out":
		var n int
		_, n, err = users.SignOutEverywhere(ctx, u.OrgID, u.ID, actor)
		if err == nil {
			fmt.Fprintf(stdout, "ended %d session(s) of %s\n", n, email)
		}
	case "delete":
		_, err = users.Delete(ctx, u.OrgID, u.ID, actor)
		if err == nil {
			fmt.Fprintf(stdout, "deleted %s\n", email)
		}
	}
	if err != nil {
		return fail(sub, err)
	}
	log.Info("dashboard user changed", "action", sub, "email", email)
	return nil
}

// readPassword reads one line from stdin, prompting when it is a
// terminal.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(stderr, "Password: ")
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// logSetupCodes logs a one-time code for every organization without a
// dashboard user, with which the first user is created at /setup. Only the
// code's hash is stored, so any instance accepts it; each instance that
// starts adds its own code, and all of an organization's codes go once its
// first user exists.
func logSetupCodes(ctx context.Context, store linkd.Store, log *slog.Logger, publicURL string) error {
	orgs, err := store.Orgs(ctx)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		n, err := store.CountUsers(ctx, o.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		code, err := linkd.NewUserService(store).IssueSetupCode(ctx, o.ID)
		if err != nil {
			return err
		}
		log.Warn("no dashboard user yet: open the setup page and enter this one-time code (valid 24h), or run: linkd user create --email EMAIL",
			"url", publicURL+"/setup", "org", o.Name, "setup_code", code)
	}
	return nil
}
