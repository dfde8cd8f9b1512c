package catalog_test

import (
	"strings"
	"testing"

	"github.com/linkd-dev/linkd/catalog"
)

// TestShippedProxyBlocks: every shipped app says how to call its API.
func TestShippedProxyBlocks(t *testing.T) {
	c, err := catalog.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.Apps() {
		if a.Proxy == nil || a.Proxy.Base == nil || len(a.Proxy.AllowedHosts) == 0 {
			t.Errorf("%s: no usable proxy block", a.Slug)
		}
		if a.AuthType == "keybased" && a.Proxy.AuthWith == nil {
			t.Errorf("%s: a key-based app without proxy.auth", a.Slug)
		}
	}
	sg, _ := c.App("sendgrid")
	if sg.Proxy.BaseBy["eu"] == nil {
		t.Error("sendgrid: no EU base URL")
	}
}

// TestProxyBlockErrors: an incomplete or unsafe block stops the load,
// naming the field; an operator's app may have none.
func TestProxyBlockErrors(t *testing.T) {
	const head = `apps:
  - slug: mine
    name: Mine
    auth_type: keybased
    auth_inputs:
      - {name: key, label: Key, type: password, required: true}
      - {name: region, label: Region, type: select, required: true, options: [{name: US, value: us}, {name: EU, value: eu}]}
`
	if _, err := catalog.Load(strings.NewReader(head)); err != nil {
		t.Fatalf("an operator's app without a proxy block: %v", err)
	}
	ok := "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: Authorization, value: \"Bearer {{fields.key}}\"}\n"
	if _, err := catalog.Load(strings.NewReader(head + ok)); err != nil {
		t.Fatalf("a complete block: %v", err)
	}
	local := "    proxy:\n      base_url: http://127.0.0.1:8181/v1\n      allowed_hosts: [127.0.0.1]\n      auth: {query: api_key, value: \"{{fields.key}}\"}\n"
	if _, err := catalog.Load(strings.NewReader(head + local)); err != nil {
		t.Fatalf("a loopback test app: %v", err)
	}
	for _, c := range []struct{ name, block, field string }{
		{"no hosts", "    proxy:\n      base_url: https://api.mine.example\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.allowed_hosts"},
		{"no base", "    proxy:\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.base_url"},
		{"base off the hosts", "    proxy:\n      base_url: https://evil.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.base_url"},
		{"plain http", "    proxy:\n      base_url: http://api.mine.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.base_url"},
		{"query in base", "    proxy:\n      base_url: https://api.mine.example/?k=1\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.base_url"},
		{"credentials in base", "    proxy:\n      base_url: https://u:p@api.mine.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.base_url"},
		{"bare wildcard", "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [\"*.example\"]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.allowed_hosts[0]"},
		{"upper-case host", "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [API.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.allowed_hosts[0]"},
		{"no auth", "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [api.mine.example]\n", "proxy.auth"},
		{"header and query", "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, query: k, value: \"{{fields.key}}\"}\n", "proxy.auth"},
		{"auth of no field", "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.nope}}\"}\n", "proxy.auth.value"},
		{"auth of another namespace", "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{connection.metadata.x}}\"}\n", "proxy.auth.value"},
		{"constant auth", "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"letmein\"}\n", "proxy.auth.value"},
		{"bad template", "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key\"}\n", "proxy.auth.value"},
		{"base template of no metadata", "    proxy:\n      base_url: \"{{connection.metadata.host}}\"\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.base_url"},
		{"base of a secret", "    proxy:\n      base_url: \"https://{{fields.key}}.mine.example\"\n      allowed_hosts: [\"*.mine.example\"]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.base_url"},
		{"choice of a password input", "    proxy:\n      base_url: https://api.mine.example\n      base_url_by: {input: key, urls: {x: https://api.mine.example}}\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.base_url_by.input"},
		{"choice of no option", "    proxy:\n      base_url: https://api.mine.example\n      base_url_by: {input: region, urls: {mars: https://api.mine.example}}\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.base_url_by.urls.mars"},
		{"choice off the hosts", "    proxy:\n      base_url: https://api.mine.example\n      base_url_by: {input: region, urls: {eu: https://eu.evil.example}}\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n", "proxy.base_url_by.urls.eu"},
		{"default Authorization header", "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n      headers: {Authorization: x}\n", "proxy.headers.Authorization"},
		{"default Host header", "    proxy:\n      base_url: https://api.mine.example\n      allowed_hosts: [api.mine.example]\n      auth: {header: X-Key, value: \"{{fields.key}}\"}\n      headers: {host: x}\n", "proxy.headers.host"},
	} {
		_, err := catalog.Load(strings.NewReader(head + c.block))
		var ce *catalog.Error
		if err == nil || !asCatalogError(err, &ce) || ce.Field != c.field {
			t.Errorf("%s: %v, want an error about %s", c.name, err, c.field)
		}
	}
}

func asCatalogError(err error, target **catalog.Error) bool {
	e, ok := err.(*catalog.Error)
	if ok {
		*target = e
	}
	return ok
}
