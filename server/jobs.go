package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
)

// Job states.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// Job is long work (indexing an image) that the API answers for at once;
// clients poll GET /v1/jobs/{id} until it is done.
type Job struct {
	ID         string         `json:"id"`
	Kind       string         `json:"kind"`
	Image      string         `json:"image,omitempty"`
	State      string         `json:"state"`
	CreatedAt  time.Time      `json:"created_at"`
	FinishedAt time.Time      `json:"finished_at,omitzero"`
	Progress   *JobProgress   `json:"progress,omitempty"`
	Error      *APIError      `json:"error,omitempty"`
	Result     *report.Report `json:"result,omitempty"`
}

// JobProgress is the latest progress of a scan job.
type JobProgress struct {
	Stage        string `json:"stage"`
	Layers       int    `json:"layers"`
	LayersDone   int    `json:"layers_done"`
	LayersCached int    `json:"layers_cached"`
	BytesRead    int64  `json:"bytes_read"`
}

// jobs holds scan jobs in memory; finished jobs are kept for a while so
// that clients can collect their results.
type jobs struct {
	mu   sync.Mutex
	byID map[string]*Job
	keep time.Duration
	sem  chan struct{}
	wg   sync.WaitGroup
	// observe, if set, is told the duration of each successful scan.
	observe func(time.Duration)
}

func newJobs(concurrency int, keep time.Duration) *jobs {
	return &jobs{byID: map[string]*Job{}, keep: keep, sem: make(chan struct{}, max(1, concurrency))}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startScan queues a scan and returns its job.
func (j *jobs) startScan(ctx context.Context, svc service.Service, req service.ScanRequest) *Job {
	job := &Job{ID: newID(), Kind: "scan", Image: req.Image, State: JobQueued, CreatedAt: time.Now().UTC(), Progress: &JobProgress{}}
	j.mu.Lock()
	j.gcLocked()
	j.byID[job.ID] = job
	j.mu.Unlock()
	layers := map[int]service.Progress{}
	req.Progress = func(p service.Progress) {
		j.mu.Lock()
		defer j.mu.Unlock()
		if p.Layer != "" {
			prev := layers[p.Index]
			if p.Stage != service.StageLayer {
				p.Read = prev.Read
			}
			layers[p.Index] = p
		}
		jp := &JobProgress{Stage: p.Stage, Layers: max(p.Layers, job.Progress.Layers)}
		for _, l := range layers {
			switch l.Stage {
			case service.StageDone:
				jp.LayersDone++
			case service.StageCached:
				jp.LayersCached++
			}
			jp.BytesRead += l.Read
		}
		job.Progress = jp
	}
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		select {
		case j.sem <- struct{}{}:
		case <-ctx.Done():
			j.finish(job, nil, ctx.Err())
			return
		}
		defer func() { <-j.sem }()
		j.mu.Lock()
		job.State = JobRunning
		j.mu.Unlock()
		start := time.Now()
		r, err := svc.ScanImage(ctx, req)
		if j.observe != nil && err == nil {
			j.observe(time.Since(start))
		}
		j.finish(job, r, err)
	}()
	return j.snapshot(job.ID)
}

func (j *jobs) finish(job *Job, r *report.Report, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	job.FinishedAt = time.Now().UTC()
	if err != nil {
		code, _ := classify(err)
		job.State = JobFailed
		job.Error = &APIError{Code: code, Message: err.Error()}
		return
	}
	job.State = JobSucceeded
	job.Result = r
}

// snapshot returns a copy of a job, or nil.
func (j *jobs) snapshot(id string) *Job {
	j.mu.Lock()
	defer j.mu.Unlock()
	job, ok := j.byID[id]
	if !ok {
		return nil
	}
	c := *job
	if job.Progress != nil {
		p := *job.Progress
		c.Progress = &p
	}
	return &c
}

// gcLocked forgets finished jobs older than keep.
func (j *jobs) gcLocked() {
	for id, job := range j.byID {
		if !job.FinishedAt.IsZero() && time.Since(job.FinishedAt) > j.keep {
			delete(j.byID, id)
		}
	}
}

// wait waits for running jobs to end.
func (j *jobs) wait() { j.wg.Wait() }
