package notifier

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/lapps/lapps/redact"
)

// DefaultTimeout is how long a delivery may take when a webhook sets no
// Timeout.
const DefaultTimeout = 10 * time.Second

// Webhook is a configured receiver of notifications.
type Webhook struct {
	// Name identifies the webhook; outbox entries are stored under it, so
	// renaming a webhook strands its undelivered entries.
	Name string `yaml:"name" json:"name"`
	// URL receives the POSTs (http or https). Credentials in it (user
	// information, ?token=…) are redacted from logs and stored errors.
	URL string `yaml:"url" json:"url"`
	// Secret is the key deliveries are signed with (webhook-signature,
	// see Sign): "whsec_" followed by base64 is the Standard Webhooks form
	// and decodes to the key; any other value is the key as it is.
	// Required.
	Secret string `yaml:"secret" json:"-"`
	// PreviousSecrets are secrets being retired: every delivery also
	// carries a signature with each of them, so that receivers still
	// verifying with an old secret keep working while they move to Secret.
	PreviousSecrets []string `yaml:"previous_secrets,omitempty" json:"-"`
	// Timeout bounds one delivery, as a Go duration ("10s"); zero means
	// DefaultTimeout.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Validate checks a webhook's configuration. Its errors never hold the
// URL's credentials or a secret.
func (w Webhook) Validate() error {
	if w.Name == "" {
		return errors.New("webhook: name is required")
	}
	u, err := url.Parse(w.URL)
	if err != nil {
		// Not the URL itself: redact cannot tell the secrets of one that
		// does not parse.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("webhook %s: url does not parse: %w", w.Name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook %s: url %q: want http:// or https:// and a host", w.Name, redact.URL(w.URL))
	}
	if w.Secret == "" {
		return fmt.Errorf("webhook %s: secret is required (payloads are signed with it)", w.Name)
	}
	if _, err := signer(w.Secret); err != nil {
		return fmt.Errorf("webhook %s: secret: %w", w.Name, err)
	}
	for i, s := range w.PreviousSecrets {
		if _, err := signer(s); err != nil {
			return fmt.Errorf("webhook %s: previous_secrets[%d]: %w", w.Name, i, err)
		}
	}
	if w.Timeout < 0 {
		return fmt.Errorf("webhook %s: negative timeout %s", w.Name, w.Timeout)
	}
	return nil
}

// secrets returns the secrets a delivery is signed with, current first.
func (w Webhook) secrets() []string {
	return append([]string{w.Secret}, w.PreviousSecrets...)
}

func (w Webhook) timeout() time.Duration {
	if w.Timeout <= 0 {
		return DefaultTimeout
	}
	return w.Timeout
}
