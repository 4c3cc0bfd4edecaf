package notifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lapps/lapps/redact"
	"github.com/lapps/lapps/store"
)

// Backoff is the retry schedule of failed deliveries: attempt n (1, 2, …)
// is retried after Base·2^(n-1), at most Max, spread by ±Jitter (a
// fraction) so that many failed deliveries do not all come back at once.
type Backoff struct {
	Base   time.Duration `yaml:"base,omitempty"`
	Max    time.Duration `yaml:"max,omitempty"`
	Jitter float64       `yaml:"jitter,omitempty"`
}

// DefaultBackoff: 10 s, 20 s, 40 s, … up to an hour, ±20 %.
var DefaultBackoff = Backoff{Base: 10 * time.Second, Max: time.Hour, Jitter: 0.2}

// Delay returns the wait after the attempt-th failure (from 1), r being
// a random number in [0, 1).
func (b Backoff) Delay(attempt int, r float64) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := float64(b.Base) * math.Pow(2, float64(attempt-1))
	if d > float64(b.Max) {
		d = float64(b.Max)
	}
	d *= 1 + b.Jitter*(2*r-1)
	return time.Duration(min(d, float64(b.Max)*(1+b.Jitter)))
}

// Metrics is told about every attempt; the server implements it with
// Prometheus counters.
type Metrics interface {
	// Delivered: a delivery to webhook succeeded after took.
	Delivered(webhook string, took time.Duration)
	// Failed: a delivery to webhook failed with err.
	Failed(webhook string, err error)
}

// Deliverer delivers the outbox to the configured webhooks. Set its fields
// before the first call; it is safe for concurrent use afterwards, and
// several deliverers (one per replica) share one outbox safely.
type Deliverer struct {
	store    DeliveryStore
	webhooks map[string]Webhook

	// Client sends the requests; it must not follow redirects (a POST
	// redirected becomes a GET). NewDeliverer's refuses them.
	Client *http.Client
	// Backoff is the retry schedule (DefaultBackoff).
	Backoff Backoff
	// Batch is how many notifications one DeliverOnce claims and sends
	// concurrently (16).
	Batch int
	// Lease is how long a claim keeps other deliverers away: it must
	// exceed the longest webhook timeout (NewDeliverer sets that plus a
	// minute). A deliverer that dies leaves its claims to the others
	// after the lease: at least once, never lost.
	Lease time.Duration
	// Now is the clock (time.Now); tests set their own.
	Now func() time.Time
	// Rand returns random numbers in [0, 1) for the jitter.
	Rand func() float64
	// Metrics, if set, counts deliveries and failures.
	Metrics Metrics
	// Logger logs failures (slog.Default()).
	Logger *slog.Logger
}

// NewDeliverer returns a deliverer of st's outbox to webhooks, with the
// defaults; it fails on an invalid or duplicate webhook.
func NewDeliverer(st DeliveryStore, webhooks []Webhook) (*Deliverer, error) {
	d := &Deliverer{
		store:    st,
		webhooks: map[string]Webhook{},
		Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		Backoff: DefaultBackoff,
		Batch:   16,
		Now:     time.Now,
		Rand:    rand.Float64,
		Logger:  slog.Default(),
	}
	longest := DefaultTimeout
	for _, w := range webhooks {
		if err := w.Validate(); err != nil {
			return nil, err
		}
		if _, dup := d.webhooks[w.Name]; dup {
			return nil, fmt.Errorf("webhook %s: configured twice", w.Name)
		}
		d.webhooks[w.Name] = w
		longest = max(longest, w.timeout())
	}
	d.Lease = longest + time.Minute
	return d, nil
}

// DeliverOnce claims the notifications due now (at most Batch) and POSTs
// each to its webhook: a 2xx answer marks it delivered, anything else
// (another status, a network error, a timeout, a webhook no longer
// configured) marks it failed, to be retried after the backoff. It
// returns how many were delivered and how many failed; err only when the
// store fails.
func (d *Deliverer) DeliverOnce(ctx context.Context) (delivered, failed int, err error) {
	now := d.Now()
	ns, err := d.store.ClaimNotifications(ctx, now, d.Lease, max(1, d.Batch))
	if err != nil {
		return 0, 0, fmt.Errorf("deliver: %w", err)
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, n := range ns {
		wg.Go(func() {
			ok, serr := d.deliver(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			if serr != nil {
				errs = append(errs, serr)
			}
			if ok {
				delivered++
			} else {
				failed++
			}
		})
	}
	wg.Wait()
	return delivered, failed, errors.Join(errs...)
}

// deliver sends one notification and records the outcome; the error is
// the store's.
func (d *Deliverer) deliver(ctx context.Context, n store.Notification) (bool, error) {
	w, ok := d.webhooks[n.Webhook]
	var err error
	started := time.Now()
	if !ok {
		err = fmt.Errorf("webhook %q is not configured", n.Webhook)
	} else {
		// net/http's errors hold the URL (user name, ?token=…), and the
		// receiver's answer may echo it: redacted before it is counted,
		// logged or stored.
		err = redactURL(d.post(ctx, w, n), w.URL)
	}
	if err == nil {
		if d.Metrics != nil {
			d.Metrics.Delivered(n.Webhook, time.Since(started))
		}
		if serr := d.store.MarkDelivered(ctx, n.ID, d.Now()); serr != nil {
			// Delivered but not recorded: it will be delivered again after
			// the lease (at least once); the receiver de-duplicates by id.
			return true, fmt.Errorf("deliver %s: %w", n.ID, serr)
		}
		return true, nil
	}
	if d.Metrics != nil {
		d.Metrics.Failed(n.Webhook, err)
	}
	attempt := n.Attempts + 1
	next := d.Now().Add(d.Backoff.Delay(attempt, d.Rand()))
	d.Logger.Warn("notification delivery failed", "delivery", n.ID, "webhook", n.Webhook,
		"attempt", attempt, "retry_at", next.UTC().Format(time.RFC3339), "err", err)
	// A cancelled ctx must not keep the failure from being recorded.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if serr := d.store.MarkFailed(sctx, n.ID, next, err.Error()); serr != nil {
		return false, fmt.Errorf("deliver %s: %w", n.ID, serr)
	}
	return false, nil
}

// post sends the notification's payload to the webhook, signed now. Its
// error may hold the URL's credentials: deliver redacts it.
func (d *Deliverer) post(ctx context.Context, w Webhook, n store.Notification) error {
	// Signed at each attempt: a retry has the same id and body, a new
	// timestamp and so new signatures.
	ts := d.Now()
	sigs := make([]string, 0, 1+len(w.PreviousSecrets))
	for _, secret := range w.secrets() {
		sig, err := Sign(secret, n.ID, ts, n.Payload)
		if err != nil {
			return fmt.Errorf("sign delivery: %w", err)
		}
		sigs = append(sigs, sig)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(n.Payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lapps-notifier")
	req.Header.Set(HeaderID, n.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, strings.Join(sigs, " "))
	req.Header.Set(HeaderEvent, n.Kind)
	req.Header.Set(HeaderAttempt, strconv.Itoa(n.Attempts+1))
	resp, err := d.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: HTTP %d %s", redact.URL(w.URL), resp.StatusCode, bytes.TrimSpace(snippet))
	}
	return nil
}

// redactURL returns err with the credentials of the webhook URL raw
// redacted: every URL in its message as package redact does, and also the
// bare values of the URL's user name, password and secret query
// parameters wherever they appear, because a receiver's answer may echo
// them without a scheme ("bad api_key=…", "/hook?token=…"), where
// redact.Text sees no URL. Values shorter than 4 bytes are left: masking
// them would garble the message more than it protects.
func redactURL(err error, raw string) error {
	err = redact.Error(err)
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := msg
	for _, v := range urlSecrets(raw) {
		if len(v) >= 4 {
			red = strings.ReplaceAll(red, v, redact.Mask)
		}
	}
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// urlSecrets returns the user name, password and secret query parameter
// values of a URL, raw and unescaped.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if u.User != nil {
		out = append(out, u.User.Username())
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if !redact.SensitiveParam(k) || v == "" {
			continue
		}
		out = append(out, v)
		if uv, err := url.QueryUnescape(v); err == nil && uv != v {
			out = append(out, uv)
		}
	}
	// Longest first, so that a value containing another is masked whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// redactedError is an error whose message was redacted; errors.Is and
// errors.As still see the error it wraps.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Run delivers until ctx is done: DeliverOnce, again at once while full
// batches come back, otherwise after interval. Store errors are logged,
// not fatal.
func (d *Deliverer) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		delivered, failed, err := d.DeliverOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.Logger.Error("notification delivery", "err", err)
		}
		if err == nil && delivered+failed >= max(1, d.Batch) {
			t.Reset(0)
		} else {
			t.Reset(interval)
		}
	}
}
