package notifier

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Deliveries are signed as Standard Webhooks (https://www.standardwebhooks.com)
// specifies, over the delivery id, the time of sending and the body, so
// that a captured delivery cannot be replayed later nor its body or id
// changed. A delivery of the body
//
//	{"delivery_id":"A2EQK4WBSF2PYYRJSR76LCFOZU","notifications":[]}
//
// to a webhook whose secret is "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
// sent at 2026-01-01T00:00:00Z, carries
//
//	webhook-id: A2EQK4WBSF2PYYRJSR76LCFOZU
//	webhook-timestamp: 1767225600
//	webhook-signature: v1,POrxWYzuex5NJn4/x2NYgjNeirMT9wOJmoFjRrtO8vc=
//	X-Lapps-Event: vulnerability
//	X-Lapps-Attempt: 1
//
// webhook-signature is "v1," and the standard base64 (padded) of the
// HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>"; a webhook with
// previous secrets sends one such signature per secret, separated by
// spaces. A retry sends the same webhook-id and body with a new timestamp
// and so a new signature. Receivers check it with Verify or
// Receiver.Handler, or with any Standard Webhooks library; with a shell:
//
//	printf '%s.%s.%s' "$id" "$timestamp" "$body" |
//	  openssl dgst -sha256 -mac HMAC -macopt hexkey:"$(printf %s "${secret#whsec_}" | base64 -d | xxd -p -c 256)" -binary |
//	  base64
//
// (for a secret without the "whsec_" prefix: openssl dgst -sha256 -hmac
// "$secret" -binary).
//
// The signing and the comparison of signatures are those of the Standard
// Webhooks Go library; the header checks around them are lapps' own,
// because the library's Verify reads the wall clock with a fixed
// tolerance and accepts non-canonical timestamps ("+1767225600",
// "01767225600" verify as "1767225600").
const (
	// HeaderID is the delivery id: the same on every retry of a delivery,
	// for receivers to de-duplicate on (delivery is at least once). It is
	// also the payload's delivery_id.
	HeaderID = standardwebhooks.HeaderWebhookID
	// HeaderTimestamp is when the attempt was signed, in Unix seconds.
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	// HeaderSignature holds the signatures, "v1,<base64>" each.
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
	// HeaderEvent is "vulnerability" or "verdict" (the store's kinds).
	HeaderEvent = "X-Lapps-Event"
	// HeaderAttempt counts the attempts of this delivery: 1, 2, …
	HeaderAttempt = "X-Lapps-Attempt"
)

// DefaultTolerance is how far a delivery's timestamp may lie from the
// receiver's clock, either way, when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// MaxIDLength bounds a webhook-id (the store's bound on delivery ids).
const MaxIDLength = 200

// secretPrefix marks a Standard Webhooks secret, whose base64 rest is the
// key.
const secretPrefix = "whsec_"

// Errors of Verify; each error Verify returns matches one with errors.Is.
var (
	// ErrMissingHeader: webhook-id, webhook-timestamp or webhook-signature
	// is absent or empty.
	ErrMissingHeader = errors.New("webhook: missing signature header")
	// ErrMalformedHeader: a webhook-id that is too long or holds other
	// characters than ASCII letters, digits, '-' and '_', or a
	// webhook-timestamp that is not Unix seconds in canonical decimal.
	ErrMalformedHeader = errors.New("webhook: malformed signature header")
	// ErrTimestamp: the timestamp lies further than the tolerance from
	// now (a replay, or a clock far off).
	ErrTimestamp = errors.New("webhook: timestamp outside the tolerance")
	// ErrSignature: no signature of webhook-signature is the one the
	// secret gives.
	ErrSignature = errors.New("webhook: no valid signature")
	// ErrSecret: the secret is empty, or starts with "whsec_" and the
	// rest is not standard base64 of a key.
	ErrSecret = errors.New("webhook: invalid secret")
)

// signer returns the Standard Webhooks signer of a secret: "whsec_" and
// base64 decodes to the key, any other secret is the key as raw bytes.
// Its errors never hold the secret.
func signer(secret string) (*standardwebhooks.Webhook, error) {
	if secret == "" {
		return nil, fmt.Errorf("%w: empty", ErrSecret)
	}
	if strings.HasPrefix(secret, secretPrefix) {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return nil, fmt.Errorf("%w: %q followed by something that is not standard base64 of a key", ErrSecret, secretPrefix)
		}
		return wh, nil
	}
	return standardwebhooks.NewWebhookRaw([]byte(secret))
}

// validID reports whether id may be a webhook-id: 1 to MaxIDLength ASCII
// letters, digits, '-' or '_'. Without '.', "id.timestamp.body" has one
// reading, so no other (id, timestamp, body) signs the same content.
func validID(id string) bool {
	if id == "" || len(id) > MaxIDLength {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Sign returns the webhook-signature of a delivery signed at ts with
// secret: "v1," and the standard base64 of the HMAC-SHA256 of
// "id.<ts in Unix seconds>.body". It fails on an invalid secret or an id
// Verify would refuse.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("%w: webhook-id %q", ErrMalformedHeader, id)
	}
	wh, err := signer(secret)
	if err != nil {
		return "", err
	}
	return wh.Sign(id, ts, body)
}

// Verify checks a delivery received at now: that h has webhook-id,
// webhook-timestamp and webhook-signature; that the timestamp is canonical
// Unix seconds within tolerance of now, either way (tolerance <= 0 means
// DefaultTolerance); and that one of the space-separated signatures is
// exactly the one Sign gives for secret, id, timestamp and body (no other
// encoding of it verifies). The error matches ErrMissingHeader,
// ErrMalformedHeader, ErrTimestamp, ErrSignature or ErrSecret.
//
// Within the tolerance a captured delivery can be sent again as it is:
// de-duplicate on webhook-id, as delivery being at least once requires
// anyway.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	return verify([]string{secret}, h, body, now, tolerance)
}

// verify is Verify with any of secrets (key rotation on the receiving
// side).
func verify(secrets []string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, rawTS, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	for _, hv := range [...][2]string{{HeaderID, id}, {HeaderTimestamp, rawTS}, {HeaderSignature, sigs}} {
		if hv[1] == "" {
			return fmt.Errorf("%w: %s", ErrMissingHeader, hv[0])
		}
	}
	if !validID(id) {
		return fmt.Errorf("%w: %s", ErrMalformedHeader, HeaderID)
	}
	sec, err := strconv.ParseInt(rawTS, 10, 64)
	if err != nil || sec < 0 || strconv.FormatInt(sec, 10) != rawTS {
		return fmt.Errorf("%w: %s is not Unix seconds", ErrMalformedHeader, HeaderTimestamp)
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %s from now, more than %s", ErrTimestamp, HeaderTimestamp, d.Round(time.Second), tolerance)
	}
	if len(secrets) == 0 {
		return fmt.Errorf("%w: none", ErrSecret)
	}
	for _, s := range secrets {
		wh, err := signer(s)
		if err != nil {
			return err
		}
		// The library compares each space-separated signature with
		// "v1,<base64>" as a whole string, in constant time.
		err = wh.VerifyIgnoringTimestamp(body, h)
		if err == nil {
			return nil
		}
		if !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			return fmt.Errorf("%w: %v", ErrMalformedHeader, err)
		}
	}
	return ErrSignature
}
