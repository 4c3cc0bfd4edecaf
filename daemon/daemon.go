// Package daemon is lapps serve: it owns the lifecycle of a server
// replica. It builds the service on the store, the scan job runner
// (package jobs), the HTTP API (package server) with TLS, the notify
// chain (notifier, deliverer) and the scheduled work (ingest/<source>,
// scrub, alerts, notify, deliver, gc), starts them, and stops them
// within server.shutdown_timeout when its context ends.
package daemon

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/config"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/scheduler"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/web"
)

// Option configures Run.
type Option func(*options)

type options struct {
	addr    string
	log     *slog.Logger
	out     io.Writer
	version string
}

// WithAddr sets the address to listen on (default server.addr of the
// configuration, else 127.0.0.1:6060).
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithOutput sets where the line saying where the server listens is
// written, for the operator and the tests that start it (default
// os.Stderr).
func WithOutput(w io.Writer) Option { return func(o *options) { o.out = w } }

// WithVersion sets the version the server reports (Harbor's metadata;
// default "dev").
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// ConfigError is an error in the configuration Run was given: the
// command line exits with its usage code for it.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns the error in the configuration.
func (e ConfigError) Unwrap() error { return e.Err }

// Run runs lapps serve on st until ctx ends: the HTTP API (with TLS when
// configured), this replica's scan jobs, and the scheduled work
// (ingest/<source>, scrub, alerts, notify, deliver, gc) under leases
// shared with the other replicas on the database. When ctx ends it stops
// within server.shutdown_timeout: running scans are cancelled and their
// jobs released, requests finished, then connections closed. Run owns
// st and closes it when it returns. Errors in cfg are ConfigErrors.
func Run(ctx context.Context, cfg *config.Config, st store.Store, opts ...Option) error {
	defer st.Close()
	o := options{log: slog.Default(), out: os.Stderr, version: "dev"}
	for _, opt := range opts {
		opt(&o)
	}
	addr := o.addr
	if addr == "" {
		addr = cfg.Server.ListenAddr()
	}
	log := o.log
	var err error
	sources := cfg.Sources()
	sc := cfg.Server
	// The server's trust boundaries, on every image it opens whoever
	// asks (API, registry events, admission, deploys, app scans, scrub):
	// local transports only under server.local_images (none by default),
	// registries at internal addresses only when listed in
	// server.registries.allow, insecure access only for the registries
	// the configuration marks insecure.
	serverImages := []image.Option{image.WithLocalRoots(sc.LocalImages), image.WithRegistryAllow(sc.Registries.Allow)}
	local := NewLocal(cfg, st, service.WithSources(sources), service.WithLogger(log), service.WithCredentials(cfg.Credentials()),
		service.WithImageOptions(serverImages...),
		service.WithInsecureRegistries(cfg.InsecureRegistries()))
	metrics := server.NewMetrics(st.OutboxDepth)
	srvOpts := []server.Option{server.WithLogger(log), server.WithMetrics(metrics),
		server.WithLocalImages(sc.LocalImages), server.WithTokenAdmin(st), server.WithVersion(o.version)}
	jobOpts := []jobs.Option{jobs.WithLogger(log), jobs.WithConcurrency(sc.ScanConcurrency), jobs.WithLocalImages(sc.LocalImages),
		jobs.WithScanTimeout(sc.ScanDeadline()), jobs.WithCredentialKey([]byte(sc.Harbor.Key())), jobs.WithObserver(metrics.ObserveScan)}
	if sc.TokenRequired() {
		srvOpts = append(srvOpts, server.WithTokens(server.StoreTokens{Store: st}))
	}
	if !sc.Console.Disabled {
		if k := sc.Console.Key(); k != "" && len(k) < 16 {
			return ConfigError{errors.New("server.console.session_key: at least 16 bytes")}
		}
		srvOpts = append(srvOpts, server.WithConsole(st, web.Options{Key: []byte(sc.Console.Key()), SessionTTL: sc.Console.SessionTTL, Logger: log}))
	}
	var clientCAs *x509.CertPool
	if ad := sc.Admission; ad != nil {
		var vex *policy.VEX
		if ad.Policy != nil && len(ad.Policy.VEX) > 0 {
			if vex, err = policy.LoadVEX(ad.Policy.VEX...); err != nil {
				return ConfigError{fmt.Errorf("server.admission.policy: %w", err)}
			}
		}
		if ad.ClientCA != "" {
			if clientCAs, err = server.LoadClientCAs(ad.ClientCA); err != nil {
				return ConfigError{fmt.Errorf("server.admission.client_ca: %w", err)}
			}
		}
		if sc.TLSCert == "" {
			if ad.AllowPlainHTTP {
				log.Warn("server.admission is served over plain HTTP (allow_plain_http): reviews and tokens cross the network in clear; set server.tls_cert and server.tls_key")
			} else {
				log.Warn("server.admission is configured but the server speaks plain HTTP: every review will be refused; set server.tls_cert and server.tls_key (or allow_plain_http for a test setup)")
			}
		}
		if ad.Token == "" && clientCAs == nil && !ad.AllowAnonymous {
			log.Info("admission callers authenticate with lapps tokens that have the scan scope (no server.admission.token or client_ca is set)")
		}
		srvOpts = append(srvOpts, server.WithAdmission(server.AdmissionConfig{Policy: ad.Policy, VEX: vex, FailOpen: ad.FailOpen, Token: ad.Token,
			Tokens: server.StoreTokens{Store: st}, ClientCAs: clientCAs, AllowAnonymous: ad.AllowAnonymous, AllowPlainHTTP: ad.AllowPlainHTTP,
			MaxImages: ad.MaxImages, ScansPerReview: ad.ScansPerReview, MaxScans: ad.MaxScans,
			CacheTTL: ad.CacheTTL, Platform: ad.Platform}))
	}
	// Deployments and app scans are decided under the policy of this
	// configuration (per app and environment), never one sent by a
	// client; their image scans run as jobs of the queue; verdict alerts
	// go to every configured webhook.
	var hookNames []string
	for _, w := range sc.Webhooks {
		hookNames = append(hookNames, w.Name)
	}
	var appsLocal *apps.Local // set by server.New
	srvOpts = append(srvOpts, server.WithApps(func(scans service.Service) apps.Service {
		appsLocal = apps.New(st, scans, serverImages...)
		appsLocal.SetAlertWebhooks(hookNames)
		return appsLocal
	}, cfg.PolicyFor))
	// Data changed through the API (update, import) is notified at once,
	// not at the next catch-up run of the notify job.
	var sched *scheduler.Scheduler // set before the API serves
	api := notifyAfterChange{Service: local, trigger: func() { sched.Trigger("notify") }}
	// The singleton work runs in one replica at a time under leases in
	// the database (server.lease_ttl): a replica that dies holding one
	// hands its work over when the lease expires. Its scan jobs, shared
	// through the database's queue, are claimed under the same name and
	// lease.
	locker := scheduler.NewLeaseLocker(st, "", cfg.Server.LeaseTTL, log)
	log.Info("replica", "holder", locker.Holder())
	jobOpts = append(jobOpts, jobs.WithReplica(locker.Holder(), locker.TTL()))
	srvOpts = append(srvOpts, server.WithReportCache(server.ReportCacheConfig{MaxBytes: sc.ReportCache.Bytes(), MaxAge: sc.ReportCache.MaxAge, Versions: local}))
	// The scan jobs run on the service itself; the API queues them and
	// reads them back. They run from now until the shutdown below.
	runner := jobs.New(st, local, jobOpts...)
	runner.Start(context.WithoutCancel(ctx))
	srv := server.New(api, runner, srvOpts...)
	var hs *http.Server
	// The stop is bounded by server.shutdown_timeout, even with scans
	// stuck in I/O: running jobs are cancelled and released, requests
	// finished (then connections closed), and the process stops waiting
	// once the timeout has passed.
	defer func() {
		timeout := sc.ShutdownWait()
		start := time.Now()
		ctx, stop := context.WithTimeout(context.Background(), timeout)
		defer stop()
		// The jobs get the timeout less a reserve, in which the jobs of
		// stuck scans are released.
		jctx, jstop := context.WithTimeout(ctx, timeout-min(2*time.Second, timeout/4))
		defer jstop()
		var wg sync.WaitGroup
		if hs != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := hs.Shutdown(jctx); err != nil {
					_ = hs.Close()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(jctx); err != nil {
				log.Warn("shutdown", "err", err)
			}
		}()
		if err := runner.Shutdown(jctx); err != nil {
			log.Warn("shutdown", "err", err)
		}
		wg.Wait()
		log.Info("stopped", "after", time.Since(start).Round(time.Millisecond))
	}()

	webhooks := cfg.Server.Webhooks
	deliverer, err := notifier.NewDeliverer(st, webhooks)
	if err != nil {
		return ConfigError{err}
	}
	deliverer.Metrics = metrics
	deliverer.Backoff = cfg.Server.Backoff()
	if cfg.Server.DeliveryLease > 0 {
		deliverer.Lease = cfg.Server.DeliveryLease
	}
	deliverer.Logger = log
	// notify runs the notifier for a source; one run at a time in all the
	// replicas (the mutex in this one, whose lease renews rather than
	// excludes; the lease across them), so that no operation is enqueued
	// twice (Notify's contract). When another replica is notifying the
	// source, this run leaves it to it (and to the catch-up job).
	var notifyMu sync.Mutex
	notify := func(ctx context.Context, source string) error {
		notifyMu.Lock()
		defer notifyMu.Unlock()
		release, ok, err := locker.TryLock(ctx, "notify/"+source)
		if err != nil {
			return fmt.Errorf("notify %s: %w", source, err)
		}
		if !ok {
			log.Debug("another replica notifies the source", "source", source)
			return nil
		}
		defer release()
		n, err := notifier.Notify(ctx, st, source, webhooks, notifier.WithLogger(log))
		if n > 0 {
			sched.Trigger("deliver") // now rather than at its next run
			sched.Trigger("alerts")  // the new data may change app verdicts
		}
		return err
	}
	var work []scheduler.Job
	for _, s := range sources {
		if !s.IsEnabled() {
			continue
		}
		work = append(work, scheduler.Job{
			Name: "ingest/" + s.Name, Interval: s.EffectiveInterval(), Jitter: 0.1, RunAtStart: true, Singleton: true,
			Run: func(ctx context.Context) error {
				res, err := local.UpdateVulnDB(ctx, []string{s.Name})
				if err != nil {
					return err
				}
				if len(res) == 1 && res[0].Error == "" {
					metrics.SetSourceRecords(s.Name, res[0].Records)
				}
				if len(res) == 1 && res[0].Error != "" {
					return errors.New(res[0].Error)
				}
				// What the new data means for the images already indexed,
				// and for the apps' verdicts.
				defer sched.Trigger("alerts")
				return notify(ctx, s.Name)
			},
		})
	}
	gc := cfg.Server.GC.WithDefaults()
	work = append(work,
		scheduler.Job{Name: "scrub", Interval: cfg.Server.ScrubEvery(), Jitter: 0.1, Singleton: true, Run: func(ctx context.Context) error {
			_, err := local.Scrub(ctx)
			sched.Trigger("alerts")
			return err
		}},
		// Verdict alerts: each app's current deployments evaluated under
		// their policies; changes are enqueued for the webhooks.
		scheduler.Job{Name: "alerts", Interval: cfg.Server.ScrubEvery(), Jitter: 0.1, RunAtStart: true, Singleton: true, Run: func(ctx context.Context) error {
			alerts, err := appsLocal.CheckVerdicts(ctx, cfg.PolicyFor, time.Now())
			if len(alerts) > 0 {
				sched.Trigger("deliver")
			}
			return err
		}},
		// Data can also change through the API (update, import): catch up.
		scheduler.Job{Name: "notify", Interval: 10 * time.Second, Singleton: true, Run: func(ctx context.Context) error {
			statuses, err := st.SourceStatuses(ctx)
			if err != nil {
				return err
			}
			var errs []error
			for _, s := range statuses {
				errs = append(errs, notify(ctx, s.Source))
			}
			return errors.Join(errs...)
		}},
		// Claims keep deliveries apart across replicas already; the lease
		// keeps one replica's deliverer on the outbox at a time.
		scheduler.Job{Name: "deliver", Interval: cfg.Server.DeliveryEvery(), RunAtStart: true, Singleton: true, Run: func(ctx context.Context) error {
			for {
				delivered, failed, err := deliverer.DeliverOnce(ctx)
				if err != nil || delivered+failed < deliverer.Batch {
					return err
				}
			}
		}},
		scheduler.Job{Name: "gc", Interval: gc.Interval, Jitter: 0.1, Singleton: true, Run: func(ctx context.Context) error {
			_, err := local.GC(ctx, service.Retention{KeepScans: gc.KeepScans, ManifestTTL: gc.ManifestTTL, DeliveredTTL: gc.DeliveredTTL, JobTTL: gc.JobTTL, Batch: gc.Batch})
			return err
		}},
	)
	// A replica not leading a singleton job tries to take it over every
	// third of the lease: a dead leader's work resumes within 4/3 of it.
	sched, err = scheduler.New(work, log, metrics.ObserveJob, scheduler.WithLocker(locker), scheduler.WithLockRetry(locker.TTL()/3))
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return ConfigError{fmt.Errorf("listen on %s: %w", addr, err)}
	}
	hs = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if clientCAs != nil {
		hs.TLSConfig = server.ClientTLS(nil, clientCAs)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go sched.Run(ctx)
	errc := make(chan error, 1)
	go func() {
		scheme := "http"
		if cfg.Server.TLSCert != "" {
			scheme = "https"
			errc <- hs.ServeTLS(ln, cfg.Server.TLSCert, cfg.Server.TLSKey)
			return
		}
		log.Info("serving", "url", scheme+"://"+ln.Addr().String())
		errc <- hs.Serve(ln)
	}()
	fmt.Fprintf(o.out, "lapps: serving on %s (%d scheduled jobs)\n", ln.Addr(), len(work))
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	return nil
}

// NewLocal returns the in-process service on st with the configuration's
// bounds on what scans read (the limits section), and opts: what lapps
// serve and every local command run.
func NewLocal(cfg *config.Config, st store.Store, opts ...service.Option) *service.Local {
	lim := cfg.Limits
	opts = append([]service.Option{service.WithImageOptions(image.WithLimits(lim.ImageLimits())), service.WithSBOMLimits(lim.SBOMLimits())}, opts...)
	return service.NewLocal(st, indexer.New(all.Catalogers(), indexer.WithLimits(lim.IndexerLimits())), opts...)
}

// notifyAfterChange is the service the API serves: after an update or an
// import through the API it asks for a notifier run at once.
type notifyAfterChange struct {
	service.Service
	trigger func()
}

// UpdateVulnDB runs the sources, then triggers the notifier.
func (n notifyAfterChange) UpdateVulnDB(ctx context.Context, names []string) ([]service.SourceResult, error) {
	res, err := n.Service.UpdateVulnDB(ctx, names)
	if err == nil {
		n.trigger()
	}
	return res, err
}

// ImportVulnDB imports the data, then triggers the notifier.
func (n notifyAfterChange) ImportVulnDB(ctx context.Context, typ, path, name string, replace bool) (*service.SourceResult, error) {
	res, err := n.Service.ImportVulnDB(ctx, typ, path, name, replace)
	if err == nil {
		n.trigger()
	}
	return res, err
}
