package notifier

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout is how long a delivery may take when a webhook sets no
// Timeout.
const DefaultTimeout = 10 * time.Second

// Webhook is a configured receiver of notifications.
type Webhook struct {
	// Name identifies the webhook; outbox entries are stored under it, so
	// renaming a webhook strands its undelivered entries.
	Name string `yaml:"name" json:"name"`
	// URL receives the POSTs (http or https).
	URL string `yaml:"url" json:"url"`
	// Secret is the HMAC-SHA256 key the payloads are signed with
	// (X-Lapps-Signature); required.
	Secret string `yaml:"secret" json:"-"`
	// Timeout bounds one delivery, as a Go duration ("10s"); zero means
	// DefaultTimeout.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Validate checks a webhook's configuration.
func (w Webhook) Validate() error {
	if w.Name == "" {
		return errors.New("webhook: name is required")
	}
	u, err := url.Parse(w.URL)
	if err != nil {
		return fmt.Errorf("webhook %s: url: %w", w.Name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook %s: url %q: want http:// or https:// and a host", w.Name, w.URL)
	}
	if w.Secret == "" {
		return fmt.Errorf("webhook %s: secret is required (payloads are signed with it)", w.Name)
	}
	if w.Timeout < 0 {
		return fmt.Errorf("webhook %s: negative timeout %s", w.Name, w.Timeout)
	}
	return nil
}

func (w Webhook) timeout() time.Duration {
	if w.Timeout <= 0 {
		return DefaultTimeout
	}
	return w.Timeout
}

// Headers of a delivery.
const (
	HeaderDelivery  = "X-Lapps-Delivery"
	HeaderSignature = "X-Lapps-Signature"
	HeaderEvent     = "X-Lapps-Event"
	HeaderAttempt   = "X-Lapps-Attempt"
)

const signaturePrefix = "sha256="

// Sign returns the X-Lapps-Signature value of body: "sha256=" and the hex
// HMAC-SHA256 of body keyed with secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is a valid X-Lapps-Signature of body for
// secret, comparing in constant time.
func Verify(secret, body []byte, header string) bool {
	sig, ok := strings.CutPrefix(strings.TrimSpace(header), signaturePrefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
