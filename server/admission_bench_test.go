package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// BenchmarkAdmission measures admission decisions for a pod with 5
// containers whose images are scanned (alpine 3.11, 3.13, 3.20, AlmaLinux
// 9.3 and debian-bookworm-min, with the AlmaLinux 9, Alpine and Debian
// data), posted by 32 concurrent callers over loopback TLS: requests per
// second and the median and 99th-percentile latency, with the verdict
// cache (5s) and without it (every decision matches the 5 stored indexes
// against the data). Each caller posts 50 reviews per iteration (5 with
// -short, the CI smoke run).
//
// The callers model kube-apiserver: it keeps its connections to a webhook
// alive and, since Kubernetes 1.16 (kubernetes/kubernetes#82090), speaks
// HTTP/1.1 to webhooks, opening a connection per concurrent request, so
// that a Service spreads them over replicas (http1.1: one TLS connection
// per caller, made before the clock starts); since 1.30
// (kubernetes/kubernetes#122558) it speaks HTTP/2 to a webhook at a
// loopback or localhost URL, every request multiplexed on one connection
// (http2). The server logs one line per review, as in production, to a
// JSON handler that discards it (no terminal in the measure).
//
// Without a rate the callers post as fast as they are answered: the two
// cores are saturated, by the server and by the callers themselves, and
// the tail is the Go scheduler's over their 128 goroutines (it moves
// little with the server's CPU per review). With rate=10000 they post
// 10,000 reviews a second together, on fixed schedules, latency counted
// from when each was due: the latency at a load well beyond a large
// cluster's admission rate, two fifths of this machine's saturation.
// dials counts the TLS connections made during the measurement: none, or
// the warm-up failed. floor is the baseline of the same run: the same
// callers and server, /v1/admission answering with lapps's answer,
// stored; the difference to cache=5s is what lapps's decision costs.
func BenchmarkAdmission(b *testing.B) {
	im := testImages(b)
	v := testenv.VulnData(b)
	local := admissionService(b, []updater.Source{
		almaSource(b),
		{Name: "alpine-secdb", Type: "alpine-secdb", Path: filepath.Join(v, "alpine-secdb")},
		{Name: "debian-dsa", Type: "debian-dsa", Path: filepath.Join(v, "debian-security-tracker", "data")},
	}, map[string]string{
		im["alpine-3.11"]: "", im["alpine-3.13"]: "", im["alpine-3.20"]: "",
		im["almalinux"]: "linux/arm64", im["debian-min"]: "",
	})
	review := podReview(b, "bench", im["alpine-3.11"], im["alpine-3.13"], im["alpine-3.20"], im["almalinux"], im["debian-min"])
	for _, bc := range []struct {
		name  string
		ttl   time.Duration
		http2 bool
		// rate: the reviews a second the callers send together, each on
		// its own schedule (0: each as soon as its previous one is
		// answered, as many as the machine can take).
		rate int
		// floor: after the first review, /v1/admission answers every
		// review with the answer lapps gave it, stored, having read the
		// review: what the rest (net/http, TLS, the callers, the
		// runtime) costs on this machine, measured in the same run.
		floor bool
	}{{"cache=5s/http1.1", 0, false, 0, false}, {"cache=5s/http2", 0, true, 0, false}, {"cache=off/http1.1", -1, false, 0, false},
		{"cache=5s/http1.1/rate=10000", 0, false, 10000, false}, {"cache=5s/http2/rate=10000", 0, true, 10000, false},
		{"floor/http1.1", 0, false, 0, true}, {"floor/http2", 0, true, 0, true}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := server.NewWithJobs(b, local, local.Store(), nil, server.WithAdmission(server.AdmissionConfig{Policy: &policy.Policy{FailOn: "high", WarnOn: "medium"}, CacheTTL: bc.ttl, AllowAnonymous: true}),
				server.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
			defer srv.Close()
			var stored atomic.Pointer[[]byte] // the floor's answer
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				answer := stored.Load()
				if answer == nil || r.URL.Path != "/v1/admission" {
					srv.Handler().ServeHTTP(w, r)
					return
				}
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(*answer)
			}))
			// New connections, counted to check the warm-up.
			var newConns atomic.Int64
			ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					newConns.Add(1)
				}
			}
			ts.EnableHTTP2 = bc.http2
			ts.StartTLS()
			defer ts.Close()
			client := ts.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
			// The decision is a denial naming AlmaLinux's findings, and
			// every image was found.
			if _, rv, raw := post(b, client, ts.URL, review); rv == nil || rv.Response.Allowed || bytes.Contains([]byte(raw), []byte("not scanned")) {
				b.Fatalf("unexpected decision: %s", raw)
			} else if bc.floor {
				answer := []byte(raw)
				stored.Store(&answer)
			}
			if resp, err := client.Get(ts.URL + "/healthz"); err != nil || (resp.ProtoMajor == 2) != bc.http2 {
				b.Fatalf("protocol: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			warmCallers(b, client, ts.URL, review)
			want := int64(benchCallers) // HTTP/1.1: a connection per caller
			if bc.http2 {
				want = 1 // every request on one
			}
			if newConns.Load() < want {
				b.Fatalf("warm-up made %d connections, want %d", newConns.Load(), want)
			}
			cpu0 := processCPU()
			conns0 := newConns.Load()
			b.ResetTimer()
			all, wall, err := callRounds(b.N, perCaller(50), bc.rate, func(int, int) error {
				resp, err := client.Post(ts.URL+"/v1/admission?timeout=5s", "application/json", bytes.NewReader(review))
				_, err = drained(resp, err, http.StatusOK)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			reportLoad(b, all, wall, processCPU()-cpu0)
			// Connections made during the measurement (TLS handshakes in
			// it): none when the warm-up did its work.
			b.ReportMetric(float64(newConns.Load()-conns0), "dials")
			b.Logf("%d reviews: p90 %v, p95 %v, p99 %v, p99.9 %v, max %v", len(all), all[len(all)*90/100], all[len(all)*95/100], all[len(all)*99/100], all[len(all)*999/1000], all[len(all)-1])
		})
	}
}

// heldReader is a request body that calls first when it is first read,
// then gives nothing until release is closed.
type heldReader struct {
	r       io.Reader
	first   func()
	release <-chan struct{}
	once    sync.Once
}

func (h *heldReader) Read(p []byte) (int, error) {
	h.once.Do(h.first)
	<-h.release
	return h.r.Read(p)
}

// warmCallers makes one connection per caller (TLS handshake) before the
// measurement, as the API server keeps its connections. Each warm-up
// request holds its connection until every caller's has been sent (its
// body is read only then), so that over HTTP/1.1 there are as many
// connections as callers: callers warmed one after another would share
// a few, and the measurement would then include TLS handshakes.
func warmCallers(tb testing.TB, client *http.Client, url string, review []byte) {
	var sent sync.WaitGroup
	sent.Add(benchCallers)
	release := make(chan struct{})
	go func() { sent.Wait(); close(release) }()
	var warm sync.WaitGroup
	errs := make(chan error, benchCallers)
	for range benchCallers {
		warm.Add(1)
		go func() {
			defer warm.Done()
			body := &heldReader{r: bytes.NewReader(review), first: sent.Done, release: release}
			// A request that failed before its body was read counts as
			// sent, or the others would wait for it for ever.
			defer body.once.Do(body.first)
			resp, err := client.Post(url+"/v1/admission", "application/json", body)
			if _, err := drained(resp, err, http.StatusOK); err != nil {
				errs <- err
			}
		}()
	}
	warm.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("warm-up: %v", err)
	}
}
