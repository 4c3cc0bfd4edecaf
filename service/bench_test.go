package service

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/testenv"
)

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gzipFloor decompresses the image's layer blobs to nothing with gzip -dc,
// one after another, and returns the wall and CPU time: the floor that
// BenchmarkIndexMid is measured against.
func gzipFloor(b *testing.B, layout string, digests []string) (wall, cpu time.Duration) {
	b.Helper()
	gz := testenv.Tool(b, "gzip")
	cpu0 := cpuTime(syscall.RUSAGE_CHILDREN)
	start := time.Now()
	for _, d := range digests {
		blob := filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))
		cmd := exec.Command(gz, "-dc", blob)
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout = devnull
		if err := cmd.Run(); err != nil {
			b.Fatalf("gzip -dc %s: %v", blob, err)
		}
		devnull.Close()
	}
	return time.Since(start), cpuTime(syscall.RUSAGE_CHILDREN) - cpu0
}

func benchIndex(b *testing.B, tag string, opts ...indexer.Option) {
	dir := testenv.Images(b)
	layout := filepath.Join(dir, "debian", "oci")
	ref := "oci:" + layout + ":" + tag
	ctx := context.Background()

	// Find the layer digests once.
	probe, _ := newBenchLocal(b)
	r, err := probe.ScanImage(ctx, ScanRequest{Image: ref})
	if err != nil {
		b.Fatal(err)
	}
	var digests []string
	for _, l := range r.Layers {
		digests = append(digests, l.Digest)
	}

	var floorWall, floorCPU, wall, cpu time.Duration
	var peak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fw, fc := gzipFloor(b, layout, digests)
		floorWall += fw
		floorCPU += fc
		l, _ := newBenchLocal(b, opts...)
		b.StartTimer()
		resetPeakRSS()
		c0 := cpuTime(syscall.RUSAGE_SELF)
		start := time.Now()
		if _, err := l.ScanImage(ctx, ScanRequest{Image: ref}); err != nil {
			b.Fatal(err)
		}
		wall += time.Since(start)
		peak = max(peak, peakRSS())
		cpu += cpuTime(syscall.RUSAGE_SELF) - c0
		b.StopTimer()
		l.Close()
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/floorWall.Seconds(), "x-gzip-floor")
	b.ReportMetric(floorWall.Seconds()/n, "floor-wall-s")
	b.ReportMetric(floorCPU.Seconds()/n, "floor-cpu-s")
	b.ReportMetric(wall.Seconds()/n, "index-wall-s")
	b.ReportMetric(cpu.Seconds()/n, "index-cpu-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
}

// BenchmarkIndexMid indexes debian-bookworm-mid from an OCI layout on a
// cold store and reports the wall time as a ratio to `gzip -dc` of the
// same layers one after another, measured in the same run.
func BenchmarkIndexMid(b *testing.B) { benchIndex(b, "debian-bookworm-mid") }

// BenchmarkIndexFat does the same for debian-bookworm-fat, with the
// file checks and the secret scan (on by default) and without them
// (indexer.WithoutChecks), each against its own gzip floor of the same
// run:
//
//	go test ./service -run '^$' -bench 'IndexFat' -benchtime 3x
func BenchmarkIndexFat(b *testing.B) {
	b.Run("checks", func(b *testing.B) { benchIndex(b, "debian-bookworm-fat") })
	b.Run("nochecks", func(b *testing.B) { benchIndex(b, "debian-bookworm-fat", indexer.WithoutChecks()) })
}

// BenchmarkRescanMid scans debian-bookworm-mid again once all its layers
// are indexed: no layer is read.
func BenchmarkRescanMid(b *testing.B) {
	dir := testenv.Images(b)
	ref := "oci:" + filepath.Join(dir, "debian", "oci") + ":debian-bookworm-mid"
	l, reads := newBenchLocal(b)
	ctx := context.Background()
	if _, err := l.ScanImage(ctx, ScanRequest{Image: ref}); err != nil {
		b.Fatal(err)
	}
	reads.Store(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.ScanImage(ctx, ScanRequest{Image: ref}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(reads.Load())/float64(b.N), "layer-reads/op")
}
