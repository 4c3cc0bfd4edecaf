package notifier

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/lapps/lapps/limits"
)

// DefaultMaxBody bounds the body Receiver.Handler reads when MaxBody is
// zero: 16 MiB, far above a page of notifications (about 40 kB) or a
// verdict alert.
const DefaultMaxBody = 16 << 20

// Receiver is the receiving side of signed deliveries, for webhook
// receivers written in Go:
//
//	rv := notifier.Receiver{Secrets: []string{os.Getenv("LAPPS_WEBHOOK_SECRET")}}
//	http.Handle("/lapps", rv.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		// Verified: r.Body is the signed body. De-duplicate on
//		// r.Header.Get(notifier.HeaderID), then handle
//		// r.Header.Get(notifier.HeaderEvent).
//	})))
type Receiver struct {
	// Secrets the deliveries may be signed with: one verifying is
	// enough (several while a secret is being rotated).
	Secrets []string
	// Tolerance is how far a timestamp may lie from now, either way
	// (DefaultTolerance when zero).
	Tolerance time.Duration
	// MaxBody bounds the body read, in bytes (DefaultMaxBody when zero).
	MaxBody int64
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Handler returns next behind Verify: a delivery without the headers or
// with a malformed one is answered 400, one with a timestamp outside the
// tolerance or no valid signature 401, a body over MaxBody 413, and next
// is not called. next gets the request with the verified body.
func (rv Receiver) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		maxBody := rv.MaxBody
		if maxBody <= 0 {
			maxBody = DefaultMaxBody
		}
		tooLarge := limits.New("webhook body", maxBody, "bytes", "")
		if r.ContentLength > maxBody {
			http.Error(w, tooLarge.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		body, err := limits.ReadAll(r.Body, maxBody, tooLarge)
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, limits.ErrExceeded) {
				status = http.StatusRequestEntityTooLarge
			}
			http.Error(w, err.Error(), status)
			return
		}
		now := time.Now
		if rv.Now != nil {
			now = rv.Now
		}
		if err := verify(rv.Secrets, r.Header, body, now(), rv.Tolerance); err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, ErrMissingHeader) || errors.Is(err, ErrMalformedHeader) {
				status = http.StatusBadRequest
			} else if errors.Is(err, ErrSecret) {
				status = http.StatusInternalServerError // the receiver's configuration
			}
			http.Error(w, err.Error(), status)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}
