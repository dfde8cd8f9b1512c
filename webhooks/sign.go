// Package webhooks sends linkd's webhook deliveries: it signs each one the
// Standard Webhooks way, renders its body, posts it through the outbound
// client and records the outcome, retrying on a schedule. The deliveries
// themselves are made by the stores, in the transaction of the change they
// announce (linkd.AuditEntry.Events); this package only moves them on.
package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers every delivery carries.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	// HeaderCompatSignature is the reference's signature: hex
	// HMAC-SHA256 of the raw body under the environment's API key.
	HeaderCompatSignature = "x-cobalt-signature"
)

// CompatSign returns the x-cobalt-signature of body under the raw API key,
// as the reference computes it, so that its receivers verify unchanged.
func CompatSign(apiKey string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(apiKey))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// secretPrefix starts every signing secret linkd makes (linkd.NewWebhookSecret).
const secretPrefix = "whsec_"

// Sign returns the webhook-signature value for a delivery: "v1," and the
// base64 HMAC-SHA256, under the secret's key bytes (the base64 after
// "whsec_"), of "id.timestamp.body", as the Standard Webhooks
// specification has it, so that its reference libraries verify it.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(key) == 0 {
		return "", fmt.Errorf("webhook secret is not whsec_ and base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}
