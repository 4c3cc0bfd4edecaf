package api

import (
	"time"

	"github.com/lapps/lapps/report"
)

// Job states (the store keeps the same strings).
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// Job is long work (indexing an image) that the API answers for at once;
// clients poll GET /v1/jobs/{id}, on any replica, until it is done.
type Job struct {
	ID         string         `json:"id"`
	Kind       string         `json:"kind"`
	Image      string         `json:"image,omitempty"`
	State      string         `json:"state"`
	CreatedAt  time.Time      `json:"created_at"`
	StartedAt  time.Time      `json:"started_at,omitzero"`
	FinishedAt time.Time      `json:"finished_at,omitzero"`
	Attempts   int            `json:"attempts,omitempty"`
	Replica    string         `json:"replica,omitempty"`
	Progress   *JobProgress   `json:"progress,omitempty"`
	Error      *Error         `json:"error,omitempty"`
	Result     *report.Report `json:"result,omitempty"`
}

// JobProgress is the latest progress of a scan job.
type JobProgress struct {
	Stage        string `json:"stage"`
	Layers       int    `json:"layers"`
	LayersDone   int    `json:"layers_done"`
	LayersCached int    `json:"layers_cached"`
	BytesRead    int64  `json:"bytes_read"`
	// BytesTotal is the stored size of the layers being read, where it
	// is known.
	BytesTotal int64 `json:"bytes_total"`
}
