package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/jobs/jobstest"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
)

// TestPushDeliveredTwice: the registry delivers an envelope again when
// lapps did not answer it; each pushed image is queued once all the same.
func TestPushDeliveredTwice(t *testing.T) {
	q := &countingQueue{Jobs: jobstest.Queue(t)}
	release := make(chan struct{})
	srv := newServer(t, fakeService{scan: func(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
		<-release
		return &report.Report{Image: req.Image, ScanIndex: 1}, nil
	}}, q)
	defer srv.Close()
	defer close(release)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	const envelope = `{"events":[
		{"id":"ev-1","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"app","tag":"1","digest":"sha256:aa"},"request":{"host":"reg:5000"}},
		{"id":"ev-2","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"app","tag":"2","digest":"sha256:bb"},"request":{"host":"reg:5000"}},
		{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"app","tag":"3","digest":"sha256:cc"},"request":{"host":"reg:5000"}}]}`
	post := func() []api.Job {
		resp, err := http.Post(ts.URL+"/v1/registry/events", "application/vnd.docker.distribution.events.v1+json", strings.NewReader(envelope))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var jobs []api.Job
		if err := json.NewDecoder(resp.Body).Decode(&jobs); err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /v1/registry/events: %d, %v", resp.StatusCode, err)
		}
		return jobs
	}
	first, again := post(), post()
	if len(first) != 3 || len(again) != 3 {
		t.Fatalf("%d jobs, then %d; want 3 each", len(first), len(again))
	}
	for i := range 2 {
		if first[i].ID != again[i].ID || first[i].Image != again[i].Image {
			t.Errorf("event %d delivered again: job %s (%s), first %s (%s)", i+1, again[i].ID, again[i].Image, first[i].ID, first[i].Image)
		}
	}
	// The event without an id cannot be recognised: a second job.
	if first[2].ID == again[2].ID {
		t.Errorf("event without an id: one job %s for both deliveries", first[2].ID)
	}
	if n := q.enqueued.Load(); n != 6 {
		t.Errorf("%d enqueue calls, want 6", n)
	}
	if n, err := q.PendingJobs(context.Background()); err != nil || n != 4 {
		t.Errorf("%d jobs pending (%v), want 4: ev-1's, ev-2's and two of the event without an id", n, err)
	}
}
