package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
)

// TestRemoteScanProgress: a scan over --server reports the job's real
// progress (layers done, bytes read of the layers' stored size), and the
// status line renders it as in local mode, not "0.0 MB / 0.0 MB".
func TestRemoteScanProgress(t *testing.T) {
	images := testenv.Images(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	local := service.NewLocal(st, indexer.New(all.Catalogers()))
	t.Cleanup(func() { local.Close() })
	srv := server.New(local, startJobs(t, local, st, images), server.WithLocalImages([]string{images}))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c, err := client.New(hs.URL, "")
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var events []service.Progress
	var line bytes.Buffer
	p := newProgress(&line)
	ref := "oci:" + filepath.Join(images, "debian", "oci") + ":debian-bookworm-mid"
	if _, err := c.ScanImage(ctx, service.ScanRequest{Image: ref, Progress: func(ev service.Progress) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		p.update(ev)
	}}); err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatal("no progress reported")
	}
	last := events[len(events)-1]
	if !last.Whole || last.Layers != 3 || last.LayersDone+last.LayersCached != 3 || last.Read <= 0 || last.Total <= 0 || last.Read != last.Total {
		t.Errorf("last progress of the remote scan: %+v; want 3 layers done and every stored byte read", last)
	}
	// The status line renders the job's totals as local mode renders its
	// layers' (the last step is "matching…"; drawn as a read step, it
	// shows the bytes).
	var drawn bytes.Buffer
	ev := last
	ev.Stage = service.StageLayer
	newProgress(&drawn).update(ev)
	if !regexp.MustCompile(`layers 3/3 \(\d cached\) · [1-9][0-9]*\.\d MB / [1-9][0-9]*\.\d MB read and indexed`).Match(drawn.Bytes()) {
		t.Errorf("status line of %+v: %q", ev, drawn.String())
	}
	if line.Len() == 0 {
		t.Error("nothing drawn during the scan")
	}
}
