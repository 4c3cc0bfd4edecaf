package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lapps/lapps/admission"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/internal/memo"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// AdmissionConfig configures POST /v1/admission, the Kubernetes validating
// admission webhook.
//
// A caller must authenticate, unless AllowAnonymous: with a lapps token
// that has the scan scope, with Token, or with a TLS client certificate
// signed by ClientCAs (the API server sends the one its
// --admission-control-config-file kubeconfig names). Reviews are answered
// over TLS only, unless AllowPlainHTTP. Only registry references are ever
// queued for scanning: an object naming a local transport (dir:,
// docker-archive:, oci:, oci-archive:) is denied and nothing is opened.
type AdmissionConfig struct {
	// Policy decides each image's latest scan (nil: every scanned image
	// passes).
	Policy *policy.Policy
	// VEX are the OpenVEX documents applied with Policy (nil: none).
	VEX *policy.VEX
	// FailOpen allows an object with an image not scanned yet (or whose
	// lookup failed); otherwise it is denied. Either way the image is
	// queued for scanning, within the scan budgets.
	FailOpen bool
	// Token, when set, is a static bearer token that authenticates a
	// caller.
	Token string
	// Tokens checks lapps tokens sent as bearer tokens (they need the
	// scan scope); nil: the server's (WithTokens), if any.
	Tokens TokenChecker
	// ClientCAs, when set, authenticate a caller whose TLS client
	// certificate they verify (for client authentication). The HTTP
	// server must ask for client certificates (tls.Config ClientCAs and
	// ClientAuth tls.VerifyClientCertIfGiven; see ClientTLS): the
	// handler verifies the chain again itself.
	ClientCAs *x509.CertPool
	// AllowAnonymous answers callers that send no credentials.
	AllowAnonymous bool
	// AllowPlainHTTP answers reviews that came over plain HTTP
	// (otherwise 403 forbidden).
	AllowPlainHTTP bool
	// MaxImages is the most distinct images one object may name
	// (default 256, server.admission.max_images); more is denied.
	MaxImages int
	// ScansPerReview is the most scans one review queues (default 8,
	// server.admission.scans_per_review).
	ScansPerReview int
	// MaxScans is the most scans queued by admission in this replica
	// that may be queued or running at once (default 64,
	// server.admission.max_scans).
	MaxScans int
	// CacheTTL is how long an image's verdict is reused (default 5s;
	// negative: not cached). After it, the verdict is still answered, for
	// at most 12 times as long (at least a minute), while one lookup
	// refreshes it.
	CacheTTL time.Duration
	// Platform is the platform unscanned images are scanned for (default:
	// the service's default).
	Platform string
}

// Defaults of AdmissionConfig's budgets.
const (
	DefaultAdmissionScansPerReview = 8
	DefaultAdmissionMaxScans       = 64
)

// WithAdmission enables POST /v1/admission with c; without it the route
// answers 404.
func WithAdmission(c AdmissionConfig) Option {
	return func(s *Server) {
		if c.CacheTTL == 0 {
			c.CacheTTL = 5 * time.Second
		}
		if c.MaxImages <= 0 {
			c.MaxImages = admission.DefaultMaxImages
		}
		if c.ScansPerReview <= 0 {
			c.ScansPerReview = DefaultAdmissionScansPerReview
		}
		if c.MaxScans <= 0 {
			c.MaxScans = DefaultAdmissionMaxScans
		}
		s.admit = &admitter{cfg: c, cache: map[string]cachedVerdict{}, inflight: map[string]*lookupCall{},
			queued: map[string]time.Time{}, jobs: map[string]bool{}}
		s.admit.checked.Max = maxCached
	}
}

// ClientTLS returns the TLS settings of an HTTP server that serves
// admission with client certificates: base (or a new config) asking
// every client for a certificate, verified against cas when given.
func ClientTLS(base *tls.Config, cas *x509.CertPool) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		c = base.Clone()
	}
	if cas != nil {
		c.ClientCAs = cas
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c
}

// LoadClientCAs reads a PEM file of certificate authorities
// (server.admission.client_ca).
func LoadClientCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

// admitter looks verdicts up for admission decisions.
type admitter struct {
	cfg      AdmissionConfig
	mu       sync.Mutex
	cache    map[string]cachedVerdict
	inflight map[string]*lookupCall
	// queued holds when each unscanned image was last queued (or found
	// queued).
	queued map[string]time.Time
	// jobs are the scan jobs admission queued that may still be queued
	// or running.
	jobs map[string]bool
	wg   sync.WaitGroup // refreshes
	// checked holds the references admissionImage accepted (check).
	checked memo.Map[string, struct{}]
}

type cachedVerdict struct {
	v  *policy.Verdict
	at time.Time
}

const (
	// maxCached bounds the verdict cache; beyond it expired entries are
	// dropped, and if that is not enough the cache is emptied.
	maxCached = 4096
	// requeueAfter is how long an unscanned image is not queued again,
	// so that the API server's retries and a rollout's many pods queue
	// one scan.
	requeueAfter = 10 * time.Minute
	// maxQueued bounds the unscanned images remembered as queued.
	maxQueued = 1024
)

// reviewScans is the scan budget of one review and what became of it.
type reviewScans struct {
	left                      int
	queued, deferred, already int
	err                       error
}

// admission answers an AdmissionReview. It decides from stored scans only:
// an image is looked up by its latest scan, matched against the current
// data without reading the image (service.Report with index 0); an image
// never scanned is queued for scanning, within the budgets, and allowed
// or denied by FailOpen. It logs one line per review.
func (s *Server) admission(w http.ResponseWriter, r *http.Request) {
	a := s.admit
	if a == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "admission is not enabled (server.admission in the configuration)")
		return
	}
	if r.TLS == nil && !a.cfg.AllowPlainHTTP {
		writeError(w, http.StatusForbidden, CodeForbidden, "admission reviews are answered over TLS only (server.tls_cert and server.tls_key); server.admission.allow_plain_http allows plain HTTP")
		return
	}
	if !s.admissionAuth(w, r) {
		return
	}
	// Objects are at most a few MiB (etcd's limit is 1.5 MiB); a review
	// carries the object and the old object. The buffer is reused by
	// later reviews: nothing decided keeps a reference to it.
	buf := reviewBuffers.Get().(*bytes.Buffer)
	defer putReviewBuffer(buf)
	_, err := buf.ReadFrom(io.LimitReader(r.Body, 16<<20+1))
	body := buf.Bytes()
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "read AdmissionReview: "+err.Error())
		return
	}
	if len(body) > 16<<20 {
		writeError(w, http.StatusRequestEntityTooLarge, CodeLimitExceeded, "AdmissionReview larger than 16 MiB")
		return
	}
	budget := &reviewScans{left: a.cfg.ScansPerReview}
	out, sum, err := admission.DecideSummary(r.Context(), body, func(ctx context.Context, image string) (*policy.Verdict, bool, error) {
		v, found, err := s.verdict(ctx, image)
		if err == nil && !found {
			s.queueScan(image, time.Now(), budget)
		}
		return v, found, err
	}, admission.Options{FailOpen: a.cfg.FailOpen, MaxImages: a.cfg.MaxImages, Check: a.check})
	if err != nil {
		s.log.Warn("admission review not answered", "err", err)
		if r.Context().Err() != nil {
			writeError(w, http.StatusServiceUnavailable, CodeInternal, "admission: "+err.Error())
			return
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	// The review's strings are the caller's: clipped, so that a line
	// stays a line.
	// Attributes, not key-value pairs: nothing is boxed on a path taken
	// for every pod the cluster creates.
	attrs := []slog.Attr{slog.String("uid", clip(sum.UID)), slog.String("kind", clip(sum.Kind)), slog.String("object", clip(sum.Object)),
		slog.String("operation", clip(sum.Operation)), slog.Int("images", sum.Images), slog.Bool("allowed", sum.Allowed),
		slog.Int("denied_images", sum.Denied), slog.Int("refused_images", sum.Refused), slog.Int("scans_queued", budget.queued),
		slog.Int("scans_already_queued", budget.already), slog.Int("scans_deferred", budget.deferred)}
	if budget.err != nil {
		attrs = append(attrs, slog.Any("queue_err", budget.err))
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "admission review", attrs...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// clip cuts a caller's string for a log line at 128 bytes.
func clip(s string) string {
	if len(s) <= 128 {
		return s
	}
	return strings.ToValidUTF8(s[:128], "") + "…"
}

// reviewBuffers are the buffers reviews are read into.
var reviewBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putReviewBuffer returns buf to reviewBuffers, unless a large review
// grew it (beyond 1 MiB it is left to the collector).
func putReviewBuffer(buf *bytes.Buffer) {
	if buf.Cap() > 1<<20 {
		return
	}
	buf.Reset()
	reviewBuffers.Put(buf)
}

// check is admissionImage, remembering the references it accepted (at
// most maxCached, then forgotten at once): the check is a function of the
// reference alone, and parsing it again costs a tenth of a review.
func (a *admitter) check(ref string) error {
	if _, ok := a.checked.Load(ref); ok {
		return nil
	}
	if err := admissionImage(ref); err != nil {
		return err
	}
	a.checked.Store(ref, struct{}{})
	return nil
}

// admissionImage refuses what admission never looks up nor queues:
// anything but a registry reference.
func admissionImage(ref string) error {
	if err := image.CheckLocal(ref, []string{}); err != nil {
		return errors.New("admission only admits registry images; local transports (dir:, docker-archive:, oci:, oci-archive:) are never opened")
	}
	// No local roots: a reference is never looked up in the server's
	// working directory as a file.
	if _, err := image.NormalizeName(ref, image.WithLocalRoots(nil)); err != nil {
		return err
	}
	return nil
}

// admissionAuth authenticates an admission caller, or answers 401 (403
// for a lapps token without the scan scope) and returns false.
func (s *Server) admissionAuth(w http.ResponseWriter, r *http.Request) bool {
	a := s.admit
	if a.cfg.ClientCAs != nil && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		certs := r.TLS.PeerCertificates
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: a.cfg.ClientCAs, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
			return true
		}
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "the client certificate is not signed by server.admission.client_ca")
		return false
	}
	tok, hasTok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	hasTok = hasTok && tok != ""
	if hasTok {
		if a.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.Token)) == 1 {
			return true
		}
		checker := a.cfg.Tokens
		if checker == nil {
			checker = s.tokens
		}
		if checker != nil {
			scopes, ok, err := checker.CheckToken(r.Context(), tok)
			if err != nil {
				writeErr(w, err)
				return false
			}
			if ok && allows(scopes, ScopeScan) {
				return true
			}
			if ok {
				writeError(w, http.StatusForbidden, CodeForbidden, "this token lacks the scan scope that admission reviews need")
				return false
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="lapps admission"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "invalid admission token (server.admission.token, or a lapps token with the scan scope)")
		return false
	}
	if a.cfg.AllowAnonymous {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="lapps admission"`)
	writeError(w, http.StatusUnauthorized, CodeUnauthorized, "admission reviews need a bearer token (server.admission.token, or a lapps token with the scan scope) or a client certificate signed by server.admission.client_ca; server.admission.allow_anonymous lets anonymous callers in")
	return false
}

// verdict is the admission lookup: the verdict of image's latest scan, or
// found false for an image never scanned, which is queued for scanning.
//
// Verdicts are cached: a fresh one (younger than CacheTTL) is answered at
// once; a stale one (younger than staleFor) too, while one background
// lookup refreshes it, so that the expiry of a busy image does not stall
// every caller at once; a missing or older one is looked up, once per
// image however many callers wait for it.
func (s *Server) verdict(ctx context.Context, image string) (*policy.Verdict, bool, error) {
	a := s.admit
	ttl := a.cfg.CacheTTL
	if ttl <= 0 {
		return s.lookupVerdict(ctx, image)
	}
	now := time.Now()
	a.mu.Lock()
	c, ok := a.cache[image]
	if ok && now.Sub(c.at) < ttl {
		a.mu.Unlock()
		return c.v, true, nil
	}
	cl := a.inflight[image]
	if cl == nil {
		cl = &lookupCall{done: make(chan struct{})}
		a.inflight[image] = cl
		a.wg.Add(1)
		go s.refresh(image, cl)
	}
	a.mu.Unlock()
	if ok && now.Sub(c.at) < staleFor(ttl) {
		return c.v, true, nil
	}
	select {
	case <-cl.done:
		return cl.v, cl.found, cl.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// staleFor is how long after its lookup a cached verdict is still answered
// while it is refreshed.
func staleFor(ttl time.Duration) time.Duration { return max(12*ttl, time.Minute) }

// lookupCall is one lookup that callers of the same image wait for.
type lookupCall struct {
	done  chan struct{}
	v     *policy.Verdict
	found bool
	err   error
}

// refresh looks image up for cl, under the server's context (not a
// caller's, which may end first), and caches the verdict.
func (s *Server) refresh(image string, cl *lookupCall) {
	a := s.admit
	defer a.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	cl.v, cl.found, cl.err = s.lookupVerdict(ctx, image)
	a.mu.Lock()
	switch {
	case cl.err == nil && cl.found:
		if len(a.cache) >= maxCached {
			for k, c := range a.cache {
				if start.Sub(c.at) >= staleFor(a.cfg.CacheTTL) {
					delete(a.cache, k)
				}
			}
			if len(a.cache) >= maxCached {
				clear(a.cache)
			}
		}
		a.cache[image] = cachedVerdict{v: cl.v, at: start}
	case cl.err == nil:
		delete(a.cache, image) // its scans are gone
	}
	delete(a.inflight, image)
	a.mu.Unlock()
	close(cl.done)
}

// lookupVerdict evaluates the policy on image's latest scan matched
// against the current data (service.Report with index 0 reads the stored
// index, never the image); a reference pinned to a digest never scanned
// under its name is looked up by its manifest (service.ManifestReport).
func (s *Server) lookupVerdict(ctx context.Context, image string) (*policy.Verdict, bool, error) {
	a := s.admit
	now := time.Now()
	rep, err := s.svc.Report(ctx, image, 0)
	if _, digest, ok := strings.Cut(image, "@"); ok && errors.Is(err, service.ErrNotFound) && strings.HasPrefix(digest, "sha256:") {
		// A reference pinned to a digest never scanned under this name:
		// the manifest may have been scanned under another (its tag, a
		// mirror).
		rep, err = s.svc.ManifestReport(ctx, digest)
	}
	if errors.Is(err, service.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("report of %s: %w", image, err)
	}
	v := policy.Evaluate(a.cfg.Policy, rep, now, a.cfg.VEX)
	return &v, true, nil
}

// queueScan queues a scan job of image for a review, unless one was
// queued lately (by this replica, or by another within the same window:
// the job id is derived from the image, the platform and the window), or
// a budget is spent: the review's (ScansPerReview) or admission's in
// total (MaxScans queued or running). What became of it is counted in b.
func (s *Server) queueScan(image string, now time.Time, b *reviewScans) {
	a := s.admit
	a.mu.Lock()
	if at, ok := a.queued[image]; ok && now.Sub(at) < requeueAfter {
		a.mu.Unlock()
		b.already++
		return
	}
	if b.left <= 0 {
		a.mu.Unlock()
		b.deferred++
		return
	}
	full := len(a.jobs) >= a.cfg.MaxScans
	a.mu.Unlock()
	if full && s.pruneAdmissionJobs() >= a.cfg.MaxScans {
		b.deferred++
		return
	}
	a.mu.Lock()
	if len(a.queued) >= maxQueued {
		for k, at := range a.queued {
			if now.Sub(at) >= requeueAfter {
				delete(a.queued, k)
			}
		}
		if len(a.queued) >= maxQueued {
			a.mu.Unlock()
			b.deferred++
			return
		}
	}
	a.queued[image] = now
	b.left--
	a.mu.Unlock()
	id := admissionJobID(image, a.cfg.Platform, now)
	job, created, err := s.jobs.Enqueue(s.ctx, id, scanJob{Image: image, Platform: a.cfg.Platform})
	if err != nil {
		a.mu.Lock()
		delete(a.queued, image)
		a.mu.Unlock()
		if b.err == nil {
			b.err = err
		}
		return
	}
	if created {
		b.queued++
	} else {
		b.already++ // queued by another replica in this window
		b.left++
	}
	if job.State == JobQueued || job.State == JobRunning {
		a.mu.Lock()
		a.jobs[job.ID] = true
		a.mu.Unlock()
	}
}

// pruneAdmissionJobs forgets the admission jobs that have finished (or
// are gone) and returns how many remain; it looks at each at most once
// (MaxScans lookups).
func (s *Server) pruneAdmissionJobs() int {
	a := s.admit
	a.mu.Lock()
	ids := make([]string, 0, len(a.jobs))
	for id := range a.jobs {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	for _, id := range ids {
		sj, err := s.jobs.Stored(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && sj.State != JobQueued && sj.State != JobRunning) {
			a.mu.Lock()
			delete(a.jobs, id)
			a.mu.Unlock()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.jobs)
}

// admissionJobID is the id of the admission scan of image for platform
// in the requeueAfter window of now: the replicas that see the same
// unscanned image in one window queue one job.
func admissionJobID(image, platform string, now time.Time) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", image, platform, now.Unix()/int64(requeueAfter/time.Second))))
	return "admission-" + hex.EncodeToString(h[:16])
}
