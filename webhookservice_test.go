package linkd_test

import (
	"strings"
	"testing"

	"github.com/linkd-dev/linkd"
)

func TestValidateWebhookURL(t *testing.T) {
	for _, ok := range []string{
		"https://example.com/hooks", "https://example.com:8443/h?x=1", "http://127.0.0.1:9000/h", "http://localhost/h", "http://[::1]:80/",
	} {
		if _, err := linkd.ValidateWebhookURL(ok); err != nil {
			t.Errorf("ValidateWebhookURL(%q) = %v, want ok", ok, err)
		}
	}
	for _, bad := range []string{
		"", "example.com/h", "/relative", "ftp://example.com/", "http://example.com/h", "https://user:pw@example.com/",
		"https://", "https://example.com:0/", "https://example.com:99999/", "https://example.com/#frag", "https://exa mple.com/",
		"javascript:alert(1)", "https://example.com/\n", "https://" + strings.Repeat("a", 2100) + ".com/",
	} {
		_, err := linkd.ValidateWebhookURL(bad)
		if e, ok := err.(*linkd.Error); !ok || e.Field != "webhook_url" {
			t.Errorf("ValidateWebhookURL(%q) = %v, want an error naming webhook_url", bad, err)
		}
	}
}

func TestValidateWebhookBody(t *testing.T) {
	for _, ok := range []string{
		"{{event}}", `{"type":"{{event.type}}","who":"{{linked_account_name}}","r":"{{workflow_response}}","n":["{{workflow_response.a.b}}",1,true]}`,
		"plain text {{ event.linked_account_id }}", `{"literal":"no placeholders"}`,
	} {
		if err := linkd.ValidateWebhookBody(ok); err != nil {
			t.Errorf("ValidateWebhookBody(%q) = %v, want ok", ok, err)
		}
	}
	for bad, want := range map[string]string{
		`{"a":"{{secrets.key}}"}`:       "secrets.key",
		"{{linked_account_name.x}}":     "linked_account_name.x",
		"{{event":                       "unclosed",
		`{"a":["{{ event | upper }}"]}`: "a[0]",
		"{{env.HOME}}":                  "env.HOME",
		strings.Repeat("x", 5000):       "bytes",
		`{"a":{"b":"{{workflow.id}}"}}`: "a.b",
		"{{ }}":                         "empty placeholder",
	} {
		err := linkd.ValidateWebhookBody(bad)
		e, ok := err.(*linkd.Error)
		if !ok || e.Field != "webhook_body" || !strings.Contains(e.Message, want) {
			t.Errorf("ValidateWebhookBody(%q) = %v, want an error on webhook_body mentioning %q", bad, err, want)
		}
	}
}
