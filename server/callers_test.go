package server_test

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// benchCallers is how many callers the server's load benchmarks run at
// once.
const benchCallers = 32

// perCaller is how many requests each caller makes per round: n, or 5
// with -short (the CI smoke run).
func perCaller(n int) int {
	if testing.Short() {
		return 5
	}
	return n
}

// callRounds runs rounds of benchCallers callers, each calling call
// (with its caller number and its call number) perCall times one after
// another, and returns the latencies, sorted, and the time the rounds
// took; the first error ends it. With rate 0 a caller calls as soon as
// its previous call returned (a closed loop: the machine saturated). With
// a rate, the callers together call rate times a second, each on its own
// fixed schedule, and a latency counts from when the call was due, not
// when it was made (a caller behind its schedule counts its waiting: no
// coordinated omission).
func callRounds(rounds, perCall, rate int, call func(caller, n int) error) ([]time.Duration, time.Duration, error) {
	var all []time.Duration
	var wall time.Duration
	var every time.Duration // one caller's interval
	if rate > 0 {
		every = time.Duration(benchCallers) * time.Second / time.Duration(rate)
	}
	for range rounds {
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make(chan error, benchCallers)
		start := time.Now()
		for c := range benchCallers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lat := make([]time.Duration, 0, perCall)
				// The callers' schedules are spread over one interval.
				due := start.Add(every * time.Duration(c) / benchCallers)
				for j := range perCall {
					t0 := time.Now()
					if every > 0 {
						if wait := time.Until(due); wait > 0 {
							time.Sleep(wait)
						}
						t0 = due
						due = due.Add(every)
					}
					if err := call(c, j); err != nil {
						errs <- err
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
			return nil, 0, err
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all, wall, nil
}

// reportLoad reports what callRounds measured: the CPU per request (cpu
// is what this process used meanwhile, server and callers: what a shared
// machine's load does not change), the requests per second, and the
// median and 99th-percentile latency.
func reportLoad(b *testing.B, all []time.Duration, wall, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-µs/req")
	b.ReportMetric(float64(len(all))/wall.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

// drained reads a caller's response to the end and closes it; err is
// the request's error, or a status other than want. It returns the
// body's size.
func drained(resp *http.Response, err error, want int) (int64, error) {
	if err != nil {
		return 0, err
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return n, fmt.Errorf("status %d, want %d", resp.StatusCode, want)
	}
	return n, nil
}
