package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the Prometheus metrics lapps serve exports at /metrics.
type Metrics struct {
	reg        *prometheus.Registry
	index      prometheus.Histogram
	report     prometheus.Histogram
	requests   *prometheus.HistogramVec
	jobRuns    *prometheus.CounterVec
	jobSeconds *prometheus.HistogramVec
	records    *prometheus.GaugeVec
	deliveries *prometheus.CounterVec
}

// NewMetrics creates the metrics. queueDepth, if set, is called at each
// scrape for the number of undelivered notifications.
func NewMetrics(queueDepth func(context.Context) (int, error)) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		index: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lapps_scan_duration_seconds", Help: "Time to scan an image: resolve, index new layers, match, record.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		report: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lapps_report_duration_seconds", Help: "Time to answer a report request.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lapps_http_request_duration_seconds", Help: "HTTP requests by route and status class.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"route", "code"}),
		jobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lapps_job_runs_total", Help: "Scheduled job runs (ingest/<source>, scrub, gc, notify, deliver) by result.",
		}, []string{"job", "result"}),
		jobSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lapps_job_duration_seconds", Help: "Duration of scheduled job runs.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"job"}),
		records: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lapps_source_records", Help: "Records of each vulnerability source's current data.",
		}, []string{"source"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lapps_notification_deliveries_total", Help: "Webhook delivery attempts by result.",
		}, []string{"webhook", "result"}),
	}
	m.reg.MustRegister(m.index, m.report, m.requests, m.jobRuns, m.jobSeconds, m.records, m.deliveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queueDepth != nil {
		m.gauge("lapps_notification_queue_depth", "Notifications waiting in the outbox.", queueDepth)
	}
	return m
}

// gauge exports the value of count, called at each scrape (-1 when it
// fails); a second gauge of one name is ignored.
func (m *Metrics) gauge(name, help string, count func(context.Context) (int, error)) {
	_ = m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := count(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// ObserveScan records the duration of one successful scan job (see
// jobs.WithObserver); a nil Metrics records nothing.
func (m *Metrics) ObserveScan(took time.Duration) {
	if m != nil {
		m.index.Observe(took.Seconds())
	}
}

// ObserveJob records one scheduled job run.
func (m *Metrics) ObserveJob(job string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.jobRuns.WithLabelValues(job, result).Inc()
	m.jobSeconds.WithLabelValues(job).Observe(took.Seconds())
}

// SetSourceRecords records the size of a source's current data.
func (m *Metrics) SetSourceRecords(source string, n int) {
	m.records.WithLabelValues(source).Set(float64(n))
}

// Delivered records a successful webhook delivery (notifier.Metrics).
func (m *Metrics) Delivered(webhook string, _ time.Duration) {
	m.deliveries.WithLabelValues(webhook, "delivered").Inc()
}

// Failed records a failed webhook delivery attempt (notifier.Metrics).
func (m *Metrics) Failed(webhook string, _ error) {
	m.deliveries.WithLabelValues(webhook, "failed").Inc()
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

// instrument times a route.
func (m *Metrics) instrument(route string, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		took := time.Since(start)
		m.requests.WithLabelValues(route, strings.Repeat(string(rune('0'+sw.code/100)), 1)+"xx").Observe(took.Seconds())
		if route == "GET /v1/report" && sw.code == http.StatusOK {
			m.report.Observe(took.Seconds())
		}
	})
}
