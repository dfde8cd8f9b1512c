package http_test

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
	"github.com/linkd-dev/linkd/connect"
	"github.com/linkd-dev/linkd/csvio"
	"github.com/linkd-dev/linkd/dbtest"
	"github.com/linkd-dev/linkd/hosted"
	linkdhttp "github.com/linkd-dev/linkd/http"
	"github.com/linkd-dev/linkd/proxy"
	"github.com/linkd-dev/linkd/vault"
)

// openAPIMethods are the operation keys of an OpenAPI path item; the item's
// other keys (parameters, summary, …) are not operations.
var openAPIMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

// serveOpenAPI starts a server on a real SQLite store and returns it with the
// OpenAPI document it serves, decoded.
func serveOpenAPI(t *testing.T) (*linkdhttp.Server, map[string]any) {
	t.Helper()
	store := dbtest.SQLite(t)
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := vault.New(master)
	if err != nil {
		t.Fatal(err)
	}
	// Every optional part is configured, so that every route is registered.
	svcs := linkd.NewServices(store, keys, "")
	accounts := svcs.Accounts
	apps, err := catalog.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	conns := connect.NewService(store, accounts, apps, "")
	srv := linkdhttp.NewServer(linkdhttp.Config{Store: store, Services: svcs,
		Imports:     csvio.NewImporter(store, accounts, 0),
		Connections: conns, Apps: &proxy.Caller{Connections: conns, Catalog: apps, Client: http.DefaultClient},
		Pages: hosted.New(hosted.Config{Store: store, Connections: conns})})
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	resp, err := ts.Client().Get(ts.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: status %d, want 200; body: %s", resp.StatusCode, body)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("GET /openapi.json: Content-Type %q, want application/json", resp.Header.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET /openapi.json: not a JSON object: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi.json: openapi is %q, want 3.1.x", doc["openapi"])
	}
	return srv, doc
}

// openAPIRoute is one operation: an upper-case method and a path template.
type openAPIRoute struct{ method, path string }

func (r openAPIRoute) String() string { return r.method + " " + r.path }

// openAPIRouteOf turns a ServeMux pattern ("GET /a/{id}") into a method and
// an OpenAPI path template ("{id...}" becomes "{id}"; "{$}" has no spelling).
func openAPIRouteOf(t *testing.T, pattern string) openAPIRoute {
	t.Helper()
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || !strings.HasPrefix(path, "/") {
		t.Fatalf("route %q has no method or a host: the OpenAPI test cannot map it to an operation", pattern)
	}
	path = strings.ReplaceAll(path, "...}", "}")
	path = strings.TrimSuffix(path, "{$}")
	return openAPIRoute{method, path}
}

// openAPIOperations lists the operations of the document's paths.
func openAPIOperations(t *testing.T, doc map[string]any) map[openAPIRoute]bool {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.json: paths is missing or not an object")
	}
	out := map[openAPIRoute]bool{}
	for path, item := range paths {
		ops, ok := item.(map[string]any)
		if !ok {
			t.Errorf("openapi.json: paths[%q] is not an object", path)
			continue
		}
		for key := range ops {
			if openAPIMethods[key] {
				out[openAPIRoute{strings.ToUpper(key), path}] = true
			}
		}
	}
	return out
}

// TestOpenAPIDocumentsEveryRoute checks that the served document and the
// registered routes agree both ways: every route is documented, and the
// document promises no route that the server does not answer.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	srv, doc := serveOpenAPI(t)
	documented := openAPIOperations(t, doc)
	patterns := srv.Patterns()
	if len(patterns) == 0 {
		t.Fatal("the server registers no routes")
	}

	registered := map[openAPIRoute]bool{}
	for _, p := range patterns {
		r := openAPIRouteOf(t, p)
		registered[r] = true
		if !documented[r] {
			t.Errorf("route %q is registered but not in openapi.json (want paths[%q].%s)", p, r.path, strings.ToLower(r.method))
		}
	}

	var extra []string
	for r := range documented {
		if !registered[r] {
			extra = append(extra, r.String())
		}
	}
	sort.Strings(extra)
	for _, r := range extra {
		t.Errorf("openapi.json documents %q, which no route in routes.go serves", r)
	}
}

// TestOpenAPIRefsResolve checks that every $ref points into the document at
// something that exists, so that tools reading it do not fail half-way.
func TestOpenAPIRefsResolve(t *testing.T) {
	_, doc := serveOpenAPI(t)
	n := 0
	openAPIWalkRefs(doc, "#", func(at, ref string) {
		n++
		if !strings.HasPrefix(ref, "#/components/") {
			t.Errorf("%s: $ref %q does not point into #/components/", at, ref)
			return
		}
		if _, ok := openAPIResolve(doc, strings.TrimPrefix(ref, "#")); !ok {
			t.Errorf("%s: $ref %q resolves to nothing", at, ref)
		}
	})
	if n == 0 {
		t.Error("openapi.json has no $ref at all; the components are not used")
	}
}

// TestOpenAPISecurity checks that the API routes ask for the x-api-key scheme
// or a session token, and that the schemes are defined as the server reads
// them.
func TestOpenAPISecurity(t *testing.T) {
	_, doc := serveOpenAPI(t)
	components, _ := doc["components"].(map[string]any)
	schemes, _ := components["securitySchemes"].(map[string]any)
	var apiKey string
	for name, s := range schemes {
		s, _ := s.(map[string]any)
		if s["type"] == "apiKey" && s["in"] == "header" && s["name"] == "x-api-key" {
			apiKey = name
		}
	}
	if apiKey == "" {
		t.Fatal("openapi.json: no securityScheme of type apiKey in header x-api-key")
	}
	var bearer string
	for name, s := range schemes {
		s, _ := s.(map[string]any)
		if s["type"] == "http" && s["scheme"] == "bearer" {
			bearer = name
		}
	}
	if bearer == "" {
		t.Fatal("openapi.json: no http bearer securityScheme for session tokens")
	}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for method, op := range ops {
			if !openAPIMethods[method] {
				continue
			}
			op, _ := op.(map[string]any)
			reqs, _ := op["security"].([]any)
			secured := false
			for _, r := range reqs {
				if r, _ := r.(map[string]any); r != nil {
					_, key := r[apiKey]
					_, session := r[bearer]
					secured = secured || key || session
				}
			}
			if api := strings.HasPrefix(path, "/api/"); api != secured {
				t.Errorf("%s %s: requires %s = %v, want %v (a credential guards exactly the /api routes)", strings.ToUpper(method), path, apiKey, secured, api)
			}
		}
	}
}

// openAPIWalkRefs calls fn for every "$ref" string in v, with a JSON pointer to
// where it was found.
func openAPIWalkRefs(v any, at string, fn func(at, ref string)) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			fn(at, ref)
		}
		for k, e := range v {
			openAPIWalkRefs(e, at+"/"+openAPIEscape(k), fn)
		}
	case []any:
		for i, e := range v {
			openAPIWalkRefs(e, at+"/"+strconv.Itoa(i), fn)
		}
	}
}

// openAPIResolve follows a JSON pointer (RFC 6901) through doc.
func openAPIResolve(doc any, pointer string) (any, bool) {
	if pointer == "" {
		return doc, true
	}
	if !strings.HasPrefix(pointer, "/") {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(pointer[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func openAPIEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
