// Package config reads lapps' YAML configuration file: registry
// credentials, the platform to scan, and the vulnerability sources. The
// README documents every field.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/updater"
)

// Config is the whole configuration file.
type Config struct {
	// Platform is the default os/arch[/variant] to scan in multi-platform
	// images.
	Platform string `yaml:"platform"`
	// Registries holds per-registry settings, keyed by host[:port].
	Registries map[string]Registry `yaml:"registries"`
	// VulnDB configures vulnerability data.
	VulnDB VulnDB `yaml:"vulndb"`
	// Server configures `lapps serve`.
	Server Server `yaml:"server"`
	// Policy decides `lapps app deploy` and `lapps app security scan`
	// (absent: every image passes). Load makes its relative vex paths
	// relative to the configuration file's directory.
	Policy *policy.Policy `yaml:"policy"`
	// Database is the database lapps works on, unless --db or LAPPS_DB
	// name another.
	Database Database `yaml:"database"`
	// Limits bounds what scans read of images (see Limits).
	Limits Limits `yaml:"limits"`
}

// Database names the database: an SQLite file or a PostgreSQL URL.
type Database struct {
	// URL is a PostgreSQL connection URL (postgres://… or
	// postgresql://…) or the path of an SQLite file; Load makes a
	// relative path relative to the configuration file's directory.
	URL string `yaml:"url"`
	// URLEnv names an environment variable holding URL instead, so that
	// a URL with a password stays out of the file. It must be set.
	URLEnv string `yaml:"url_env"`
}

// DatabaseURL returns the database the file names ("" for none).
func (c *Config) DatabaseURL() string {
	if c == nil {
		return ""
	}
	if c.Database.URLEnv != "" {
		return os.Getenv(c.Database.URLEnv)
	}
	return c.Database.URL
}

// Server configures `lapps serve`. Every field has a default.
type Server struct {
	// Addr is the address to listen on (default 127.0.0.1:6060).
	Addr string `yaml:"addr"`
	// TLSCert and TLSKey are PEM files; with both, the server speaks TLS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// RequireToken requires a bearer token on /v1 (default true; tokens
	// come from `lapps token create`).
	RequireToken *bool `yaml:"require_token"`
	// ScanConcurrency is how many scan jobs run at once (default 2).
	ScanConcurrency int `yaml:"scan_concurrency"`
	// ScrubInterval is how often every image is re-evaluated (default 6h).
	ScrubInterval time.Duration `yaml:"scrub_interval"`
	// GC configures garbage collection.
	GC GC `yaml:"gc"`
	// Webhooks receive notifications when new data affects indexed
	// images.
	Webhooks []notifier.Webhook `yaml:"webhooks"`
	// DeliveryInterval is how often the outbox is delivered (default 2s).
	DeliveryInterval time.Duration `yaml:"delivery_interval"`
	// DeliveryBackoff is the retry schedule of failed deliveries: base
	// (default 10s), doubled after each failure up to max (default 1h),
	// spread by ±jitter (a fraction below 1; default 0.2 when the whole
	// section is absent, as given otherwise).
	DeliveryBackoff notifier.Backoff `yaml:"delivery_backoff"`
	// DeliveryLease is how long a delivery attempt keeps its notification
	// from other deliverers, hence how soon a notification whose
	// deliverer died (a crash, SIGKILL) is sent again (default: the
	// longest webhook timeout, at least 10s, plus a minute). It must
	// exceed every webhook's timeout, or a slow delivery would be sent
	// twice concurrently.
	DeliveryLease time.Duration `yaml:"delivery_lease"`
	// LeaseTTL is the lease under which a replica runs singleton work
	// (each source's ingest, notify, scrub, gc, deliver), renewed every
	// third of it while the work lasts: how soon another replica on the
	// same database takes over the work of one that died (default 1m).
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// Admission enables the Kubernetes validating admission webhook at
	// POST /v1/admission (absent: not served).
	Admission *Admission `yaml:"admission"`
	// Apps holds per-app settings keyed by app name: the policy of the
	// app and of each of its environments (see Config.PolicyFor).
	Apps map[string]AppConfig `yaml:"apps"`
	// LocalImages are the directories under which API callers may name
	// images by a local transport (oci:, oci-archive:, docker-archive:,
	// dir:), symbolic links resolved (default: none, every local
	// transport is refused through the API). Load makes relative paths
	// relative to the configuration file's directory.
	LocalImages []string `yaml:"local_images"`
	// Registries guards the registries the server reaches.
	Registries ServerRegistries `yaml:"registries"`
	// ShutdownTimeout bounds the stop of `lapps serve` after SIGTERM or
	// SIGINT (default 30s): running scan jobs are cancelled and released
	// to the queue, requests finished, and the process exits once it
	// has passed even if a scan is stuck.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ScanTimeout bounds every scan job (default 30m); a job that takes
	// longer fails.
	ScanTimeout time.Duration `yaml:"scan_timeout"`
	// Harbor configures Harbor's scanner adapter under /harbor.
	Harbor ServerHarbor `yaml:"harbor"`
	// Console configures the web console served at /.
	Console ServerConsole `yaml:"console"`
	// ReportCache bounds the cache of encoded reports.
	ReportCache ServerReportCache `yaml:"report_cache"`
}

// ServerConsole configures the web console (package web) at /.
type ServerConsole struct {
	// Disabled turns the console off (/ then answers 404).
	Disabled bool `yaml:"disabled"`
	// SessionKey (or the environment variable SessionKeyEnv names), at
	// least 16 bytes, signs the console's session cookies; replicas
	// behind one address need the same one. Default: a random key per
	// process (sessions end when it restarts and work on it alone).
	SessionKey    string `yaml:"session_key"`
	SessionKeyEnv string `yaml:"session_key_env"`
	// SessionTTL is how long a sign-in lasts (default 8h).
	SessionTTL time.Duration `yaml:"session_ttl"`
}

// Key returns the session key ("" for none).
func (c ServerConsole) Key() string {
	if c.SessionKeyEnv != "" {
		return os.Getenv(c.SessionKeyEnv)
	}
	return c.SessionKey
}

// ServerReportCache configures the cache of encoded reports: each
// replica keeps the reports it answered, by what they are made of (the
// scan, the manifest, the vulnerability data version read from the
// database at every request), and answers them again without matching.
type ServerReportCache struct {
	// MaxBytes bounds the memory of the reports kept ("64MiB"; default
	// 64 MiB when 0).
	MaxBytes ByteSize `yaml:"max_bytes"`
	// Off turns the cache off.
	Off bool `yaml:"off"`
	// MaxAge bounds how long a live report is answered from the cache
	// (default 10m).
	MaxAge time.Duration `yaml:"max_age"`
}

// Bytes returns the bound of the report cache for the server: -1 when it
// is off, 0 for the default.
func (r ServerReportCache) Bytes() int64 {
	if r.Off {
		return -1
	}
	return int64(r.MaxBytes)
}

// ServerHarbor configures Harbor's scanner adapter (served under /harbor).
type ServerHarbor struct {
	// CredentialsKey (or the environment variable CredentialsKeyEnv
	// names) seals the registry credentials Harbor sends with a scan
	// while its job waits in the shared queue: every replica needs the
	// same one to run the others' Harbor scans. At least 16 bytes.
	// Default: a random key per replica, held in memory, so that a Harbor
	// scan runs only on the replica that accepted it.
	CredentialsKey    string `yaml:"credentials_key"`
	CredentialsKeyEnv string `yaml:"credentials_key_env"`
}

// Key returns the credentials key ("" for none).
func (h ServerHarbor) Key() string {
	if h.CredentialsKeyEnv != "" {
		return os.Getenv(h.CredentialsKeyEnv)
	}
	return h.CredentialsKey
}

// ServerRegistries guards the registries `lapps serve` reaches for its
// callers.
type ServerRegistries struct {
	// Allow lists the registries the server may reach although they
	// resolve to loopback, private, link-local or metadata addresses,
	// which are refused otherwise (at dial time, so that DNS rebinding
	// cannot get past it): host names as written in references ("host",
	// "host:port"), IP addresses or CIDR prefixes ("10.0.0.0/8").
	// Default: none.
	Allow []string `yaml:"allow"`
}

// Defaults of the server's bounds.
const (
	DefaultShutdownTimeout = 30 * time.Second
	DefaultScanTimeout     = 30 * time.Minute
)

// ShutdownWait returns ShutdownTimeout or its default.
func (s Server) ShutdownWait() time.Duration {
	if s.ShutdownTimeout <= 0 {
		return DefaultShutdownTimeout
	}
	return s.ShutdownTimeout
}

// ScanDeadline returns ScanTimeout or its default.
func (s Server) ScanDeadline() time.Duration {
	if s.ScanTimeout <= 0 {
		return DefaultScanTimeout
	}
	return s.ScanTimeout
}

// AppConfig is the server configuration of one app.
type AppConfig struct {
	// Policy decides the app's images in every environment without its
	// own policy (absent: the top-level policy).
	Policy *policy.Policy `yaml:"policy"`
	// Environments holds per-environment settings keyed by name.
	Environments map[string]EnvConfig `yaml:"environments"`
}

// EnvConfig is the server configuration of one environment of an app.
type EnvConfig struct {
	// Policy decides the app's images in this environment (absent: the
	// app's policy).
	Policy *policy.Policy `yaml:"policy"`
}

// PolicyFor returns the policy deciding app in env: the environment's,
// else the app's, else the top-level policy (nil: every image passes).
func (c *Config) PolicyFor(app, env string) *policy.Policy {
	if a, ok := c.Server.Apps[app]; ok {
		if e, ok := a.Environments[env]; ok && e.Policy != nil {
			return e.Policy
		}
		if a.Policy != nil {
			return a.Policy
		}
	}
	return c.Policy
}

// Admission configures the Kubernetes admission webhook. Its callers must
// authenticate (a lapps token with the scan scope, Token, or a client
// certificate signed by ClientCA) unless AllowAnonymous, over TLS unless
// AllowPlainHTTP.
type Admission struct {
	// Policy decides each image's latest scan; its vex paths are relative
	// to the working directory of `lapps serve`.
	Policy *policy.Policy `yaml:"policy"`
	// FailOpen allows objects with images not scanned yet (default false:
	// denied). Unscanned images are queued for scanning either way.
	FailOpen bool `yaml:"fail_open"`
	// Token, when set, is a static bearer token a caller may send
	// instead of a lapps token (a kubeconfig given to the API server
	// with --admission-control-config-file can send one).
	Token string `yaml:"token"`
	// ClientCA is a PEM file of the certificate authorities whose client
	// certificates authenticate a caller (the API server's, given in its
	// --admission-control-config-file kubeconfig). The server then asks
	// every TLS client for a certificate (verified if given). Needs
	// tls_cert and tls_key.
	ClientCA string `yaml:"client_ca"`
	// AllowAnonymous lets callers without a token or certificate in
	// (default false: 401).
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// AllowPlainHTTP answers reviews over plain HTTP (default false:
	// refused, since reviews and tokens would cross the network in
	// clear).
	AllowPlainHTTP bool `yaml:"allow_plain_http"`
	// MaxImages is the most distinct images a review may name (default
	// 256); a review naming more is denied. A pod has a few dozen.
	MaxImages int `yaml:"max_images"`
	// ScansPerReview is the most scans one review queues for images not
	// scanned yet (default 8); the rest are queued by later reviews.
	ScansPerReview int `yaml:"scans_per_review"`
	// MaxScans is the most scans queued by admission that may be queued
	// or running at once in this replica (default 64).
	MaxScans int `yaml:"max_scans"`
	// CacheTTL is how long an image's verdict is reused (default 5s;
	// negative: not cached).
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// Platform is the platform unscanned images are scanned for.
	Platform string `yaml:"platform"`
}

// GC configures garbage collection.
type GC struct {
	// Interval between collections (default 1h).
	Interval time.Duration `yaml:"interval"`
	// KeepScans is how many scans of each image are kept (default 10).
	KeepScans int `yaml:"keep_scans"`
	// ManifestTTL removes manifests neither scanned nor referenced for
	// this long (default 720h, 30 days).
	ManifestTTL time.Duration `yaml:"manifest_ttl"`
	// DeliveredTTL removes delivered notifications older than this
	// (default 168h).
	DeliveredTTL time.Duration `yaml:"delivered_ttl"`
	// JobTTL removes finished scan jobs, whose results clients collect,
	// older than this (default 24h).
	JobTTL time.Duration `yaml:"job_ttl"`
	// Batch is how many rows one delete takes (default 500).
	Batch int `yaml:"batch"`
}

// WithDefaults returns g with its defaults filled in.
func (g GC) WithDefaults() GC {
	if g.Interval <= 0 {
		g.Interval = time.Hour
	}
	if g.KeepScans <= 0 {
		g.KeepScans = 10
	}
	if g.ManifestTTL <= 0 {
		g.ManifestTTL = 30 * 24 * time.Hour
	}
	if g.DeliveredTTL <= 0 {
		g.DeliveredTTL = 7 * 24 * time.Hour
	}
	if g.JobTTL <= 0 {
		g.JobTTL = 24 * time.Hour
	}
	if g.Batch <= 0 {
		g.Batch = 500
	}
	return g
}

// DeliveryEvery returns the delivery interval or its default.
func (s Server) DeliveryEvery() time.Duration {
	if s.DeliveryInterval <= 0 {
		return 2 * time.Second
	}
	return s.DeliveryInterval
}

// Backoff returns the delivery retry schedule, with defaults for what
// the delivery_backoff section leaves out.
func (s Server) Backoff() notifier.Backoff {
	b := s.DeliveryBackoff
	if b == (notifier.Backoff{}) {
		return notifier.DefaultBackoff
	}
	if b.Base <= 0 {
		b.Base = notifier.DefaultBackoff.Base
	}
	if b.Max <= 0 {
		b.Max = max(notifier.DefaultBackoff.Max, b.Base)
	}
	return b
}

// ScrubEvery returns the scrub interval or its default.
func (s Server) ScrubEvery() time.Duration {
	if s.ScrubInterval <= 0 {
		return 6 * time.Hour
	}
	return s.ScrubInterval
}

// Defaults of the server section.
const (
	DefaultAddr = "127.0.0.1:6060"
)

// TokenRequired reports whether the server requires tokens.
func (s Server) TokenRequired() bool { return s.RequireToken == nil || *s.RequireToken }

// ListenAddr returns Addr or the default.
func (s Server) ListenAddr() string {
	if s.Addr == "" {
		return DefaultAddr
	}
	return s.Addr
}

// Registry is how to reach one registry.
type Registry struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordEnv names an environment variable holding the password, so
	// that the file need not hold it.
	PasswordEnv string `yaml:"password_env"`
	// Token is a bearer token (registry identity token).
	Token string `yaml:"token"`
	// Insecure allows plain HTTP and unverified TLS for this registry.
	Insecure bool `yaml:"insecure"`
}

// VulnDB configures vulnerability data.
type VulnDB struct {
	// Sources replaces the default sources when given.
	Sources []updater.Source `yaml:"sources"`
}

// isURL reports whether s is a URL with a scheme (postgres://…) rather
// than a file path.
func isURL(s string) bool { return strings.Contains(s, "://") }

// Load reads the configuration file at path. An empty path gives the
// defaults.
func Load(path string) (*Config, error) {
	c := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		rel := func(p *policy.Policy) {
			if p == nil {
				return
			}
			for i, v := range p.VEX {
				if v != "" && !filepath.IsAbs(v) {
					p.VEX[i] = filepath.Join(filepath.Dir(path), v)
				}
			}
		}
		rel(c.Policy)
		for i, d := range c.Server.LocalImages {
			if d != "" && !filepath.IsAbs(d) {
				c.Server.LocalImages[i] = filepath.Join(filepath.Dir(path), d)
			}
		}
		if u := c.Database.URL; u != "" && !isURL(u) && !filepath.IsAbs(u) {
			c.Database.URL = filepath.Join(filepath.Dir(path), u)
		}
		for _, a := range c.Server.Apps {
			rel(a.Policy)
			for _, e := range a.Environments {
				rel(e.Policy)
			}
		}
	}
	if err := c.validate(); err != nil {
		if path != "" {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		return nil, err
	}
	return c, nil
}

func (c *Config) validate() error {
	seen := map[string]bool{}
	for i, s := range c.VulnDB.Sources {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("vulndb.sources[%d]: %w", i, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("vulndb.sources[%d]: duplicate source name %q", i, s.Name)
		}
		seen[s.Name] = true
	}
	switch d := c.Database; {
	case d.URL != "" && d.URLEnv != "":
		return errors.New("database: url and url_env exclude each other")
	case d.URLEnv != "" && os.Getenv(d.URLEnv) == "":
		return fmt.Errorf("database.url_env: environment variable %s is not set", d.URLEnv)
	}
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if (c.Server.TLSCert == "") != (c.Server.TLSKey == "") {
		return errors.New("server: tls_cert and tls_key go together")
	}
	if c.Server.ReportCache.MaxAge < 0 {
		return errors.New("server.report_cache.max_age: must not be negative")
	}
	if c.Server.ScanConcurrency < 0 {
		return errors.New("server.scan_concurrency: must not be negative")
	}
	if b := c.Server.DeliveryBackoff; b.Base < 0 || b.Max < 0 || b.Jitter < 0 || b.Jitter >= 1 {
		return errors.New("server.delivery_backoff: base and max must not be negative, jitter must be in [0, 1)")
	}
	if b := c.Server.DeliveryBackoff; b.Base > 0 && b.Max > 0 && b.Max < b.Base {
		return fmt.Errorf("server.delivery_backoff: max %s is below base %s", b.Max, b.Base)
	}
	if c.Server.DeliveryLease < 0 {
		return errors.New("server.delivery_lease: must not be negative")
	}
	if c.Server.LeaseTTL < 0 {
		return errors.New("server.lease_ttl: must not be negative")
	}
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if a := c.Server.Admission; a != nil {
		if err := a.Policy.Validate(); err != nil {
			return fmt.Errorf("server.admission.policy: %w", err)
		}
		if a.ClientCA != "" && c.Server.TLSCert == "" {
			return errors.New("server.admission.client_ca: client certificates need TLS (server.tls_cert and server.tls_key)")
		}
		if a.MaxImages < 0 || a.ScansPerReview < 0 || a.MaxScans < 0 {
			return errors.New("server.admission: max_images, scans_per_review and max_scans must not be negative")
		}
	}
	if c.Server.ShutdownTimeout < 0 || c.Server.ScanTimeout < 0 {
		return errors.New("server: shutdown_timeout and scan_timeout must not be negative")
	}
	if k := c.Server.Harbor.Key(); k != "" && len(k) < 16 {
		return errors.New("server.harbor.credentials_key: at least 16 bytes")
	}
	if k := c.Server.Harbor.Key(); k != "" && len(k) < 16 {
		return errors.New("server.harbor.credentials_key: at least 16 bytes")
	}
	for i, d := range c.Server.LocalImages {
		if strings.TrimSpace(d) == "" {
			return fmt.Errorf("server.local_images[%d]: empty directory", i)
		}
	}
	for i, a := range c.Server.Registries.Allow {
		if strings.TrimSpace(a) == "" || strings.ContainsAny(a, " \t@?#") || strings.Contains(a, "://") ||
			(strings.Contains(a, "/") && !isPrefix(a)) {
			return fmt.Errorf("server.registries.allow[%d]: %q: want a host, host:port, IP address or CIDR prefix", i, a)
		}
	}
	for _, app := range slices.Sorted(maps.Keys(c.Server.Apps)) {
		a := c.Server.Apps[app]
		if app == "" {
			return errors.New("server.apps: empty app name")
		}
		if err := a.Policy.Validate(); err != nil {
			return fmt.Errorf("server.apps.%s.policy: %w", app, err)
		}
		for _, env := range slices.Sorted(maps.Keys(a.Environments)) {
			if env == "" {
				return fmt.Errorf("server.apps.%s.environments: empty environment name", app)
			}
			if err := a.Environments[env].Policy.Validate(); err != nil {
				return fmt.Errorf("server.apps.%s.environments.%s.policy: %w", app, env, err)
			}
		}
	}
	names := map[string]bool{}
	for i, w := range c.Server.Webhooks {
		if err := w.Validate(); err != nil {
			return fmt.Errorf("server.webhooks[%d]: %w", i, err)
		}
		if names[w.Name] {
			return fmt.Errorf("server.webhooks[%d]: duplicate name %q", i, w.Name)
		}
		names[w.Name] = true
		timeout := w.Timeout
		if timeout <= 0 {
			timeout = notifier.DefaultTimeout
		}
		if l := c.Server.DeliveryLease; l > 0 && l <= timeout {
			return fmt.Errorf("server.delivery_lease %s must exceed the timeout %s of webhook %s", l, timeout, w.Name)
		}
	}
	for host, r := range c.Registries {
		if r.PasswordEnv != "" && os.Getenv(r.PasswordEnv) == "" {
			return fmt.Errorf("registries.%s.password_env: environment variable %s is not set", host, r.PasswordEnv)
		}
	}
	return nil
}

// Sources returns the configured sources, or the defaults.
func (c *Config) Sources() []updater.Source {
	if len(c.VulnDB.Sources) > 0 {
		return c.VulnDB.Sources
	}
	return updater.DefaultSources()
}

// Credentials returns the registry credentials by host.
func (c *Config) Credentials() map[string]image.Credential {
	out := map[string]image.Credential{}
	for host, r := range c.Registries {
		pw := r.Password
		if r.PasswordEnv != "" {
			pw = os.Getenv(r.PasswordEnv)
		}
		if r.Username != "" || pw != "" || r.Token != "" {
			out[host] = image.Credential{Username: r.Username, Password: pw, Token: r.Token}
		}
	}
	return out
}

// Insecure reports whether the registry of host is configured insecure.
func (c *Config) Insecure(host string) bool { return c.Registries[host].Insecure }

// InsecureRegistries returns the hosts of the registries configured
// insecure, sorted.
func (c *Config) InsecureRegistries() []string {
	var out []string
	for host, r := range c.Registries {
		if r.Insecure {
			out = append(out, host)
		}
	}
	slices.Sort(out)
	return out
}

// isPrefix reports whether s is a CIDR prefix.
func isPrefix(s string) bool {
	_, err := netip.ParsePrefix(s)
	return err == nil
}
