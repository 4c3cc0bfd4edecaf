package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lapps/lapps/admission"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/service"
)

// AdmissionConfig configures POST /v1/admission, the Kubernetes validating
// admission webhook.
//
// The route is public: the API server calls webhooks over TLS and
// usually without a bearer token. Serve it over TLS (server.tls_cert and
// server.tls_key) and restrict who can reach it with a network policy; set
// Token to also require "Authorization: Bearer <Token>" (a kubeconfig
// given to the API server with --admission-control-config-file can send
// one).
type AdmissionConfig struct {
	// Policy decides each image's latest scan (nil: every scanned image
	// passes).
	Policy *policy.Policy
	// VEX are the OpenVEX documents applied with Policy (nil: none).
	VEX *policy.VEX
	// FailOpen allows an object with an image not scanned yet (or whose
	// lookup failed); otherwise it is denied. Either way the image is
	// queued for scanning.
	FailOpen bool
	// Token, when set, is the bearer token the caller must send.
	Token string
	// CacheTTL is how long an image's verdict is reused (default 5s;
	// negative: not cached). After it, the verdict is still answered, for
	// at most 12 times as long (at least a minute), while one lookup
	// refreshes it.
	CacheTTL time.Duration
	// Platform is the platform unscanned images are scanned for (default:
	// the service's default).
	Platform string
}

// WithAdmission enables POST /v1/admission with c; without it the route
// answers 404.
func WithAdmission(c AdmissionConfig) Option {
	return func(s *Server) {
		if c.CacheTTL == 0 {
			c.CacheTTL = 5 * time.Second
		}
		s.admit = &admitter{cfg: c, cache: map[string]cachedVerdict{}, inflight: map[string]*lookupCall{}, queued: map[string]time.Time{}}
	}
}

// admitter looks verdicts up for admission decisions.
type admitter struct {
	cfg      AdmissionConfig
	mu       sync.Mutex
	cache    map[string]cachedVerdict
	inflight map[string]*lookupCall
	queued   map[string]time.Time
	wg       sync.WaitGroup // refreshes
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
	// maxQueued bounds the unscanned images remembered as queued, hence
	// the scans admission requests can queue at once.
	maxQueued = 1024
)

// admission answers an AdmissionReview. It decides from stored scans only:
// an image is looked up by its latest scan, matched against the current
// data without reading the image (service.Report with index 0); an image
// never scanned is queued for scanning and allowed or denied by FailOpen.
func (s *Server) admission(w http.ResponseWriter, r *http.Request) {
	a := s.admit
	if a == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "admission is not enabled (server.admission in the configuration)")
		return
	}
	if a.cfg.Token != "" {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lapps admission"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "the admission token (server.admission.token) is required")
			return
		}
	}
	// Objects are at most a few MiB (etcd's limit is 1.5 MiB); a review
	// carries the object and the old object.
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "read AdmissionReview: "+err.Error())
		return
	}
	if len(body) > 16<<20 {
		writeError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, "AdmissionReview larger than 16 MiB")
		return
	}
	out, err := admission.Decide(r.Context(), body, func(ctx context.Context, image string) (*policy.Verdict, bool, error) {
		return s.verdict(ctx, image)
	}, admission.Options{FailOpen: a.cfg.FailOpen})
	if err != nil {
		if r.Context().Err() != nil {
			writeError(w, http.StatusServiceUnavailable, CodeInternal, "admission: "+err.Error())
			return
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
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
		s.queueScan(image, now)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("report of %s: %w", image, err)
	}
	v := policy.Evaluate(a.cfg.Policy, rep, now, a.cfg.VEX)
	return &v, true, nil
}

// queueScan starts a scan job of image unless one was queued lately.
func (s *Server) queueScan(image string, now time.Time) {
	a := s.admit
	a.mu.Lock()
	if at, ok := a.queued[image]; ok && now.Sub(at) < requeueAfter {
		a.mu.Unlock()
		return
	}
	if len(a.queued) >= maxQueued {
		for k, at := range a.queued {
			if now.Sub(at) >= requeueAfter {
				delete(a.queued, k)
			}
		}
		if len(a.queued) >= maxQueued {
			a.mu.Unlock()
			s.log.Warn("admission: too many images queued for scanning; not queuing", "image", image)
			return
		}
	}
	a.queued[image] = now
	a.mu.Unlock()
	job, err := s.jobs.enqueue(s.ctx, "", scanJob{Image: image, Platform: a.cfg.Platform})
	if err != nil {
		s.log.Error("admission: queue a scan", "image", image, "err", err)
		return
	}
	s.log.Info("admission: image not scanned yet, scan queued", "image", image, "job", job.ID)
}
