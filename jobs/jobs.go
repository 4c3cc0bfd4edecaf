// Package jobs runs the scan jobs of lapps serve: long work (indexing an
// image) that the API answers for at once, queued in the database that
// every replica shares (store.Jobs) and run by whichever replica has a
// free slot, under a lease, so that a job whose replica dies is claimed
// again by another. The HTTP server queues jobs and reads them back
// through a Runner; the daemon starts and stops it.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/api/errcode"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/redact"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/scheduler"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// KindScan is the kind of scan jobs, the only kind so far.
const KindScan = "scan"

// Scan is the request of a scan job, as stored. Registry credentials in
// clear and insecure access are never part of it: the replica that runs
// the job uses its own configuration, and credentials a caller sends are
// stored sealed.
type Scan struct {
	Image    string `json:"image"`
	Platform string `json:"platform,omitempty"`
	// OnPush marks a scan queued by a registry event, retried while the
	// registry does not know the tag yet (see pushScanner).
	OnPush bool `json:"on_push,omitempty"`
	// Credentials are registry credentials a caller sent with the scan
	// (Harbor's): Enqueue seals them into SealedCredentials, and they are
	// never stored as they are.
	Credentials map[string]image.Credential `json:"-"`
	// SealedCredentials are the registry credentials of the scan, sealed
	// with the replicas' credential key (see sealer, WithCredentialKey).
	SealedCredentials []byte `json:"sealed_credentials,omitempty"`
	// Meta is kept for the caller that queued the job (Harbor's
	// artifact).
	Meta json.RawMessage `json:"meta,omitempty"`
}

// scanResult is the outcome of a succeeded scan job, as stored: which
// scan it recorded. The report itself is the scan's, stored once with it
// and read back when the job is shown.
type scanResult struct {
	Image     string `json:"image"`
	ScanIndex int    `json:"scan_index"`
}

// maxJobAttempts bounds the claims of one job: a job whose replicas keep
// dying while they run it (an image that exhausts their memory, say)
// fails rather than taking every replica down in turn.
const maxJobAttempts = 3

// Scanner is what the jobs need of the service: it scans, and reads back
// the report a scan recorded (a job's result).
type Scanner interface {
	ScanImage(ctx context.Context, req service.ScanRequest) (*report.Report, error)
	Report(ctx context.Context, image string, index int) (*report.Report, error)
}

// Runner runs scan jobs from the queue that every replica on the database
// shares (store.Jobs): a request enqueues a job; each replica claims
// queued jobs while it has a free slot, under a lease it renews while
// the job runs, so that more replicas index more images at once, and a
// job whose replica dies is claimed again by another once its lease
// expires. Results are stored with the job, so any replica answers for
// it.
type Runner struct {
	q      store.Jobs
	svc    Scanner
	holder string
	ttl    time.Duration
	// beat is how often a job's claim is renewed and, when idle, how
	// often the queue is looked at again: a third of the lease, at least
	// every second so that progress reaches the other replicas.
	beat  time.Duration
	slots chan struct{}
	wake  chan struct{}
	log   *slog.Logger
	wg    sync.WaitGroup
	// observe, if set, is told the duration of each successful scan.
	observe func(time.Duration)
	// scanTimeout bounds each scan (server.scan_timeout;
	// WithScanTimeout).
	scanTimeout time.Duration
	// grace is how long a cancelled scan (timeout, shutdown, lost lease)
	// is waited for; a scan that has not returned by then (blocked in
	// I/O that ignores cancellation) is given up and its slot freed.
	grace time.Duration
	// localRoots are checked again before a job runs (a job queued by a
	// replica configured otherwise, or before an upgrade).
	localRoots []string
	// sealer seals and opens the registry credentials of jobs that carry
	// them.
	sealer *sealer
	// credKey is the key of the sealer (WithCredentialKey).
	credKey []byte
	// concurrency is how many jobs run at once (WithConcurrency).
	concurrency int
	// cancel stops the jobs started by Start.
	cancel context.CancelFunc

	mu sync.Mutex
	// running holds the latest progress of the jobs this replica runs,
	// fresher than what it stores every heartbeat.
	running map[string]*api.JobProgress
	// released are the running jobs released by releaseRunning, which
	// their scans must not finish.
	released map[string]bool
	// finished is closed, and replaced, whenever this replica finishes a
	// job: the waiters of await look at their job again.
	finished chan struct{}
}

// New returns a runner of the scan jobs of q, which it scans with svc.
// It runs nothing until Start.
func New(q store.Jobs, svc Scanner, opts ...Option) *Runner {
	j := &Runner{
		q: q, svc: svc, holder: scheduler.HolderID(), ttl: scheduler.DefaultLeaseTTL, concurrency: 2,
		wake: make(chan struct{}, 1), log: slog.Default(), running: map[string]*api.JobProgress{},
		released: map[string]bool{}, finished: make(chan struct{}),
		scanTimeout: DefaultScanTimeout, grace: 5 * time.Second, localRoots: []string{},
	}
	for _, o := range opts {
		o(j)
	}
	j.beat = min(time.Second, j.ttl/3)
	j.slots = make(chan struct{}, max(1, j.concurrency))
	j.sealer = newSealer(j.credKey)
	j.credKey = nil
	return j
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Enqueue queues a scan job under id (a new one when empty) and returns
// it, and whether it is new. A job already queued under id is returned as
// it stands (new false), so that a request delivered again (a registry
// event) queues its scan once. The request's credentials are sealed,
// bound to the job's id.
func (j *Runner) Enqueue(ctx context.Context, id string, req Scan) (*api.Job, bool, error) {
	if id == "" {
		id = newID()
	}
	if len(req.Credentials) > 0 {
		sealed, err := j.sealer.seal(id, req.Credentials)
		if err != nil {
			return nil, false, fmt.Errorf("seal registry credentials: %w", err)
		}
		req.SealedCredentials = sealed
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, false, err
	}
	sj, err := j.q.EnqueueJob(ctx, &store.Job{ID: id, Kind: KindScan, Request: body})
	if errors.Is(err, store.ErrExists) {
		job, err := j.Get(ctx, id)
		return job, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("queue scan of %s: %w", req.Image, err)
	}
	select {
	case j.wake <- struct{}{}:
	default:
	}
	job, err := j.Show(ctx, sj)
	return job, true, err
}

// Get returns job id as the API shows it, or an error wrapping
// store.ErrNotFound.
func (j *Runner) Get(ctx context.Context, id string) (*api.Job, error) {
	sj, err := j.q.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	return j.Show(ctx, sj)
}

// Stored returns job id as the queue stores it, or an error wrapping
// store.ErrNotFound.
func (j *Runner) Stored(ctx context.Context, id string) (*store.Job, error) {
	return j.q.GetJob(ctx, id)
}

// Pending counts the jobs queued or running, in every replica.
func (j *Runner) Pending(ctx context.Context) (int, error) { return j.q.PendingJobs(ctx) }

// Show turns a stored job into the API's; the result of a succeeded job
// is the report its scan recorded.
func (j *Runner) Show(ctx context.Context, sj *store.Job) (*api.Job, error) {
	job := &api.Job{
		ID: sj.ID, Kind: sj.Kind, State: sj.State, CreatedAt: sj.CreatedAt, StartedAt: sj.StartedAt,
		FinishedAt: sj.FinishedAt, Attempts: sj.Attempts, Replica: sj.Holder,
	}
	var req Scan
	if json.Unmarshal(sj.Request, &req) == nil {
		job.Image = req.Image
	}
	if len(sj.Progress) > 0 {
		var p api.JobProgress
		if json.Unmarshal(sj.Progress, &p) == nil {
			job.Progress = &p
		}
	}
	j.mu.Lock()
	if p, ok := j.running[sj.ID]; ok && sj.State == store.JobRunning && sj.Holder == j.holder {
		c := *p
		job.Progress = &c
	}
	j.mu.Unlock()
	if job.Progress == nil && sj.State != store.JobSucceeded && sj.State != store.JobFailed {
		job.Progress = &api.JobProgress{}
	}
	switch sj.State {
	case store.JobSucceeded:
		var res scanResult
		if err := json.Unmarshal(sj.Result, &res); err != nil || res.Image == "" || res.ScanIndex < 1 {
			job.Error = &api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("stored result %q: not a scan", sj.Result)}
			break
		}
		r, err := j.svc.Report(ctx, res.Image, res.ScanIndex)
		switch {
		case errors.Is(err, service.ErrNotFound):
			job.Error = &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("scan %d of %s, the job's result, is no longer kept (server.gc.keep_scans)", res.ScanIndex, res.Image)}
		case err != nil:
			return nil, fmt.Errorf("job %s: its scan's report: %w", sj.ID, err)
		default:
			job.Result = r
		}
	case store.JobFailed:
		var e api.Error
		if err := json.Unmarshal(sj.Error, &e); err != nil || e.Code == "" {
			e = api.Error{Code: api.CodeInternal, Message: string(sj.Error)}
		}
		e.Message = redact.Text(e.Message) // stored by an older version, maybe
		job.Error = &e
	}
	return job, nil
}

// run claims and runs jobs until ctx ends: it claims a job whenever a
// slot is free, and otherwise waits for a job queued here (wake) or for
// the poll interval, after which jobs queued by other replicas or left by
// a dead one are looked for again.
func (j *Runner) run(ctx context.Context) {
	defer j.wg.Done()
	for {
		select {
		case j.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		sj, err := j.q.ClaimJob(ctx, j.holder, j.ttl)
		if err != nil || sj == nil {
			<-j.slots
			if err != nil && ctx.Err() == nil {
				j.log.Warn("claim scan job", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-j.wake:
			case <-time.After(j.beat):
			}
			continue
		}
		j.wg.Add(1)
		go func() {
			defer j.wg.Done()
			defer func() { <-j.slots }()
			j.execute(ctx, sj)
		}()
	}
}

// errLost cancels a job whose lease another replica has taken.
var errLost = errors.New("the job's lease was lost to another replica")

// execute runs one claimed job: the scan, with a heartbeat that renews
// its lease and stores its progress, then the outcome. A job this replica
// stops running (shutdown) goes back to the queue; one whose lease was
// lost is left to its new holder.
func (j *Runner) execute(ctx context.Context, sj *store.Job) {
	log := j.log.With("job", sj.ID, "attempt", sj.Attempts)
	if sj.Attempts > maxJobAttempts {
		j.finish(ctx, log, sj, nil, fmt.Errorf("abandoned after %d attempts: the replicas running it stopped before it finished", sj.Attempts-1))
		return
	}
	var req Scan
	if err := json.Unmarshal(sj.Request, &req); err != nil || sj.Kind != KindScan || req.Image == "" {
		j.finish(ctx, log, sj, nil, fmt.Errorf("job of kind %q with request %q: not a scan: %w", sj.Kind, sj.Request, service.ErrBadRequest))
		return
	}
	log = log.With("image", req.Image)
	if err := image.CheckLocal(req.Image, j.localRoots); err != nil {
		j.finish(ctx, log, sj, nil, err)
		return
	}
	if sj.Attempts > 1 {
		log.Info("scan job claimed again after its replica stopped", "attempts", sj.Attempts)
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	progress := &api.JobProgress{}
	j.mu.Lock()
	j.running[sj.ID] = progress
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		delete(j.running, sj.ID)
		j.mu.Unlock()
	}()

	// The heartbeat renews the lease every j.beat, with the progress when
	// it changed.
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		t := time.NewTicker(j.beat)
		defer t.Stop()
		var last api.JobProgress
		for {
			select {
			case <-jctx.Done():
				return
			case <-t.C:
			}
			j.mu.Lock()
			cur := *progress
			j.mu.Unlock()
			var body []byte
			if cur != last {
				body, _ = json.Marshal(cur)
				last = cur
			}
			err := j.q.RenewJob(jctx, sj.ID, j.holder, j.ttl, body)
			switch {
			case errors.Is(err, store.ErrJobLost), errors.Is(err, store.ErrNotFound):
				cancel(errLost)
				return
			case err != nil && jctx.Err() == nil:
				log.Warn("renew scan job lease", "err", err)
			}
		}
	}()

	var creds map[string]image.Credential
	if len(req.SealedCredentials) > 0 {
		c, err := j.sealer.open(sj.ID, req.SealedCredentials)
		if err != nil {
			j.finish(ctx, log, sj, nil, err)
			return
		}
		creds = c
	}
	scanner := j.svc
	if req.OnPush {
		scanner = pushScanner{Scanner: j.svc, log: j.log}
	}
	start := time.Now()
	sctx, stop := context.WithTimeoutCause(jctx, j.scanTimeout, errScanTimeout)
	defer stop()
	type outcome struct {
		r   *report.Report
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := scanner.ScanImage(sctx, service.ScanRequest{
			Image: req.Image, Platform: req.Platform, Key: sj.ID, Credentials: creds,
			Progress: progressInto(&j.mu, progress),
		})
		done <- outcome{r, err}
	}()
	var out outcome
	select {
	case out = <-done:
	case <-sctx.Done():
		// Cancelled (timeout, shutdown, lease lost): the scan is waited
		// for a little, then given up, so that a scan blocked in I/O
		// that ignores cancellation (a FIFO, a hung mount) does not hold
		// the slot, or the shutdown, forever.
		select {
		case out = <-done:
		case <-time.After(j.grace):
			log.Warn("scan did not stop within the grace period after it was cancelled; given up", "grace", j.grace, "cause", context.Cause(sctx))
			out = outcome{err: fmt.Errorf("%s: the scan did not stop after it was cancelled: %w", req.Image, context.Cause(sctx))}
		}
	}
	r, err := out.r, out.err
	timedOut := context.Cause(sctx) == errScanTimeout && jctx.Err() == nil
	cancel(nil)
	<-beat
	j.mu.Lock()
	released := j.released[sj.ID]
	delete(j.released, sj.ID)
	j.mu.Unlock()
	switch {
	case released:
		// releaseRunning gave the job back at a shutdown that did not
		// wait for it.
	case context.Cause(jctx) == errLost:
		log.Warn("scan job taken over by another replica; its result is theirs")
	case err != nil && timedOut:
		j.finish(ctx, log, sj, nil, fmt.Errorf("%s: %w", req.Image, scanTimeoutError(j.scanTimeout)))
	case err != nil && ctx.Err() != nil:
		// Stopped by the shutdown: the job goes back to the queue for
		// another replica (or this one, restarted) rather than failing.
		// A scan that ended before is finished below: the work is done.
		rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer stop()
		if err := j.q.ReleaseJob(rctx, sj.ID, j.holder); err != nil {
			log.Warn("release scan job", "err", err)
		} else {
			log.Info("scan job released to the queue at shutdown")
		}
	default:
		if err == nil && j.observe != nil {
			j.observe(time.Since(start))
		}
		// The final progress (every layer read or cached, the bytes read)
		// stays with the job, so that a client polling it sees the work
		// done even when the scan ended between two heartbeats.
		j.mu.Lock()
		final, _ := json.Marshal(*progress)
		j.mu.Unlock()
		if perr := j.q.RenewJob(ctx, sj.ID, j.holder, j.ttl, final); perr != nil {
			log.Debug("store the final progress of the scan job", "err", perr)
		}
		j.finish(ctx, log, sj, r, err)
	}
}

// errScanTimeout is the cause of a scan cancelled by its deadline.
var errScanTimeout = errors.New("scan deadline (server.scan_timeout) passed")

// scanTimeoutError is the failure of a scan that took longer than d.
func scanTimeoutError(d time.Duration) error {
	if d%time.Second == 0 {
		return limits.New("scan time", int64(d/time.Second), "seconds", "server.scan_timeout")
	}
	return limits.New("scan time", d.Milliseconds(), "milliseconds", "server.scan_timeout")
}

// releaseRunning puts the jobs this replica still runs back in the queue
// and marks them so that their scans, should they ever return, do not
// finish them: a shutdown that stops waiting for stuck scans. It returns
// how many it released.
func (j *Runner) releaseRunning() int {
	j.mu.Lock()
	var ids []string
	for id := range j.running {
		if !j.released[id] {
			j.released[id] = true
			ids = append(ids, id)
		}
	}
	j.mu.Unlock()
	// Bounded: the shutdown that calls this has no time left to wait.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, id := range ids {
		if err := j.q.ReleaseJob(ctx, id, j.holder); err != nil {
			j.log.Warn("release scan job at shutdown", "job", id, "err", err)
		} else {
			j.log.Info("scan job released to the queue at shutdown", "job", id)
		}
	}
	return len(ids)
}

// finish records a job's outcome; credentials in its error (a URL's user
// information or secret parameters) are redacted.
func (j *Runner) finish(ctx context.Context, log *slog.Logger, sj *store.Job, r *report.Report, failure error) {
	var result, failed []byte
	var err error
	if failure != nil {
		code, _ := errcode.Classify(failure)
		failed, err = json.Marshal(api.Error{Code: code, Message: redact.Text(failure.Error())})
		log.Info("scan job failed", "code", code, "err", failure)
	} else {
		result, err = json.Marshal(scanResult{Image: r.Image, ScanIndex: r.ScanIndex})
	}
	if err == nil {
		// The outcome is recorded even while the server stops: the work
		// is done.
		fctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer stop()
		err = j.q.FinishJob(fctx, sj.ID, j.holder, result, failed)
	}
	if err != nil {
		log.Error("record scan job outcome", "err", err)
	}
	j.mu.Lock()
	close(j.finished)
	j.finished = make(chan struct{})
	j.mu.Unlock()
}

// Await waits for job id to finish, in any replica, and returns the
// report its scan recorded, or its failure as an error matching the
// sentinel of its code. It stops waiting when ctx or stop ends (the job
// goes on).
func (j *Runner) Await(ctx context.Context, stop <-chan struct{}, id string) (*report.Report, error) {
	t := time.NewTicker(j.beat)
	defer t.Stop()
	for {
		j.mu.Lock()
		finished := j.finished
		j.mu.Unlock()
		sj, err := j.q.GetJob(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("scan job %s: %w", id, err)
		}
		switch sj.State {
		case store.JobSucceeded:
			var res scanResult
			if err := json.Unmarshal(sj.Result, &res); err != nil || res.Image == "" || res.ScanIndex < 1 {
				return nil, fmt.Errorf("scan job %s: stored result %q: not a scan", id, sj.Result)
			}
			return j.svc.Report(ctx, res.Image, res.ScanIndex)
		case store.JobFailed:
			var e api.Error
			if err := json.Unmarshal(sj.Error, &e); err != nil || e.Code == "" {
				e = api.Error{Code: api.CodeInternal, Message: string(sj.Error)}
			}
			return nil, errcode.Err(e)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-stop:
			return nil, fmt.Errorf("scan job %s: the server is stopping; the job stays queued: %w", id, context.Canceled)
		case <-finished:
		case <-t.C:
		}
	}
}

// progressInto returns a service progress function that folds each step
// into p, under mu.
func progressInto(mu *sync.Mutex, p *api.JobProgress) func(service.Progress) {
	layers := map[int]service.Progress{}
	return func(sp service.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if sp.Layer != "" {
			prev := layers[sp.Index]
			if sp.Stage != service.StageLayer {
				sp.Read, sp.Total = prev.Read, prev.Total
			}
			layers[sp.Index] = sp
		}
		np := api.JobProgress{Stage: sp.Stage, Layers: max(sp.Layers, p.Layers)}
		for _, l := range layers {
			switch l.Stage {
			case service.StageDone:
				np.LayersDone++
			case service.StageCached:
				np.LayersCached++
			}
			np.BytesRead += l.Read
			if l.Total > 0 {
				np.BytesTotal += l.Total
			}
		}
		*p = np
	}
}

// Start runs the jobs until ctx ends or Shutdown: this replica claims
// queued jobs whenever it has a free slot.
func (j *Runner) Start(ctx context.Context) {
	ctx, j.cancel = context.WithCancel(ctx)
	j.wg.Add(1)
	go j.run(ctx)
}

// Close stops the jobs and waits for them, however long they take; see
// Shutdown for a bounded stop.
func (j *Runner) Close() { _ = j.Shutdown(context.Background()) }

// Shutdown stops the jobs: the running scans are cancelled and their jobs
// released to the queue (for another replica, or this one restarted), and
// callers waiting for a job in this replica are answered. It waits for
// that until ctx ends; then it releases the jobs of scans that have not
// stopped (stuck in I/O that ignores cancellation) itself and returns
// ctx's error without waiting for them.
func (j *Runner) Shutdown(ctx context.Context) error {
	if j.cancel != nil {
		j.cancel()
	}
	done := make(chan struct{})
	go func() {
		j.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	n := j.releaseRunning()
	j.log.Warn("shutdown: scans still running when the shutdown timeout passed; their jobs were released", "jobs", n)
	return fmt.Errorf("shutdown: %d scan jobs did not stop: %w", n, ctx.Err())
}
