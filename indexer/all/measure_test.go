package all_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/model"
)

// hostileCases are the hostile layers of issue 12, at full size. They are
// measured (not asserted) by TestMeasureHostile; the bounds they cross
// are tested at small sizes in the packages that enforce them.
var hostileCases = []struct {
	name  string
	layer func() io.Reader
}{
	{"dpkg status of 1.2M packages", func() io.Reader { return hostile.Files(hostile.DpkgStatus(1_200_000)) }},
	{"20 GNU sparse package.json of 500 MB", func() io.Reader {
		return hostile.GNUSparse(20, func(i int) string { return fmt.Sprintf("app/node_modules/p%d/package.json", i) }, 500<<20, []byte(`{"name":"p","version":"1.0.0"}`))
	}},
	{"20 PAX sparse package.json of 500 MB", func() io.Reader {
		return hostile.PAXSparse(20, func(i int) string { return fmt.Sprintf("app/node_modules/p%d/package.json", i) }, 500<<20, []byte(`{"name":"p","version":"1.0.0"}`))
	}},
	{"package.json of 400 MB (one string)", func() io.Reader {
		return hostile.Files(hostile.Repeat("app/node_modules/big/package.json", 400<<20, `{"name":"big","version":"1.0.0","description":"`, "a", `"}`))
	}},
	{"package.json of 200 MB (many keys)", func() io.Reader {
		return hostile.Files(hostile.Repeat("app/node_modules/big/package.json", 200<<20, `{"name":"big","version":"1.0.0","x":{`, `"a":1,`, `"b":1}}`))
	}},
	{"3M empty files", func() io.Reader {
		return hostile.Many(3_000_000, func(i int) hostile.File { return hostile.File{Name: fmt.Sprintf("d%03d/f%07d", i%1000, i)} })
	}},
	{"3M whiteouts", func() io.Reader {
		return hostile.Many(3_000_000, func(i int) hostile.File {
			return hostile.File{Name: fmt.Sprintf("d%03d/.wh.f%07d", i%1000, i)}
		})
	}},
	{"pnpm-lock.yaml of 32 MiB, a flow sequence", func() io.Reader {
		return hostile.Files(hostile.Repeat("app/pnpm-lock.yaml", 32<<20, "lockfileVersion: '6.0'\nx: [", "a,", "a]\n"))
	}},
	{"pnpm-lock.yaml of 32 MiB entries", func() io.Reader {
		return hostile.Files(hostile.Records("app/pnpm-lock.yaml", "lockfileVersion: '6.0'\npackages:\n", 800_000, func(i int) string {
			return fmt.Sprintf("  /a%07d@1.0.0:\n    dev: false\n", i)
		}, ""))
	}},
	{"yarn.lock (Berry) of 32 MiB entries", func() io.Reader {
		return hostile.Files(hostile.Records("app/yarn.lock", "__metadata:\n  version: 8\n\n", 400_000, func(i int) string {
			return fmt.Sprintf("\"a%07d@npm:^1\":\n  version: 1.0.0\n  resolution: \"a%07d@npm:1.0.0\"\n\n", i, i)
		}, ""))
	}},
	{"Cargo.lock of 32 MiB, one array", func() io.Reader {
		return hostile.Files(hostile.Repeat("srv/Cargo.lock", 32<<20, "[[package]]\nx = [", "1,", "1]\n"))
	}},
	{"composer.lock of 32 MiB tiny entries", func() io.Reader {
		return hostile.Files(hostile.Records("srv/composer.lock", `{"packages":[`, 800_000, func(i int) string {
			return fmt.Sprintf(`{"name":"a/b%07d","version":"1"},`, i)
		}, `{}]}`))
	}},
	{"dpkg file lists naming 3M files", func() io.Reader {
		return hostile.Many(30, func(i int) hostile.File {
			return hostile.Records(fmt.Sprintf("var/lib/dpkg/info/p%d.list", i), "", 100_000, func(j int) string { return fmt.Sprintf("/usr/share/p%02d/f%07d\n", i, j) }, "")
		})
	}},
	{"200k private package.json (empty entries)", func() io.Reader {
		return hostile.Many(200_000, func(i int) hostile.File {
			return hostile.Bytes(fmt.Sprintf("app/node_modules/p%07d/package.json", i), []byte(`{"private":true}`))
		})
	}},
	{"package-lock.json of 32 MiB tiny entries", func() io.Reader {
		return hostile.Files(hostile.Records("app/package-lock.json", `{"lockfileVersion":3,"packages":{`, 800_000, func(i int) string {
			return fmt.Sprintf(`"node_modules/a%07d":{"version":"1.0.0"},`, i)
		}, `"node_modules/z":{}}}`))
	}},
}

// TestMeasureHostile indexes each hostile layer with every cataloger and
// logs the peak heap in use (runtime.MemStats.HeapInuse, sampled every
// 10 ms), the bytes allocated, the time, the outcome and the size of the
// layer index as stored (JSON). It runs only with LAPPS_MEASURE=1 (or a
// substring of a case's name), since the cases take minutes and gigabytes
// on an unbounded indexer.
func TestMeasureHostile(t *testing.T) {
	which := os.Getenv("LAPPS_MEASURE")
	if which == "" {
		t.Skip("LAPPS_MEASURE not set")
	}
	ix := indexer.New(all.Catalogers())
	for _, c := range hostileCases {
		if which != "1" && !strings.Contains(c.name, which) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			var li *model.LayerIndex
			var err error
			m := measure(func() { li, err = ix.IndexLayer(context.Background(), "sha256:hostile", c.layer()) })
			outcome := "ok"
			var stored int
			if err != nil {
				outcome = "error: " + err.Error()
			} else {
				b, _ := json.Marshal(li)
				stored = len(b)
				pkgs := 0
				for _, e := range li.Entries {
					pkgs += len(e.Packages)
				}
				outcome = fmt.Sprintf("ok: %d entries, %d packages, %d whiteouts, %d warnings", len(li.Entries), pkgs, len(li.Whiteouts), len(li.Warnings))
				if len(li.Warnings) > 0 {
					outcome += fmt.Sprintf(" (first: %.200s)", li.Warnings[0])
				}
			}
			t.Logf("%s: peak heap %d MiB (%d MiB before), allocated %d MiB, %v; index %d bytes; %s",
				c.name, m.peak>>20, m.base>>20, m.alloc>>20, m.elapsed.Round(time.Millisecond), stored, outcome)
		})
	}
}

type measurement struct {
	peak, base, alloc uint64
	elapsed           time.Duration
}

// measure runs fn and samples the heap while it runs.
func measure(fn func()) measurement {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	allocBase := ms.TotalAlloc
	base := ms.HeapInuse
	peak := base
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var s runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&s)
				peak = max(peak, s.HeapInuse)
			}
		}
	}()
	start := time.Now()
	fn()
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	return measurement{peak: max(peak, ms.HeapInuse), base: base, alloc: ms.TotalAlloc - allocBase, elapsed: elapsed}
}
