package updater

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults of the fetcher and runner.
const (
	// DefaultMaxBytes caps one download.
	DefaultMaxBytes int64 = 1 << 30
	// DefaultAttempts is how many times a download is tried.
	DefaultAttempts = 4
	// DefaultKeep is how many update operations of a source are kept.
	DefaultKeep = 3
	// DefaultConcurrency is how many sources RunAll runs at once.
	DefaultConcurrency = 4
)

// Option configures Fetch, Run, Import and RunAll.
type Option func(*options)

type options struct {
	client       *http.Client
	maxBytes     int64
	attempts     int
	backoff      time.Duration
	maxBackoff   time.Duration
	maxRetryWait time.Duration
	timeout      time.Duration
	tempDir      string
	userAgent    string
	keep         int
	concurrency  int
	force        bool
	logger       *slog.Logger
	limits       Limits
}

func newOptions(opts []Option) *options {
	o := &options{
		maxBytes:     DefaultMaxBytes,
		attempts:     DefaultAttempts,
		backoff:      time.Second,
		maxBackoff:   30 * time.Second,
		maxRetryWait: 5 * time.Minute,
		timeout:      30 * time.Minute,
		userAgent:    "lapps-updater/1",
		keep:         DefaultKeep,
		concurrency:  DefaultConcurrency,
	}
	for _, f := range opts {
		f(o)
	}
	if o.client == nil {
		o.client = &http.Client{Transport: defaultTransport}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}

// defaultTransport bounds the phases of a request that must be quick; the
// body transfer of a large feed is bounded by WithTimeout instead.
var defaultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	t.TLSHandshakeTimeout = 30 * time.Second
	return t
}()

// WithHTTPClient sets the HTTP client downloads use.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithMaxBytes caps each download (default DefaultMaxBytes); a larger
// download is an error. A source's MaxBytes overrides it.
func WithMaxBytes(n int64) Option { return func(o *options) { o.maxBytes = n } }

// WithAttempts sets how many times a download is tried on network errors,
// 5xx and 429 answers (default DefaultAttempts; 1 disables retries).
func WithAttempts(n int) Option {
	return func(o *options) {
		if n < 1 {
			n = 1
		}
		o.attempts = n
	}
}

// WithBackoff sets the first delay between attempts (doubled after each,
// up to max); a Retry-After header overrides it, up to WithMaxRetryWait.
func WithBackoff(first, max time.Duration) Option {
	return func(o *options) { o.backoff, o.maxBackoff = first, max }
}

// WithMaxRetryWait caps how long a Retry-After header makes a retry wait
// (default 5 minutes).
func WithMaxRetryWait(d time.Duration) Option { return func(o *options) { o.maxRetryWait = d } }

// WithTimeout bounds one download attempt, body included (default 30
// minutes).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithTempDir sets where downloads are spooled (default os.TempDir()).
func WithTempDir(dir string) Option { return func(o *options) { o.tempDir = dir } }

// WithUserAgent sets the User-Agent of requests.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// WithKeep sets how many update operations per source Run keeps (default
// DefaultKeep; at least 1).
func WithKeep(n int) Option {
	return func(o *options) {
		if n < 1 {
			n = 1
		}
		o.keep = n
	}
}

// WithConcurrency sets how many sources RunAll runs at once.
func WithConcurrency(n int) Option {
	return func(o *options) {
		if n < 1 {
			n = 1
		}
		o.concurrency = n
	}
}

// WithForce makes Run ignore validators and fingerprints: the feed is
// downloaded, parsed and stored even when unchanged (after an upgrade
// whose parsers read more of the same data, say).
func WithForce(force bool) Option { return func(o *options) { o.force = force } }

// WithLimits sets the bounds of every source's feed (see Limits); a
// source's own max_* fields win over them, and zero fields are the
// defaults.
func WithLimits(l Limits) Option { return func(o *options) { o.limits = l } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }
