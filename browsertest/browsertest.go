// Package browsertest starts a real headless Chromium (Debian's
// /usr/bin/chromium, or LINKD_TEST_CHROMIUM) for end-to-end tests driven with
// chromedp. Browsers cannot be downloaded here, so a machine without one
// skips these tests, except in CI (CI=true), where a missing browser fails
// them instead of quietly testing less.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium binary to use, or "" when there is none.
func Path() string {
	if p := os.Getenv("LINKD_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// New starts a headless browser for t and returns a chromedp context for
// one tab in it, cancelled (and the browser stopped) when t ends. The
// viewport is w×h CSS pixels. Every action should be run under a timeout
// derived from this context: a page that never shows an element fails the
// test instead of hanging it.
func New(t testing.TB, w, h int) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("a browser test: skipped with -short")
	}
	bin := Path()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no Chromium found (apt-get install -y chromium): the browser tests would be skipped")
		}
		t.Skip("no Chromium on this machine (apt-get install -y chromium, or set LINKD_TEST_CHROMIUM)")
	}
	// Not t.TempDir: Chromium's helper processes may still write to the
	// profile for a moment after the browser is stopped, and t.TempDir's
	// cleanup fails the test when it cannot remove a directory at once.
	profile, err := os.MkdirTemp("", "linkd-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	removeProfile := func() {
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove the browser profile %s", profile)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(w, h),
		// The machine's network is closed: without these, Chromium keeps
		// dialling Google's hosts in the background.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// The browser SDK opens OAuth consent with window.open after an
		// await, outside a click: a real user's browser allows it from
		// the click that started it.
		chromedp.Flag("disable-popup-blocking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	// Start the browser now, so a broken install fails here, clearly. (The
	// first Run's context owns the browser: it must be ctx itself, not a
	// shorter-lived child.)
	if err := chromedp.Run(ctx); err != nil {
		cancel()
		cancelAlloc()
		removeProfile()
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		removeProfile()
	})
	return ctx
}

// Run runs actions in the browser with a timeout, failing t with step's name
// when they fail.
func Run(t testing.TB, ctx context.Context, step string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// Screenshot saves a full-page PNG of the current page to path, when the
// LINKD_SCREENSHOTS environment variable is set (the README's screenshots
// are refreshed with LINKD_SCREENSHOTS=1 go test ./...).
func Screenshot(t testing.TB, ctx context.Context, path string) {
	t.Helper()
	if os.Getenv("LINKD_SCREENSHOTS") == "" {
		return
	}
	var buf []byte
	Run(t, ctx, "screenshot "+path, chromedp.FullScreenshot(&buf, 100)) // 100 is PNG; below it chromedp encodes JPEG
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}
