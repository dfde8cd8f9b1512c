package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/linkd-dev/linkd"
)

const keyUsage = `usage:
  linkd key generate      print a new random master key
  linkd key rotate        re-wrap every data key under LINKD_ENCRYPTION_KEY, opening
                          them with the old key given in LINKD_DECRYPTION_KEYS; online,
                          and resumable: run it again if it stops
`

// runKey manages the master encryption key (docs/operations.md, "Key
// rotation").
func runKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keyUsage)
		return usageError{errors.New("key needs a subcommand")}
	}
	sub, args := args[0], args[1:]
	f := newFlags("key "+sub, getenv, stderr)
	var batch int
	if sub == "rotate" {
		f.IntVar(&batch, "batch", 500, "data keys re-wrapped per transaction")
	}
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", f.Arg(0))}
	}
	switch sub {
	case "generate":
		k := make([]byte, 32)
		rand.Read(k)
		fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(k))
		return nil
	case "rotate":
		if batch < 1 {
			return usageError{errors.New("--batch must be at least 1")}
		}
		return rotateKeys(ctx, f.cfg, batch, stdout, stderr)
	}
	fmt.Fprint(stderr, keyUsage)
	return usageError{fmt.Errorf("unknown key subcommand %q", sub)}
}

func rotateKeys(ctx context.Context, c *Config, batch int, stdout, stderr io.Writer) error {
	log := c.logger(stderr)
	store, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := openKeyring(ctx, c, store, log)
	if err != nil {
		return err
	}
	rot := linkd.NewKeyRotation(store, keys)
	rot.Batch = batch
	done, last := 0, time.Now()
	rot.Progress = func(t linkd.Tenant, kind linkd.DataKeyKind, n int) {
		done += n
		log.Debug("re-wrapped a batch", "org", t.OrgID, "env", t.Env, "kind", kind, "keys", n)
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			fmt.Fprintf(stderr, "re-wrapped %d data keys so far\n", done)
		}
	}
	start := time.Now()
	res, err := rot.Rotate(ctx)
	if err != nil {
		return fmt.Errorf("key rotate: %w (after re-wrapping %d data keys; run it again to go on)", err, res.Rewrapped)
	}
	fmt.Fprintf(stdout, "re-wrapped %d of %d data keys under master key %s in %s (%d passes)\n",
		res.Rewrapped, res.Scanned, res.To, time.Since(start).Round(time.Millisecond), res.Passes)
	if res.From != res.To {
		fmt.Fprintf(stdout, "master key %s is retired: remove it from LINKD_DECRYPTION_KEYS and restart the instances\n", res.From)
	} else {
		fmt.Fprintf(stdout, "the database was on master key %s already\n", res.To)
	}
	return nil
}
