package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestProxyPhase runs the proxy phase on SQLite for a moment: the proxy is
// wired as linkd serve wires it, calls get through with the key injected,
// and a stream comes back whole. Its figures mean nothing. The measured
// window is 2 s, not less: under -race on a loaded 2-core machine 300 ms
// once saw no call complete at all.
func TestProxyPhase(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and streams 8 MiB each way")
	}
	out := t.TempDir()
	args := []string{"-phases", "proxy", "-engines", "sqlite", "-dir", t.TempDir(), "-out", out,
		"-proxy-clients", "4", "-proxy-warmup", "200ms", "-proxy-duration", "2s", "-proxy-stream-bytes", "8388608",
		"-quiet-wait", "0", "-attempts", "1"}
	if err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Proxies) != 1 {
		t.Fatalf("got %d proxy results, want 1", len(rep.Proxies))
	}
	x := rep.Proxies[0]
	for name, s := range map[string]stats{"direct": x.Direct, "proxy": x.Proxy} {
		if s.Requests == 0 || s.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors (%s); want some and none", name, s.Requests, s.Errors, s.FirstError)
		}
	}
	if len(x.Streams) != 2 {
		t.Fatalf("got %d streams, want a download and an upload", len(x.Streams))
	}
	for _, s := range x.Streams {
		if s.Bytes != 8<<20 || s.ProxyMBps <= 0 || s.DirectMBps <= 0 {
			t.Errorf("%s: %+v", s.Direction, s)
		}
	}
}
