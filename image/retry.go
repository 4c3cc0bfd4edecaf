package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// retryTransport retries registry requests on network errors, 5xx and 429,
// with exponential backoff, honouring Retry-After (seconds or an HTTP
// date). It is ours because go-containerregistry's retry ignores
// Retry-After, which registries (Docker Hub) send with their rate limits.
type retryTransport struct {
	inner http.RoundTripper
	retry Retry
	now   func() time.Time
}

func newRetryTransport(inner http.RoundTripper, r Retry) *retryTransport {
	return &retryTransport{inner: inner, retry: r, now: time.Now}
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		if attempt > 1 && req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, errors.New("cannot retry a request whose body cannot be replayed")
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = body
		}
		resp, err := t.inner.RoundTrip(req)
		last := attempt >= t.retry.Attempts
		wait := t.backoff(attempt)
		switch {
		case err != nil:
			if last || ctx.Err() != nil || !retryableError(err) {
				return nil, err
			}
			slog.Debug("registry request failed, retrying", "url", req.URL.Redacted(), "attempt", attempt, "wait", wait, "err", err)
		case resp.StatusCode == http.StatusTooManyRequests || retryableStatus(resp.StatusCode):
			if last {
				return resp, nil
			}
			if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
				if ra > t.retry.MaxWait {
					// Waiting that long would look like a hang: fail and
					// let the error say why.
					return resp, nil
				}
				wait = ra
			}
			slog.Debug("registry busy, retrying", "url", req.URL.Redacted(), "status", resp.StatusCode, "attempt", attempt, "wait", wait)
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		default:
			return resp, nil
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// backoff is the wait after the given failed attempt: Backoff doubled per
// attempt, ±10 % jitter, capped at MaxWait.
func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.retry.Backoff << (attempt - 1)
	if d <= 0 || (t.retry.MaxWait > 0 && d > t.retry.MaxWait) {
		d = t.retry.MaxWait
	}
	if d > 0 {
		d += time.Duration((rand.Float64() - 0.5) * 0.2 * float64(d))
	}
	return d
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return true
	}
	return false
}

// retryableError: network trouble may pass; certificate problems, a plain
// HTTP server answering TLS, unknown hosts and cancellation do not.
func retryableError(err error) bool {
	var (
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		recErr   tls.RecordHeaderError
		dnsErr   *net.DNSError
		addrErr  *net.AddrError
		parseErr *net.ParseError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr),
		errors.As(err, &recErr), errors.As(err, &addrErr), errors.As(err, &parseErr):
		return false
	case errors.As(err, &dnsErr):
		return dnsErr.IsTemporary || dnsErr.IsTimeout
	}
	return true
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		d := at.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
