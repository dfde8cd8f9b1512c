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
	"time"

	"github.com/linkd-dev/linkd"
)

// runUser manages dashboard users directly in the database. The password is
// read from stdin (one line), never from a flag, so it stays out of shell
// history and the process list.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, "usage: linkd user create --email EMAIL [--org NAME] < password\n")
		return usageError{errors.New("user needs the subcommand create")}
	}
	f := newFlags("user create", getenv, stderr)
	org := f.String("org", "", "organization name; default: the only one (a fresh install's is created)")
	email := f.String("email", "", "the user's email address, used to sign in (required)")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", f.Arg(0))}
	}
	addr, err := linkd.NormalizeEmail(*email)
	if err != nil {
		return fmt.Errorf("--email: %s", linkd.ErrorMessage(err))
	}
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(stderr, "Password: ")
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if err := linkd.ValidatePassword(password); err != nil {
		return fmt.Errorf("password: %s", linkd.ErrorMessage(err))
	}
	log := f.cfg.logger(stderr)
	store, err := openStore(ctx, f.cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	o, _, err := ensureOrg(ctx, store, *org)
	if err != nil {
		return err
	}
	u := &linkd.User{ID: linkd.NewID(), OrgID: o.ID, Email: addr, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := store.CreateUser(ctx, u, linkd.HashPassword(password)); err != nil {
		return fmt.Errorf("create user: %s", linkd.ErrorMessage(err))
	}
	fmt.Fprintln(stdout, u.ID)
	log.Info("created dashboard user", "email", addr, "org", o.Name)
	return nil
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
		code, hash := linkd.NewSecret("setup-")
		if err := store.AddSetupCode(ctx, o.ID, hash, time.Now().UTC().Add(linkd.SetupCodeTTL)); err != nil {
			return err
		}
		log.Warn("no dashboard user yet: open the setup page and enter this one-time code (valid 24h), or run: linkd user create --email EMAIL",
			"url", publicURL+"/setup", "org", o.Name, "setup_code", code)
	}
	return nil
}
