package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
)

// RegistryEvents is the envelope of the distribution registry's
// notifications (media type application/vnd.docker.distribution.events.v1+json).
type RegistryEvents struct {
	Events []RegistryEvent `json:"events"`
}

// RegistryEvent is one event of the envelope; only what scan-on-push uses.
type RegistryEvent struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Target struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		URL        string `json:"url"`
		Tag        string `json:"tag"`
	} `json:"target"`
	Request struct {
		Host string `json:"host"`
	} `json:"request"`
}

// manifestTypes are the media types of pushes that scan-on-push scans:
// image manifests and indexes, not blobs.
var manifestTypes = map[string]bool{
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
}

// pushRef returns the reference to scan for a push event, or "" when the
// event is not a manifest push. A tagged push is scanned under its tag,
// so that its scans are numbered where users look for them.
func pushRef(ev RegistryEvent) string {
	if ev.Action != "push" || !manifestTypes[ev.Target.MediaType] || ev.Target.Repository == "" {
		return ""
	}
	host := ev.Request.Host
	if u, err := url.Parse(ev.Target.URL); err == nil && u.Host != "" {
		host = u.Host
	}
	if host == "" {
		return ""
	}
	if ev.Target.Tag != "" {
		return host + "/" + ev.Target.Repository + ":" + ev.Target.Tag
	}
	if strings.HasPrefix(ev.Target.Digest, "sha256:") {
		return host + "/" + ev.Target.Repository + "@" + ev.Target.Digest
	}
	return ""
}

// registryEvents accepts the registry's notifications and queues a scan of
// every pushed manifest: a registry configured to notify lapps has every
// new image scanned without anyone asking.
func (s *Server) registryEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "read events: "+err.Error())
		return
	}
	var env RegistryEvents
	if err := json.Unmarshal(body, &env); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("events envelope: %v", err))
		return
	}
	seen := map[string]bool{}
	jobs := []*api.Job{}
	for _, ev := range env.Events {
		ref := pushRef(ev)
		if ref == "" || seen[ref] {
			continue
		}
		seen[ref] = true
		job, err := s.jobs.enqueue(r.Context(), pushJobID(ev.ID, ref), scanJob{Image: ref, OnPush: true})
		if err != nil {
			writeErr(w, err)
			return
		}
		jobs = append(jobs, job)
		s.log.Info("scan on push", "image", ref, "event", ev.ID, "job", job.ID)
	}
	writeJSON(w, http.StatusAccepted, jobs)
}

// pushJobID is the id of the scan job of ref queued for the registry
// event eventID: the registry delivers an envelope again when lapps
// failed to answer it (a database down half-way through its events), and
// its events keep their ids, so each scan is queued once however often
// the envelope comes. An event without an id gets a new job.
func pushJobID(eventID, ref string) string {
	if eventID == "" {
		return ""
	}
	h := sha256.Sum256([]byte(eventID + "\x00" + ref))
	return "push-" + hex.EncodeToString(h[:16])
}

// pushScanner scans a pushed image, trying again for a few seconds while
// the registry does not know it. The distribution registry sends a
// manifest's push event before it links the tag to the manifest
// (distribution/distribution#2625, open since 2018), so a scan by tag
// right after the event can find no such tag yet.
type pushScanner struct {
	service.Service
	log *slog.Logger
}

// pushRetries are the waits between the attempts of a push scan.
var pushRetries = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond}

// ScanImage scans req.Image, again after each wait of pushRetries while
// the image is not found; a scan that still fails is logged, since no
// client waits for its job.
func (p pushScanner) ScanImage(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
	for i := 0; ; i++ {
		r, err := p.Service.ScanImage(ctx, req)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, image.ErrNotFound) || i == len(pushRetries) {
			p.log.Error("scan on push failed", "image", req.Image, "attempts", i+1, "err", err)
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pushRetries[i]):
		}
	}
}
