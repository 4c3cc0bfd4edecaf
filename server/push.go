package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/lapps/lapps/api"
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
		job, err := s.enqueue(r.Context(), pushJobID(ev.ID, ref), scanJob{Image: ref, OnPush: true})
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
