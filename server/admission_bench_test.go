package server_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
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
	}{{"cache=5s/http1.1", 0, false}, {"cache=5s/http2", 0, true}, {"cache=off/http1.1", -1, false}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := server.NewWithJobs(b, local, local.Store(), nil, server.WithAdmission(server.AdmissionConfig{Policy: &policy.Policy{FailOn: "high", WarnOn: "medium"}, CacheTTL: bc.ttl, AllowAnonymous: true}),
				server.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
			defer srv.Close()
			ts := httptest.NewUnstartedServer(srv.Handler())
			ts.EnableHTTP2 = bc.http2
			ts.StartTLS()
			defer ts.Close()
			client := ts.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
			// The decision is a denial naming AlmaLinux's findings, and
			// every image was found.
			if _, rv, raw := post(b, client, ts.URL, review); rv == nil || rv.Response.Allowed || bytes.Contains([]byte(raw), []byte("not scanned")) {
				b.Fatalf("unexpected decision: %s", raw)
			}
			if resp, err := client.Get(ts.URL + "/healthz"); err != nil || (resp.ProtoMajor == 2) != bc.http2 {
				b.Fatalf("protocol: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			const clients = 32
			perClient := 50
			if testing.Short() {
				perClient = 5
			}
			// One connection per caller, made (TLS handshake) before the
			// measurement, as the API server keeps its connections.
			var warm sync.WaitGroup
			for c := 0; c < clients; c++ {
				warm.Add(1)
				go func() {
					defer warm.Done()
					if resp, err := client.Post(ts.URL+"/v1/admission", "application/json", bytes.NewReader(review)); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
			warm.Wait()
			var all []time.Duration
			var wall time.Duration
			cpu0 := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var mu sync.Mutex
				var wg sync.WaitGroup
				errs := make(chan error, clients)
				start := time.Now()
				for c := 0; c < clients; c++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						lat := make([]time.Duration, 0, perClient)
						for j := 0; j < perClient; j++ {
							t0 := time.Now()
							resp, err := client.Post(ts.URL+"/v1/admission?timeout=5s", "application/json", bytes.NewReader(review))
							if err != nil {
								errs <- err
								return
							}
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode != 200 {
								errs <- fmt.Errorf("status %d", resp.StatusCode)
								return
							}
							lat = append(lat, time.Since(t0))
						}
						mu.Lock()
						all = append(all, lat...)
						mu.Unlock()
					}()
				}
				wg.Wait()
				wall += time.Since(start)
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			}
			cpu := processCPU() - cpu0
			sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
			// CPU per request (server and callers, this process): what
			// a shared machine's load does not change.
			b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-µs/req")
			b.ReportMetric(float64(len(all))/wall.Seconds(), "req/s")
			b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
