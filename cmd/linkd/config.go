package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/dashboard"
	"github.com/linkd-dev/linkd/outbound"
	"github.com/linkd-dev/linkd/webhooks"
)

// Config is every setting of linkd, filled from defaults, then LINKD_*
// variables, then flags (the last one set wins).
type Config struct {
	Addr          string
	DataDir       string
	DatabaseURL   string
	EncryptionKey string
	// DecryptionKeys are older master keys, comma-separated, that only
	// open the data keys they wrapped: set during a key rotation.
	DecryptionKeys  string
	PublicURL       string
	RateLimit       float64
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	ImportMaxBytes  int64
	ImportLease     time.Duration
	// JobLease is how long an instance holds a bulk job, a workflow
	// execution or a scheduled workflow's tick without renewing it before
	// another may take it over;
	// RefreshLease how long a token refresh holds its connection. Short
	// leases make work cut off by a crash resume sooner (see
	// docs/operations.md for what they trade).
	JobLease     time.Duration
	RefreshLease time.Duration
	SessionTTL   time.Duration
	// RefreshAhead is how long before expiry an OAuth token is refreshed,
	// in the background and before the credentials route hands it out.
	RefreshAhead time.Duration
	AppsFile     string
	// ScheduleEvery, when set, is the period of every scheduled workflow
	// in place of its catalog's (which is at least 5 minutes): for tests
	// and demos that need ticks seconds apart, never for production.
	ScheduleEvery time.Duration
	// TickBatch is how many configs a scheduled workflow's tick queues
	// per transaction: the longest it holds SQLite's writer, or
	// PostgreSQL's locks on its accounts, at once.
	TickBatch int
	// AllowPrivate are the private or reserved networks outbound calls
	// (apps, token endpoints) may reach; none by default (SSRF guard).
	AllowPrivate []netip.Prefix
	// ProxyMaxBody bounds a request body sent through the proxy;
	// ProxyTimeout the wait for the app's answer.
	ProxyMaxBody int64
	ProxyTimeout time.Duration
	// LogRetention is how long the call log keeps a call to an app's API.
	LogRetention time.Duration
	// WebhookRetrySchedule is the wait before each webhook delivery
	// attempt (webhooks.ParseSchedule).
	WebhookRetrySchedule []time.Duration
	// TrustedProxies lists the reverse proxies (CIDR ranges) whose
	// X-Forwarded-For and X-Forwarded-Proto the dashboard believes (sign-in
	// limits by client address, Secure cookies, HSTS).
	TrustedProxies *dashboard.TrustedProxies

	// MetricsAddr, when set, is a listener of its own for /metrics, which
	// the main listener then no longer serves: Prometheus scrapes an
	// address the public never reaches.
	MetricsAddr string
	// MetricsToken, when set, is the bearer token /metrics asks for, on
	// whichever listener serves it. A secret: masked in the log.
	MetricsToken string
}

// commandFlags is one command's flag set with the common settings on it.
type commandFlags struct {
	*flag.FlagSet
	cfg *Config
	// finish parses what flags leave as text and checks the whole.
	finish func() error
	// pos are the positional arguments, wherever they stood among the
	// flags ("apikey revoke ID --org NAME", as the README writes it).
	pos []string
}

// NArg, Arg and Args are the positional arguments parse found.
func (f *commandFlags) NArg() int { return len(f.pos) }

// Arg returns the i-th positional argument, or "".
func (f *commandFlags) Arg(i int) string {
	if i < 0 || i >= len(f.pos) {
		return ""
	}
	return f.pos[i]
}

// Args returns the positional arguments.
func (f *commandFlags) Args() []string { return f.pos }

// newFlags defines the common settings on a new flag set for one command.
// Defaults come from the environment, so a flag overrides its variable.
func newFlags(name string, getenv func(string) string, stderr io.Writer) *commandFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	c := &Config{}
	fs.StringVar(&c.Addr, "addr", env("LINKD_ADDR", "127.0.0.1:8080"), "listen address (LINKD_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", env("LINKD_DATA_DIR", "./linkd-data"), "directory for the SQLite database and generated key (LINKD_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database", env("LINKD_DATABASE_URL", ""), "postgres://… to use PostgreSQL; empty for SQLite in the data dir (LINKD_DATABASE_URL)")
	fs.StringVar(&c.EncryptionKey, "encryption-key", env("LINKD_ENCRYPTION_KEY", ""), "master key, 32 bytes as hex or base64; generated into the data dir when empty (LINKD_ENCRYPTION_KEY)")
	fs.StringVar(&c.DecryptionKeys, "decryption-keys", env("LINKD_DECRYPTION_KEYS", ""), "older master keys, comma-separated, that only open what they sealed: set while rotating to a new --encryption-key (LINKD_DECRYPTION_KEYS; see linkd key rotate)")
	fs.StringVar(&c.PublicURL, "public-url", env("LINKD_PUBLIC_URL", ""), "base URL users reach linkd at; default http://ADDR (LINKD_PUBLIC_URL)")
	trustedProxies := env("LINKD_TRUSTED_PROXIES", "")
	fs.Func("trusted-proxies", "CIDR ranges of the reverse proxies in front of linkd, comma-separated; their X-Forwarded-For (right-most untrusted address) and X-Forwarded-Proto are believed (LINKD_TRUSTED_PROXIES)", func(s string) error {
		trustedProxies = s
		return nil
	})
	// The on/off --trust-proxy believed the left-most X-Forwarded-For,
	// which the client writes. It is still defined so that a deployment
	// that sets it fails to start with directions, rather than starting
	// without the trust its operator expects.
	oldTrustProxy := getenv("LINKD_TRUST_PROXY") != ""
	fs.BoolFunc("trust-proxy", "replaced by --trusted-proxies", func(string) error {
		oldTrustProxy = true
		return nil
	})
	fs.StringVar(&c.AppsFile, "apps", env("LINKD_APPS", ""), "YAML file of apps to add to the shipped catalog (LINKD_APPS)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", env("LINKD_METRICS_ADDR", ""), "serve /metrics on this address only, not on --addr (LINKD_METRICS_ADDR)")
	fs.StringVar(&c.MetricsToken, "metrics-token", env("LINKD_METRICS_TOKEN", ""), "bearer token /metrics asks for, at least 16 visible characters (LINKD_METRICS_TOKEN)")
	fs.StringVar(&c.LogLevel, "log-level", env("LINKD_LOG_LEVEL", "info"), "debug, info, warn or error (LINKD_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("LINKD_LOG_FORMAT", "text"), "text or json (LINKD_LOG_FORMAT)")
	rate := env("LINKD_RATE_LIMIT", "100")
	fs.Func("rate-limit", "requests per second per API key, burst twice that; 0 turns it off (LINKD_RATE_LIMIT, default 100)", func(s string) error {
		rate = s
		return nil
	})
	shutdown := env("LINKD_SHUTDOWN_TIMEOUT", "30s")
	fs.Func("shutdown-timeout", "how long in-flight requests may run on after SIGTERM (LINKD_SHUTDOWN_TIMEOUT, default 30s)", func(s string) error {
		shutdown = s
		return nil
	})
	importMax := env("LINKD_IMPORT_MAX_BYTES", "1073741824")
	fs.Func("import-max-bytes", "largest CSV file an import accepts (LINKD_IMPORT_MAX_BYTES, default 1 GiB)", func(s string) error {
		importMax = s
		return nil
	})
	importLease := env("LINKD_IMPORT_LEASE", "30s")
	fs.Func("import-lease", "how long an instance holds an import job between batches before another may take it over (LINKD_IMPORT_LEASE, default 30s)", func(s string) error {
		importLease = s
		return nil
	})
	jobLease := env("LINKD_JOB_LEASE", "30s")
	fs.Func("job-lease", "how long an instance holds a bulk delete or a scheduled workflow's tick (between batches) or a workflow execution (between heartbeats) before another may take it over (LINKD_JOB_LEASE, default 30s, at least 1s)", func(s string) error {
		jobLease = s
		return nil
	})
	scheduleEvery := env("LINKD_SCHEDULE_EVERY", "")
	fs.Func("schedule-every", "runs every scheduled workflow at this period instead of its catalog's: for tests and demos only (LINKD_SCHEDULE_EVERY, default unset, at least 1s)", func(s string) error {
		scheduleEvery = s
		return nil
	})
	tickBatch := env("LINKD_TICK_BATCH", strconv.Itoa(linkd.TickBatch))
	fs.Func("tick-batch", "how many configs a scheduled workflow's tick queues per transaction (LINKD_TICK_BATCH, default 500, at least 1)", func(s string) error {
		tickBatch = s
		return nil
	})
	refreshLease := env("LINKD_REFRESH_LEASE", "2m")
	fs.Func("refresh-lease", "how long a token refresh holds its connection; a refresh gives up after half of it (LINKD_REFRESH_LEASE, default 2m, at least 10s)", func(s string) error {
		refreshLease = s
		return nil
	})
	sessionTTL := env("LINKD_SESSION_TTL", "24h")
	fs.Func("session-ttl", "how long a session token lives; its refresh token lives 30 times as long (LINKD_SESSION_TTL, default 24h)", func(s string) error {
		sessionTTL = s
		return nil
	})
	allowPrivate := env("LINKD_ALLOW_PRIVATE_NETWORKS", "")
	fs.Func("allow-private-networks", "comma-separated CIDRs of private or reserved networks that calls to apps may reach, e.g. 127.0.0.1/32 for an app on this host (LINKD_ALLOW_PRIVATE_NETWORKS; default none)", func(s string) error {
		allowPrivate = s
		return nil
	})
	proxyMax := env("LINKD_PROXY_MAX_BODY", "67108864")
	fs.Func("proxy-max-body", "largest request body the proxy forwards (LINKD_PROXY_MAX_BODY, default 64 MiB)", func(s string) error {
		proxyMax = s
		return nil
	})
	proxyTimeout := env("LINKD_PROXY_TIMEOUT", "30s")
	fs.Func("proxy-timeout", "how long the proxy waits for an app's answer, retries included; 504 after (LINKD_PROXY_TIMEOUT, default 30s)", func(s string) error {
		proxyTimeout = s
		return nil
	})
	logRetention := env("LINKD_LOG_RETENTION", "30d")
	fs.Func("log-retention", "how long the call log keeps calls to apps' APIs, e.g. 30d or 72h, from 1h to 365d (LINKD_LOG_RETENTION, default 30d)", func(s string) error {
		logRetention = s
		return nil
	})
	retrySchedule := env("LINKD_WEBHOOK_RETRY_SCHEDULE", webhooks.DefaultSchedule)
	fs.Func("webhook-retry-schedule", "waits before each webhook delivery attempt, e.g. 5s,5m,30m (the first attempt is immediate) (LINKD_WEBHOOK_RETRY_SCHEDULE, default "+webhooks.DefaultSchedule+")", func(s string) error {
		retrySchedule = s
		return nil
	})
	refreshAhead := env("LINKD_REFRESH_AHEAD", "5m")
	fs.Func("refresh-ahead", "refresh OAuth tokens this long before they expire; the credentials route never hands out one that expires sooner (LINKD_REFRESH_AHEAD, default 5m)", func(s string) error {
		refreshAhead = s
		return nil
	})
	// The numeric settings are parsed after flags so that a bad variable and
	// a bad flag are reported the same way.
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage of linkd %s:\n", name)
		fs.PrintDefaults()
	}
	finish := func() error {
		var err error
		if c.RateLimit, err = strconv.ParseFloat(rate, 64); err != nil || c.RateLimit < 0 {
			return fmt.Errorf("rate limit %q: must be a number ≥ 0", rate)
		}
		if c.ShutdownTimeout, err = time.ParseDuration(shutdown); err != nil || c.ShutdownTimeout < 0 {
			return fmt.Errorf("shutdown timeout %q: must be a duration like 30s", shutdown)
		}
		if c.ImportMaxBytes, err = strconv.ParseInt(importMax, 10, 64); err != nil || c.ImportMaxBytes < 1 {
			return fmt.Errorf("import max bytes %q: must be a whole number of bytes ≥ 1", importMax)
		}
		if c.ImportLease, err = time.ParseDuration(importLease); err != nil || c.ImportLease < time.Second {
			return fmt.Errorf("import lease %q: must be a duration of at least 1s", importLease)
		}
		if c.JobLease, err = time.ParseDuration(jobLease); err != nil || c.JobLease < time.Second {
			return fmt.Errorf("job lease %q (--job-lease, LINKD_JOB_LEASE): must be a duration of at least 1s", jobLease)
		}
		if scheduleEvery != "" {
			if c.ScheduleEvery, err = time.ParseDuration(scheduleEvery); err != nil || c.ScheduleEvery < time.Second {
				return fmt.Errorf("schedule period %q (--schedule-every, LINKD_SCHEDULE_EVERY): must be a duration of at least 1s", scheduleEvery)
			}
		}
		if c.TickBatch, err = strconv.Atoi(tickBatch); err != nil || c.TickBatch < 1 {
			return fmt.Errorf("tick batch %q (--tick-batch, LINKD_TICK_BATCH): must be a whole number of at least 1", tickBatch)
		}
		if c.RefreshLease, err = time.ParseDuration(refreshLease); err != nil || c.RefreshLease < connect.MinRefreshLease {
			return fmt.Errorf("refresh lease %q (--refresh-lease, LINKD_REFRESH_LEASE): must be a duration of at least %s", refreshLease, connect.MinRefreshLease)
		}
		if c.SessionTTL, err = time.ParseDuration(sessionTTL); err != nil || c.SessionTTL < time.Minute {
			return fmt.Errorf("session TTL %q: must be a duration of at least 1m", sessionTTL)
		}
		if c.AllowPrivate, err = outbound.ParsePrefixes(allowPrivate); err != nil {
			return fmt.Errorf("allow private networks: %w", err)
		}
		if c.ProxyMaxBody, err = strconv.ParseInt(proxyMax, 10, 64); err != nil || c.ProxyMaxBody < 1 {
			return fmt.Errorf("proxy max body %q: must be a whole number of bytes ≥ 1", proxyMax)
		}
		if c.ProxyTimeout, err = time.ParseDuration(proxyTimeout); err != nil || c.ProxyTimeout < time.Second || c.ProxyTimeout > 10*time.Minute {
			return fmt.Errorf("proxy timeout %q: must be a duration from 1s to 10m", proxyTimeout)
		}
		if c.LogRetention, err = parseRetention(logRetention); err != nil || c.LogRetention < time.Hour || c.LogRetention > 365*24*time.Hour {
			return fmt.Errorf("log retention %q: must be a duration from 1h to 365d, like 30d or 72h", logRetention)
		}
		if c.WebhookRetrySchedule, err = webhooks.ParseSchedule(retrySchedule); err != nil {
			return err
		}
		if c.RefreshAhead, err = time.ParseDuration(refreshAhead); err != nil || c.RefreshAhead < 30*time.Second || c.RefreshAhead > 12*time.Hour {
			return fmt.Errorf("refresh ahead %q: must be a duration from 30s to 12h", refreshAhead)
		}
		if oldTrustProxy {
			return errors.New("--trust-proxy (LINKD_TRUST_PROXY) was replaced by --trusted-proxies (LINKD_TRUSTED_PROXIES): " +
				"list your reverse proxies' addresses as CIDR ranges, e.g. LINKD_TRUSTED_PROXIES=10.0.0.0/8, and remove LINKD_TRUST_PROXY")
		}
		if c.TrustedProxies, err = dashboard.ParseTrustedProxies(trustedProxies); err != nil {
			return err
		}
		return c.validate()
	}
	return &commandFlags{FlagSet: fs, cfg: c, finish: finish}
}

// parse parses args, flags before and after positional arguments alike
// (the flag package alone stops at the first positional one, and took
// "revoke ID --org NAME" for three positionals), and finishes the
// configuration. "--" ends the flags.
func (f *commandFlags) parse(args []string) error {
	for {
		if err := f.Parse(args); err != nil {
			// The flag package has printed the usage already.
			return usageError{err}
		}
		rest := f.FlagSet.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			f.pos = append(f.pos, rest...)
			break
		}
		f.pos, args = append(f.pos, rest[0]), rest[1:]
	}
	return f.finish()
}

func (c *Config) validate() error {
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log format %q: must be text or json", c.LogFormat)
	}
	if _, err := c.level(); err != nil {
		return err
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("public URL %q: must be an absolute http(s) URL", c.PublicURL)
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	return c.validateMetrics()
}

// validateMetrics checks the /metrics settings. A short token could be
// guessed, and one with spaces or control characters cannot be sent in a
// header as given.
func (c *Config) validateMetrics() error {
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			return fmt.Errorf("metrics address %q: must be host:port, like 127.0.0.1:9090", c.MetricsAddr)
		}
		if c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
			return fmt.Errorf("metrics address %q: must differ from the listen address", c.MetricsAddr)
		}
	}
	if c.MetricsToken != "" {
		if len(c.MetricsToken) < 16 {
			return errors.New("metrics token: must be at least 16 characters (openssl rand -hex 16)")
		}
		for i := 0; i < len(c.MetricsToken); i++ {
			if b := c.MetricsToken[i]; b <= ' ' || b > '~' {
				return errors.New("metrics token: must be visible ASCII, without spaces")
			}
		}
	}
	return nil
}

func (c *Config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("log level %q: must be debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// logger builds the structured logger that every command writes to stderr.
func (c *Config) logger(stderr io.Writer) *slog.Logger {
	l, _ := c.level()
	opts := &slog.HandlerOptions{Level: l}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, opts))
	}
	return slog.New(slog.NewTextHandler(stderr, opts))
}

// isPostgres tells whether the database setting names a PostgreSQL server.
func (c *Config) isPostgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// sqlitePath is the SQLite database file: the --database value when it is a
// path (or sqlite:PATH), else linkd.db in the data dir.
func (c *Config) sqlitePath() string {
	if c.DatabaseURL != "" && !c.isPostgres() {
		return strings.TrimPrefix(c.DatabaseURL, "sqlite:")
	}
	return filepath.Join(c.DataDir, "linkd.db")
}

// logValue is the configuration as logged: secrets masked, the database
// URL's password redacted.
func (c *Config) logValue() slog.Value {
	db := "sqlite:" + c.sqlitePath()
	if c.isPostgres() {
		if u, err := url.Parse(c.DatabaseURL); err == nil {
			db = u.Redacted()
			if q := u.Query(); q.Has("password") {
				q.Set("password", "xxxxx")
				u.RawQuery = q.Encode()
				db = u.Redacted()
			}
		} else {
			db = "postgres://(unparseable)"
		}
	}
	key := "(generated into data dir)"
	metricsToken := ""
	if c.MetricsToken != "" {
		metricsToken = "(set, masked)"
	}
	if c.EncryptionKey != "" {
		key = "(set, masked)"
	}
	older := ""
	if c.DecryptionKeys != "" {
		older = "(set, masked)"
	}
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("data_dir", c.DataDir),
		slog.String("database", db),
		slog.String("encryption_key", key),
		slog.String("decryption_keys", older),
		slog.String("public_url", c.PublicURL),
		slog.Float64("rate_limit", c.RateLimit),
		slog.String("log_level", c.LogLevel),
		slog.String("log_format", c.LogFormat),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Int64("import_max_bytes", c.ImportMaxBytes),
		slog.Duration("import_lease", c.ImportLease),
		slog.Duration("job_lease", c.JobLease),
		slog.Duration("refresh_lease", c.RefreshLease),
		slog.Duration("schedule_every", c.ScheduleEvery),
		slog.Int("tick_batch", c.TickBatch),
		slog.Duration("session_ttl", c.SessionTTL),
		slog.Duration("refresh_ahead", c.RefreshAhead),
		slog.Any("allow_private_networks", c.AllowPrivate),
		slog.Int64("proxy_max_body", c.ProxyMaxBody),
		slog.Duration("proxy_timeout", c.ProxyTimeout),
		slog.Duration("log_retention", c.LogRetention),
		slog.Any("webhook_retry_schedule", c.WebhookRetrySchedule),
		slog.String("apps", c.AppsFile),
		slog.String("trusted_proxies", c.TrustedProxies.String()),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("metrics_token", metricsToken),
	)
}

// parseRetention reads a duration as time.ParseDuration does, or a whole
// number of days ("30d"), the unit a retention is thought of in.
func parseRetention(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("bad number of days %q", days)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
