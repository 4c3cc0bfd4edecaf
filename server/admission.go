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
	// negative: not cached).
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
		s.admit = &admitter{cfg: c, cache: map[string]cachedVerdict{}, queued: map[string]time.Time{}}
	}
}

// admitter looks verdicts up for admission decisions.
type admitter struct {
	cfg    AdmissionConfig
	mu     sync.Mutex
	cache  map[string]cachedVerdict
	queued map[string]time.Time
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

// verdict is the admission lookup: the verdict of image's latest scan
// (cached for CacheTTL), or found false for an image never scanned, which
// is queued for scanning.
func (s *Server) verdict(ctx context.Context, image string) (*policy.Verdict, bool, error) {
	a := s.admit
	now := time.Now()
	if a.cfg.CacheTTL > 0 {
		a.mu.Lock()
		c, ok := a.cache[image]
		a.mu.Unlock()
		if ok && now.Sub(c.at) < a.cfg.CacheTTL {
			return c.v, true, nil
		}
	}
	rep, err := s.svc.Report(ctx, image, 0)
	if errors.Is(err, service.ErrNotFound) {
		s.queueScan(image, now)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("report of %s: %w", image, err)
	}
	v := policy.Evaluate(a.cfg.Policy, rep, now, a.cfg.VEX)
	if a.cfg.CacheTTL > 0 {
		a.mu.Lock()
		if len(a.cache) >= maxCached {
			for k, c := range a.cache {
				if now.Sub(c.at) >= a.cfg.CacheTTL {
					delete(a.cache, k)
				}
			}
			if len(a.cache) >= maxCached {
				clear(a.cache)
			}
		}
		a.cache[image] = cachedVerdict{v: &v, at: now}
		a.mu.Unlock()
	}
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
	job := s.jobs.startScan(s.ctx, s.svc, service.ScanRequest{Image: image, Platform: a.cfg.Platform})
	s.log.Info("admission: image not scanned yet, scan queued", "image", image, "job", job.ID)
}
