package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestWebhookCompatSignatureEndToEnd: through the real server, a webhook
// saved with an x-api-key has its deliveries signed with that key the
// reference's way (x-cobalt-signature, checked here as a receiver written
// for the reference checks it); revoking the key (the CLI) drops the
// header and the endpoint says why; a save with another live key binds it.
func TestWebhookCompatSignatureEndToEnd(t *testing.T) {
	for name, env := range engines(t) {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			type hit struct {
				sig  string
				body []byte
			}
			var hits []hit
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				hits = append(hits, hit{r.Header.Get("X-Cobalt-Signature"), b})
				mu.Unlock()
			}))
			defer recv.Close()
			env["LINKD_ALLOW_PRIVATE_NETWORKS"] = "127.0.0.0/8"
			newKey := func(name string) (secret, id string) {
				out, _, err := cli(t, env, "apikey", "create", "--env", "test", "--name", name)
				if err != nil {
					t.Fatal(err)
				}
				secret = strings.TrimSpace(out)
				list, _, err := cli(t, env, "apikey", "list")
				if err != nil {
					t.Fatal(err)
				}
				for _, line := range strings.Split(list, "\n") {
					if strings.Contains(line, secret[:10]) {
						id = strings.Fields(line)[0]
					}
				}
				return secret, id
			}
			key1, id1 := newKey("one")
			key2, _ := newKey("two")
			base, _ := serve(t, env)
			call := func(key, method, path, body string) map[string]any {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
				req.Header.Set("x-api-key", key)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				raw, _ := io.ReadAll(res.Body)
				if res.StatusCode != 200 {
					t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
				}
				if strings.Contains(string(raw), key) {
					t.Fatalf("%s %s answered the API key: %s", method, path, raw)
				}
				var out map[string]any
				json.Unmarshal(raw, &out)
				return out
			}
			// deliver makes one event and returns its delivery.
			deliver := func(key, account string) hit {
				t.Helper()
				mu.Lock()
				n := len(hits)
				mu.Unlock()
				call(key, "POST", "/api/v2/public/linked-account", `{"linked_account_id":"`+account+`","name":"x"}`)
				var h hit
				waitFor(t, "the delivery of "+account, func() bool {
					mu.Lock()
					defer mu.Unlock()
					if len(hits) > n {
						h = hits[n]
						return true
					}
					return false
				})
				return h
			}
			// The reference's receiver: hex HMAC-SHA256 of the raw body
			// under the API key.
			verify := func(key string, h hit) bool {
				mac := hmac.New(sha256.New, []byte(key))
				mac.Write(h.body)
				return h.sig != "" && hmac.Equal([]byte(h.sig), []byte(hex.EncodeToString(mac.Sum(nil))))
			}

			made := call(key1, "POST", "/api/v2/public/webhook", `{"webhook_url":"`+recv.URL+`/hook","webhook_events":["Linked Account Created"]}`)
			id, _ := made["_id"].(string)
			if _, ok := made["signing_key_revoked"]; ok {
				t.Fatalf("a new webhook says its key was revoked: %v", made)
			}
			if h := deliver(key1, "c1"); !verify(key1, h) {
				t.Fatalf("x-cobalt-signature %q does not verify with the key that saved the webhook", h.sig)
			}

			if _, _, err := cli(t, env, "apikey", "revoke", id1); err != nil {
				t.Fatal(err)
			}
			if got := call(key2, "GET", "/api/v2/public/webhook/"+id, ""); got["signing_key_revoked"] != true {
				t.Fatalf("after revoking its key the webhook = %v", got)
			}
			if h := deliver(key2, "c2"); h.sig != "" {
				t.Fatalf("a delivery after the revocation carries x-cobalt-signature %q", h.sig)
			}

			got := call(key2, "PUT", "/api/v2/public/webhook/"+id, `{"description":"signed by key two"}`)
			if _, ok := got["signing_key_revoked"]; ok {
				t.Fatalf("after a save with a live key the webhook = %v", got)
			}
			if h := deliver(key2, "c3"); !verify(key2, h) || verify(key1, h) {
				t.Fatalf("after the save with key two, x-cobalt-signature %q", h.sig)
			}
		})
	}
}
