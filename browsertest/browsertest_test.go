package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserRendersPage checks the harness itself: the browser starts,
// loads a loopback page and reads what a script on it wrote.
func TestBrowserRendersPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>t</title><p id=out>static</p><script>document.getElementById("out").textContent = "scripted " + (2+3)</script>`))
	}))
	defer srv.Close()
	ctx := New(t, 800, 600)
	var got string
	Run(t, ctx, "load", chromedp.Navigate(srv.URL), chromedp.Text("#out", &got, chromedp.ByQuery))
	if got != "scripted 5" {
		t.Fatalf("page text = %q, want %q", got, "scripted 5")
	}
}
