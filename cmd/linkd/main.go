// Command linkd is the linked-accounts service: one binary that serves the
// API (serve), applies migrations (migrate) and manages API keys (apikey).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if code := report(err, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

// report prints what went wrong, if anything, and returns the exit status:
// 2 for a command line that could not be understood, 1 for anything else
// that went wrong. Every failure says what it was, on its last line, even
// when a usage message came before it: a script's log keeps the reason.
func report(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "linkd:", err)
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// usageError is an error in the command line itself (exit status 2).
type usageError struct{ error }

const usage = `linkd — linked accounts for your integrations

Usage:
  linkd serve                         run the server
  linkd migrate                       apply database migrations and exit
  linkd apikey create --env test|production [--org NAME] [--name LABEL]
  linkd apikey list [--org NAME]
  linkd apikey revoke ID [--org NAME]
  linkd user create --email EMAIL [--org NAME]   (password from stdin)
  linkd user list [--org NAME]
  linkd user disable|enable|reset-password|sign-out|delete EMAIL
  linkd import FILE|- --env test|production [--mode create|upsert] [--dry-run] [--no-wait]
  linkd export --env test|production [--q TEXT] [--udf KEY=VALUE]… [-o FILE]
  linkd backup FILE                   copy the SQLite database, online
  linkd restore FILE [--force]        put a backup in place (SQLite; linkd stopped)
  linkd key generate|rotate            master encryption key (rotate: online, resumable)
  linkd version

Every command reads the same settings from flags or LINKD_* variables;
run "linkd serve -h" to list them.
import and export are clients of a running server instead: they read
--server (LINKD_SERVER) and --api-key (LINKD_API_KEY); see "linkd import -h".
`

// run is the whole program, with its environment passed in so tests can run
// it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{errors.New("no command")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr, nil)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "apikey":
		return runAPIKey(ctx, rest, getenv, stdout, stderr)
	case "user":
		return runUser(ctx, rest, getenv, os.Stdin, stdout, stderr)
	case "import":
		return runImport(ctx, rest, getenv, os.Stdin, stdout, stderr)
	case "export":
		return runExport(ctx, rest, getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, getenv, stdout, stderr)
	case "restore":
		return runRestore(ctx, rest, getenv, stdout, stderr)
	case "key":
		return runKey(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "linkd", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "linkd: unknown command %q\n\n%s", cmd, usage)
	return usageError{fmt.Errorf("unknown command %q", cmd)}
}
