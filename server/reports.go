package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/server/reportcache"
	"github.com/lapps/lapps/service"
)

// ReportCacheConfig configures the cache of encoded reports
// (server.report_cache).
type ReportCacheConfig struct {
	// MaxBytes bounds the memory of the reports kept, encoded, plain and
	// gzip (default reportcache.DefaultMaxBytes, 64 MiB); negative turns
	// the cache off.
	MaxBytes int64
	// MaxAge bounds how long the report of the latest scan (matched
	// against the current data) is answered from the cache (default
	// reportcache.DefaultMaxAge); recorded scans are kept until evicted.
	// Whatever it says, a report is made again as soon as the data, the
	// image's latest scan or the age of a data source it shows changes.
	MaxAge time.Duration
	// Versions reads what a report is made of (default: the server's
	// service, when it implements service.ReportVersions; without
	// versions nothing is cached).
	Versions service.ReportVersions
}

// WithReportCache sizes the report cache, or turns it off (MaxBytes < 0).
// Without this option a server whose service implements
// service.ReportVersions caches with the defaults.
func WithReportCache(c ReportCacheConfig) Option {
	return func(s *Server) { s.reportCfg = c }
}

// AppReportVersions is implemented by an apps service (apps.Local) whose
// app reports a server may cache: the version of app scan index of app
// name (0: the latest) changes whenever its report would.
type AppReportVersions interface {
	AppReportVersion(ctx context.Context, name string, index int) (string, error)
}

// reports answers reports from the cache.
type reports struct {
	cache  *reportcache.Cache
	v      service.ReportVersions
	maxAge time.Duration
	group  singleflight.Group
	// fresh shares version reads among concurrent requests, each reading
	// after the request came.
	fresh reportcache.Fresh
	now   func() time.Time
}

// dataVersion is the current data version (service.ReportVersions),
// read after the call.
func (rs *reports) dataVersion(ctx context.Context) (string, error) {
	return rs.fresh.Do(ctx, "\x00data", rs.v.DataVersion)
}

// newReports returns the report cache c configures over svc, nil when it
// is off.
func newReports(c ReportCacheConfig, svc service.Service) *reports {
	if c.MaxBytes < 0 {
		return nil
	}
	v := c.Versions
	if v == nil {
		v, _ = svc.(service.ReportVersions)
	}
	if v == nil {
		return nil
	}
	if c.MaxAge <= 0 {
		c.MaxAge = reportcache.DefaultMaxAge
	}
	return &reports{cache: reportcache.New(c.MaxBytes), v: v, maxAge: c.MaxAge, now: time.Now}
}

// encoded is a report made and encoded for the cache.
type encoded struct {
	body        []byte
	contentType string
	// live: matched against the current data, expires at expires (its
	// data sources' ages change then); tag is what, besides the key and
	// the version, the body depends on (those ages).
	live    bool
	expires time.Time
	tag     string
	// immutable: a recorded scan's report, which never changes.
	immutable bool
}

// cacheable is one report request the cache may answer.
type cacheable struct {
	// key is what was asked (route, names, format).
	key string
	// version reads what the answer is made of besides the data; "" is
	// not cached.
	version func(ctx context.Context) (string, error)
	// data: the answer is also made of the current data (its version is
	// read after version, in a shared read of its own: nested in the
	// key's read, every caller of a key would wait for both reads of
	// the key's read and of the data's one after the other).
	data bool
	// build makes the report and encodes it; it writes nothing.
	build func(ctx context.Context) (*encoded, error)
}

// answerUncached builds the report and answers it without the cache.
func answerUncached(w http.ResponseWriter, r *http.Request, build func(context.Context) (*encoded, error)) {
	enc, err := build(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeEncoded(w, enc.body, enc.contentType, nil)
}

// serve answers q from the cache when its entry has the current version,
// else builds it once for every concurrent caller, stores it and answers
// it.
func (rs *reports) serve(w http.ResponseWriter, r *http.Request, q cacheable) {
	ver, err := rs.fresh.Do(r.Context(), q.key, q.version)
	if err == nil && ver != "" && q.data {
		var dv string
		dv, err = rs.dataVersion(r.Context())
		ver += "\x00" + dv
	}
	if err != nil || ver == "" {
		// Whatever failed (no such scan, the store) is answered as
		// without the cache, with the same error.
		answerUncached(w, r, q.build)
		return
	}
	if e, ok := rs.cache.Get(q.key, ver); ok {
		serveEntry(w, r, e)
		return
	}
	// Concurrent callers of one version share one build; a caller that
	// goes away does not fail the others.
	ctx := context.WithoutCancel(r.Context())
	v, err, _ := rs.group.Do(q.key+"\x00"+ver, func() (any, error) {
		if e, ok := rs.cache.Get(q.key, ver); ok {
			return e, nil
		}
		enc, err := q.build(ctx)
		if err != nil {
			return nil, err
		}
		e := rs.entry(q.key, ver, enc)
		rs.cache.Put(e)
		return e, nil
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	serveEntry(w, r, v.(*reportcache.Entry))
}

// minGzip is the smallest body worth compressing.
const minGzip = 1024

// entry makes the cache entry of an encoded report: its tag, its gzip
// encoding (when it saves at least a tenth) and its expiry.
func (rs *reports) entry(key, ver string, enc *encoded) *reportcache.Entry {
	sum := sha256.Sum256([]byte(key + "\x00" + ver + "\x00" + enc.tag))
	e := &reportcache.Entry{Key: key, Version: ver, ETag: `"` + hex.EncodeToString(sum[:20]) + `"`,
		ContentType: enc.contentType, Body: enc.body, Immutable: enc.immutable}
	if enc.live {
		e.Expires = rs.now().Add(rs.maxAge)
		if !enc.expires.IsZero() && enc.expires.Before(e.Expires) {
			e.Expires = enc.expires
		}
	}
	if len(enc.body) >= minGzip {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed) // a valid level
		_, _ = zw.Write(enc.body)
		if zw.Close() == nil && b.Len() < len(enc.body)*9/10 {
			e.Gzip = b.Bytes()
		}
	}
	return e
}

// gzipTag is the entity tag of an entry's gzip encoding.
func gzipTag(tag string) string { return strings.TrimSuffix(tag, `"`) + `-gz"` }

// serveEntry answers a cached report: 304 when If-None-Match names it,
// gzip when the client accepts it.
func serveEntry(w http.ResponseWriter, r *http.Request, e *reportcache.Entry) {
	h := w.Header()
	if e.Immutable {
		h.Set("Cache-Control", "private, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "private, no-cache")
	}
	body, tag := e.Body, e.ETag
	if e.Gzip != nil {
		h.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			body, tag = e.Gzip, gzipTag(e.ETag)
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", tag)
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 && noneMatch(inm, e.ETag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", e.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// noneMatch reports whether an If-None-Match header names tag (or its
// gzip encoding's tag), or is "*". Weak comparison, as RFC 9110 wants for
// If-None-Match.
func noneMatch(values []string, tag string) bool {
	gz := gzipTag(tag)
	n := 0
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if n++; n > 64 { // bound the work on a hostile header
				return false
			}
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == tag || t == gz {
				return true
			}
		}
	}
	return false
}

// acceptsGzip reports whether Accept-Encoding values accept gzip (with a
// q above 0; * counts).
func acceptsGzip(values []string) bool {
	n := 0
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if n++; n > 64 {
				return false
			}
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			return q > 0
		}
	}
	return false
}

// liveEncoded wraps an encoded live report: it expires when the age of
// one of its data sources changes, and depends on those ages.
func liveEncoded(body []byte, contentType string, rep *report.Report) *encoded {
	enc := &encoded{body: body, contentType: contentType, live: true}
	var tag strings.Builder
	for _, ds := range rep.DataSources {
		tag.WriteString(ds.Name + "=" + ds.Age + "\x00")
		if ds.NewestRecord != nil {
			if t := nextAgeChange(*ds.NewestRecord, rep.GeneratedAt); enc.expires.IsZero() || t.Before(enc.expires) {
				enc.expires = t
			}
		}
	}
	enc.tag = tag.String()
	return enc
}

// nextAgeChange is when report.Age(newest, t) first differs from
// report.Age(newest, at), for t after at: ages are whole hours below a
// day, whole days above.
func nextAgeChange(newest, at time.Time) time.Time {
	d := at.Sub(newest)
	switch {
	case d < 0:
		return newest.Add(time.Hour)
	case d < 24*time.Hour:
		return newest.Add((d/time.Hour + 1) * time.Hour)
	}
	const day = 24 * time.Hour
	return newest.Add((d/day + 1) * day)
}

// formatKey is the part of a cache key that the negotiated format sets.
func formatKey(r *http.Request, n negotiation) string {
	return n.format.Name + "\x00" + r.URL.Query().Get("template")
}

// imageReport answers scan index of img (0: the latest, matched against
// the current data) in format n, from the cache when it can.
func (s *Server) imageReport(w http.ResponseWriter, r *http.Request, n negotiation, img string, index int) {
	build := func(ctx context.Context) (*encoded, error) {
		rep, err := s.svc.Report(ctx, img, index)
		if err != nil {
			return nil, err
		}
		body, ct, err := encodeReport(n, rep)
		if err != nil {
			return nil, err
		}
		if index > 0 {
			return &encoded{body: body, contentType: ct, immutable: true}, nil
		}
		return liveEncoded(body, ct, rep), nil
	}
	if s.reports == nil {
		answerUncached(w, r, build)
		return
	}
	s.reports.serve(w, r, cacheable{
		key: "image\x00" + img + "\x00" + strconv.Itoa(index) + "\x00" + formatKey(r, n),
		version: func(ctx context.Context) (string, error) {
			return s.reports.v.ReportVersion(ctx, img, index)
		},
		// A recorded scan never changes: its version only says it is
		// still stored.
		data:  index == 0,
		build: build,
	})
}

// manifestReportOf answers the report of manifest digest in format n,
// from the cache when it can.
func (s *Server) manifestReportOf(w http.ResponseWriter, r *http.Request, n negotiation, digest string) {
	build := func(ctx context.Context) (*encoded, error) {
		rep, err := s.svc.ManifestReport(ctx, digest)
		if err != nil {
			return nil, err
		}
		body, ct, err := encodeReport(n, rep)
		if err != nil {
			return nil, err
		}
		return liveEncoded(body, ct, rep), nil
	}
	if s.reports == nil {
		answerUncached(w, r, build)
		return
	}
	s.reports.serve(w, r, cacheable{
		key: "manifest\x00" + digest + "\x00" + formatKey(r, n),
		version: func(ctx context.Context) (string, error) {
			return s.reports.v.ManifestReportVersion(ctx, digest)
		},
		data:  true,
		build: build,
	})
}

// appReportOf answers app scan index of app (0: the latest) in format n,
// from the cache when the apps service tells its versions.
func (s *Server) appReportOf(w http.ResponseWriter, r *http.Request, a *appsAPI, n negotiation, app string, index int) {
	build := func(ctx context.Context) (*encoded, error) {
		rep, err := a.svc.AppReport(ctx, app, index)
		if err != nil {
			return nil, err
		}
		body, ct, err := encodeAppReport(n, rep)
		if err != nil {
			return nil, err
		}
		// An app report is made of recorded image scans: it changes only
		// with what its version says.
		return &encoded{body: body, contentType: ct}, nil
	}
	av, ok := a.svc.(AppReportVersions)
	if s.reports == nil || !ok {
		answerUncached(w, r, build)
		return
	}
	s.reports.serve(w, r, cacheable{
		key:     "app\x00" + app + "\x00" + strconv.Itoa(index) + "\x00" + formatKey(r, n),
		version: func(ctx context.Context) (string, error) { return av.AppReportVersion(ctx, app, index) },
		build:   build,
	})
}

// exportReportCache exports the report cache's counts: hits, misses
// (stale entries among them), evictions and the bytes held.
func (m *Metrics) exportReportCache(c *reportcache.Cache) {
	if m == nil || c == nil {
		return
	}
	counter := func(name, help string, v func(reportcache.Stats) int64) {
		_ = m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(c.Stats())) }))
	}
	counter("lapps_report_cache_hits_total", "Reports answered from the report cache.", func(s reportcache.Stats) int64 { return s.Hits })
	counter("lapps_report_cache_misses_total", "Reports made because the cache held none of their version.", func(s reportcache.Stats) int64 { return s.Misses })
	counter("lapps_report_cache_evictions_total", "Reports evicted from the cache by its bound (server.report_cache.max_bytes).", func(s reportcache.Stats) int64 { return s.Evictions })
	_ = m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lapps_report_cache_bytes", Help: "Bytes of the reports the cache holds."},
		func() float64 { return float64(c.Stats().Bytes) }))
}
