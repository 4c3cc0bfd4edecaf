package rpm_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer/rpm"
)

// TestMeasureLargeDatabase builds an rpmdb.sqlite of 80 MB of package
// headers (the AlmaLinux database's, copied 40 times) and logs the peak
// heap in use while ReadFile lists it. It runs only with LAPPS_MEASURE
// set.
func TestMeasureLargeDatabase(t *testing.T) {
	if os.Getenv("LAPPS_MEASURE") == "" {
		t.Skip("LAPPS_MEASURE not set")
	}
	file := filepath.Join(almaRPMDB(t), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if _, err := db.Exec("INSERT INTO Packages (blob) SELECT blob FROM Packages WHERE hnum <= 30"); err != nil {
			t.Fatal(err)
		}
	}
	var n, total int64
	if err := db.QueryRow("SELECT count(*), sum(length(blob)) FROM Packages").Scan(&n, &total); err != nil {
		t.Fatal(err)
	}
	db.Close()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peak := ms.HeapInuse
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var s runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&s)
				peak = max(peak, s.HeapInuse)
			}
		}
	}()
	start := time.Now()
	res, err := rpm.ReadFile(context.Background(), file)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	t.Logf("%d headers, %d MiB of headers: %d packages, %v; peak heap %d MiB, %v", n, total>>20, len(res.Packages), err, peak>>20, elapsed.Round(time.Millisecond))
}
