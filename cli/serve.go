package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/scheduler"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/web"
)

func (a *app) serveCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the lapps server: the HTTP API, scheduled ingest, scrub and garbage collection",
		Long: `Runs the versioned JSON API under /v1 (described at /v1/openapi.json) and, in the
same process, each vulnerability source at its interval. The configuration
file's server section sets the address, TLS and tokens (docs/config.md);
nothing is needed to start. Point the CLI at it with --server or LAPPS_SERVER.`,
		Example: `  lapps serve
  lapps serve --addr 127.0.0.1:6060 -c lapps.yaml
  LAPPS_SERVER=http://127.0.0.1:6060 LAPPS_TOKEN=… lapps image security list debian:12`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if addr == "" {
				addr = a.cfg.Server.ListenAddr()
			}
			return a.serve(cmd.Context(), addr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "address to listen on (default "+"127.0.0.1:6060"+", or server.addr of the configuration)")
	return cmd
}

func (a *app) serve(ctx context.Context, addr string) error {
	log := slog.Default()
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	sources := a.cfg.Sources()
	sc := a.cfg.Server
	// The server's trust boundaries, on every image it opens whoever
	// asks (API, registry events, admission, deploys, app scans, scrub):
	// local transports only under server.local_images (none by default),
	// registries at internal addresses only when listed in
	// server.registries.allow, insecure access only for the registries
	// the configuration marks insecure.
	serverImages := []image.Option{image.WithLocalRoots(sc.LocalImages), image.WithRegistryAllow(sc.Registries.Allow)}
	local := a.newLocal(st, service.WithSources(sources), service.WithLogger(log), service.WithCredentials(a.cfg.Credentials()),
		service.WithImageOptions(serverImages...),
		service.WithInsecureRegistries(a.cfg.InsecureRegistries()))
	a.svc = local // closed by Main
	metrics := server.NewMetrics(st.OutboxDepth)
	opts := []server.Option{server.WithLogger(log), server.WithScanConcurrency(sc.ScanConcurrency), server.WithMetrics(metrics),
		server.WithLocalImages(sc.LocalImages), server.WithScanTimeout(sc.ScanDeadline()), server.WithTokenAdmin(st),
		server.WithVersion(Version), server.WithCredentialKey([]byte(sc.Harbor.Key()))}
	if sc.TokenRequired() {
		opts = append(opts, server.WithTokens(server.StoreTokens{Store: st}))
	}
	if !sc.Console.Disabled {
		if k := sc.Console.Key(); k != "" && len(k) < 16 {
			return usageError{errors.New("server.console.session_key: at least 16 bytes")}
		}
		opts = append(opts, server.WithConsole(st, web.Options{Key: []byte(sc.Console.Key()), SessionTTL: sc.Console.SessionTTL, Logger: log}))
	}
	var clientCAs *x509.CertPool
	if ad := sc.Admission; ad != nil {
		var vex *policy.VEX
		if ad.Policy != nil && len(ad.Policy.VEX) > 0 {
			if vex, err = policy.LoadVEX(ad.Policy.VEX...); err != nil {
				return usageError{fmt.Errorf("server.admission.policy: %w", err)}
			}
		}
		if ad.ClientCA != "" {
			if clientCAs, err = server.LoadClientCAs(ad.ClientCA); err != nil {
				return usageError{fmt.Errorf("server.admission.client_ca: %w", err)}
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
		opts = append(opts, server.WithAdmission(server.AdmissionConfig{Policy: ad.Policy, VEX: vex, FailOpen: ad.FailOpen, Token: ad.Token,
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
	opts = append(opts, server.WithApps(func(scans service.Service) apps.Service {
		appsLocal = apps.New(st, scans, serverImages...)
		appsLocal.SetAlertWebhooks(hookNames)
		return appsLocal
	}, a.cfg.PolicyFor))
	// Data changed through the API (update, import) is notified at once,
	// not at the next catch-up run of the notify job.
	var sched *scheduler.Scheduler // set before the API serves
	api := notifyAfterChange{Service: local, trigger: func() { sched.Trigger("notify") }}
	// The singleton work runs in one replica at a time under leases in
	// the database (server.lease_ttl): a replica that dies holding one
	// hands its work over when the lease expires. Its scan jobs, shared
	// through the database's queue, are claimed under the same name and
	// lease.
	locker := scheduler.NewLeaseLocker(st, "", a.cfg.Server.LeaseTTL, log)
	log.Info("replica", "holder", locker.Holder())
	opts = append(opts, server.WithReplica(locker.Holder(), locker.TTL()),
		server.WithReportCache(server.ReportCacheConfig{MaxBytes: sc.ReportCache.Bytes(), MaxAge: sc.ReportCache.MaxAge, Versions: local}))
	srv := server.New(api, st, opts...)
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
		if err := srv.Shutdown(jctx); err != nil {
			log.Warn("shutdown", "err", err)
		}
		wg.Wait()
		log.Info("stopped", "after", time.Since(start).Round(time.Millisecond))
	}()

	webhooks := a.cfg.Server.Webhooks
	deliverer, err := notifier.NewDeliverer(st, webhooks)
	if err != nil {
		return usageError{err}
	}
	deliverer.Metrics = metrics
	deliverer.Backoff = a.cfg.Server.Backoff()
	if a.cfg.Server.DeliveryLease > 0 {
		deliverer.Lease = a.cfg.Server.DeliveryLease
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
	var jobs []scheduler.Job
	for _, s := range sources {
		if !s.IsEnabled() {
			continue
		}
		jobs = append(jobs, scheduler.Job{
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
	gc := a.cfg.Server.GC.WithDefaults()
	jobs = append(jobs,
		scheduler.Job{Name: "scrub", Interval: a.cfg.Server.ScrubEvery(), Jitter: 0.1, Singleton: true, Run: func(ctx context.Context) error {
			_, err := local.Scrub(ctx)
			sched.Trigger("alerts")
			return err
		}},
		// Verdict alerts: each app's current deployments evaluated under
		// their policies; changes are enqueued for the webhooks.
		scheduler.Job{Name: "alerts", Interval: a.cfg.Server.ScrubEvery(), Jitter: 0.1, RunAtStart: true, Singleton: true, Run: func(ctx context.Context) error {
			alerts, err := appsLocal.CheckVerdicts(ctx, a.cfg.PolicyFor, time.Now())
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
		scheduler.Job{Name: "deliver", Interval: a.cfg.Server.DeliveryEvery(), RunAtStart: true, Singleton: true, Run: func(ctx context.Context) error {
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
	sched, err = scheduler.New(jobs, log, metrics.ObserveJob, scheduler.WithLocker(locker), scheduler.WithLockRetry(locker.TTL()/3))
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return usageError{fmt.Errorf("listen on %s: %w", addr, err)}
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
		if a.cfg.Server.TLSCert != "" {
			scheme = "https"
			errc <- hs.ServeTLS(ln, a.cfg.Server.TLSCert, a.cfg.Server.TLSKey)
			return
		}
		log.Info("serving", "url", scheme+"://"+ln.Addr().String())
		errc <- hs.Serve(ln)
	}()
	fmt.Fprintf(a.stderr, "lapps: serving on %s (%d scheduled jobs)\n", ln.Addr(), len(jobs))
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
