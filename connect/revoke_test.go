package connect

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/linkd-dev/linkd"
	"github.com/linkd-dev/linkd/catalog"
)

// TestRevocationRequestShapes sends the revocation call of each shipped
// provider shape to a loopback server and checks what arrives: RFC 7009's
// form, Notion's JSON, GitHub's DELETE with the client id in the path.
func TestRevocationRequestShapes(t *testing.T) {
	type seen struct {
		method, path, contentType, user, pass string
		basic                                 bool
		form                                  url.Values
		json                                  map[string]string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{method: r.Method, path: r.URL.EscapedPath(), contentType: r.Header.Get("Content-Type")}
		s.user, s.pass, s.basic = r.BasicAuth()
		body, _ := io.ReadAll(r.Body)
		if s.contentType == "application/json" {
			if err := json.Unmarshal(body, &s.json); err != nil {
				t.Errorf("JSON body %q: %v", body, err)
			}
		} else {
			s.form, _ = url.ParseQuery(string(body))
		}
		got <- s
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	apps, err := catalog.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The shipped specs, pointed at the loopback server.
	spec := func(slug string) *linkd.OAuthSpec {
		a, _ := apps.App(slug)
		s := *a.OAuth
		u, _ := url.Parse(s.RevocationURL)
		s.RevocationURL = srv.URL + u.Path
		if slug == "github" {
			s.RevocationURL = srv.URL + "/applications/{client_id}/grant"
		}
		return &s
	}
	send := func(s *linkd.OAuthSpec) seen {
		t.Helper()
		req, err := revocationRequest(t.Context(), s, "client id/1", "s3cret", "tok-1")
		if err != nil {
			t.Fatal(err)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return <-got
	}

	g := send(spec("google-sheets")) // RFC 7009, client in the body
	if g.method != "POST" || g.contentType != "application/x-www-form-urlencoded" || g.form.Get("token") != "tok-1" ||
		g.form.Get("client_id") != "client id/1" || g.form.Get("client_secret") != "s3cret" || g.basic {
		t.Errorf("google: %+v", g)
	}
	n := send(spec("notion")) // JSON, Basic client authentication
	if n.method != "POST" || n.path != "/v1/oauth/revoke" || n.contentType != "application/json" || n.json["token"] != "tok-1" ||
		!n.basic || n.user != url.QueryEscape("client id/1") || n.pass != "s3cret" || n.json["client_secret"] != "" {
		t.Errorf("notion: %+v", n)
	}
	gh := send(spec("github")) // DELETE on the client's grant, access_token in JSON, Basic
	if gh.method != "DELETE" || gh.path != "/applications/client%20id%2F1/grant" || gh.json["access_token"] != "tok-1" || !gh.basic {
		t.Errorf("github: %+v", gh)
	}
}
