package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lapps.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	t.Setenv("LAPPS_TEST_PW", "s3cret")
	c, err := Load(write(t, `
platform: linux/arm64
registries:
  registry.example.com:
    username: ci
    password_env: LAPPS_TEST_PW
  10.0.0.5:5000:
    insecure: true
vulndb:
  sources:
    - {name: dsa, type: debian-dsa, path: /srv/dsa, interval: 2h}
server:
  addr: 127.0.0.1:7000
  scrub_interval: 30m
  gc: {keep_scans: 3}
  webhooks:
    - {name: team, url: "https://hooks.example.com/x", secret: k}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Platform != "linux/arm64" || c.Server.ListenAddr() != "127.0.0.1:7000" || c.Server.ScrubEvery() != 30*time.Minute {
		t.Errorf("config: %+v", c)
	}
	if cr := c.Credentials()["registry.example.com"]; cr.Username != "ci" || cr.Password != "s3cret" {
		t.Errorf("credentials: %+v", cr)
	}
	if !c.Insecure("10.0.0.5:5000") || c.Insecure("registry.example.com") {
		t.Error("insecure")
	}
	if s := c.Sources(); len(s) != 1 || s[0].Name != "dsa" || s[0].Interval != 2*time.Hour {
		t.Errorf("sources: %+v", s)
	}
	if g := c.Server.GC.WithDefaults(); g.KeepScans != 3 || g.Interval != time.Hour || g.Batch != 500 {
		t.Errorf("gc defaults: %+v", g)
	}
	if !c.Server.TokenRequired() {
		t.Error("tokens are required by default")
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sources()) < 5 || c.Server.ListenAddr() != DefaultAddr || c.Server.DeliveryEvery() != 2*time.Second {
		t.Errorf("defaults: %d sources, addr %s", len(c.Sources()), c.Server.ListenAddr())
	}
}

func TestLoadErrors(t *testing.T) {
	for name, body := range map[string]string{
		"unknown field":         "platfrom: linux/amd64\n",
		"duplicate source":      "vulndb:\n  sources:\n    - {name: a, type: osv, path: /x}\n    - {name: a, type: osv, path: /y}\n",
		"source without type":   "vulndb:\n  sources:\n    - {name: a, path: /x}\n",
		"tls half":              "server:\n  tls_cert: /x.crt\n",
		"password env unset":    "registries:\n  r:\n    password_env: LAPPS_TEST_NOT_SET_ANYWHERE\n",
		"webhook no secret":     "server:\n  webhooks:\n    - {name: w, url: 'http://127.0.0.1:1/x'}\n",
		"not yaml":              "server: [\n",
		"bad duration":          "server:\n  scrub_interval: soon\n",
		"policy threshold":      "policy:\n  fail_on: severe\n",
		"policy unknown key":    "policy:\n  fail_of: high\n",
		"policy ignore no id":   "policy:\n  ignore:\n    - {reason: x}\n",
		"app policy":            "server:\n  apps:\n    shop:\n      policy: {fail_on: severe}\n",
		"env policy":            "server:\n  apps:\n    shop:\n      environments:\n        prod:\n          policy: {warn_on: high, fail_on: low}\n",
		"app unknown key":       "server:\n  apps:\n    shop:\n      polcy: {fail_on: high}\n",
		"database url and env":  "database: {url: /x.db, url_env: HOME}\n",
		"database env unset":    "database: {url_env: LAPPS_TEST_NOT_SET_ANYWHERE}\n",
		"database unknown key":  "database: {dsn: postgres://x}\n",
		"client ca without tls": "server:\n  admission: {client_ca: /ca.pem}\n",
		"negative max images":   "server:\n  admission: {max_images: -1}\n",
		"negative scan timeout": "server:\n  scan_timeout: -1s\n",
		"report cache bytes":    "server:\n  report_cache: {max_bytes: -1}\n",
		"report cache age":      "server:\n  report_cache: {max_age: -1m}\n",
		"empty local images":    "server:\n  local_images: ['']\n",
		"allow a URL":           "server:\n  registries: {allow: ['http://10.0.0.1']}\n",
		"allow a path":          "server:\n  registries: {allow: ['10.0.0.1/x']}\n",
		"insecure per request":  "server:\n  registries: {insecure: true}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, body))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "lapps.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
	if _, err := Load("/nonexistent/lapps.yaml"); err == nil {
		t.Error("missing file accepted")
	}
}

// TestServerTrust reads the server's trust boundaries and bounds, with
// their defaults.
func TestServerTrust(t *testing.T) {
	p := write(t, `
registries:
  10.0.0.5:5000: {insecure: true}
  ghcr.io: {username: u, password: p}
  registry.internal: {insecure: true}
server:
  tls_cert: /tls.crt
  tls_key: /tls.key
  local_images: [images, /srv/layouts]
  registries:
    allow: [registry.internal, "10.0.0.0/8", "127.0.0.1:5000", "::1"]
  shutdown_timeout: 5s
  admission: {client_ca: /ca.pem, allow_plain_http: true, max_images: 10}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if want := filepath.Join(filepath.Dir(p), "images"); len(s.LocalImages) != 2 || s.LocalImages[0] != want || s.LocalImages[1] != "/srv/layouts" {
		t.Errorf("local_images = %q", s.LocalImages)
	}
	if len(s.Registries.Allow) != 4 || s.ShutdownWait() != 5*time.Second || s.ScanDeadline() != DefaultScanTimeout {
		t.Errorf("server = %+v", s)
	}
	if a := s.Admission; a.ClientCA != "/ca.pem" || !a.AllowPlainHTTP || a.AllowAnonymous || a.MaxImages != 10 {
		t.Errorf("admission = %+v", a)
	}
	if got := c.InsecureRegistries(); strings.Join(got, ",") != "10.0.0.5:5000,registry.internal" {
		t.Errorf("InsecureRegistries = %q", got)
	}
	d, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if d.Server.LocalImages != nil || d.Server.Registries.Allow != nil || d.Server.ShutdownWait() != 30*time.Second || d.Server.ScanDeadline() != 30*time.Minute {
		t.Errorf("defaults: %+v", d.Server)
	}
}

// TestDatabase reads the database section: a PostgreSQL URL as given, a
// relative SQLite path relative to the file, a URL from the environment.
func TestDatabase(t *testing.T) {
	const pg = "postgres://lapps@db.example.com:5432/lapps?sslmode=verify-full"
	c, err := Load(write(t, "database: {url: '"+pg+"'}\n"))
	if err != nil || c.DatabaseURL() != pg {
		t.Errorf("PostgreSQL URL: %q, %v", c.DatabaseURL(), err)
	}
	p := write(t, "database:\n  url: data/lapps.db\n")
	if c, err := Load(p); err != nil || c.DatabaseURL() != filepath.Join(filepath.Dir(p), "data", "lapps.db") {
		t.Errorf("relative SQLite path: %q, %v", c.DatabaseURL(), err)
	}
	t.Setenv("LAPPS_TEST_DB_URL", pg)
	if c, err := Load(write(t, "database:\n  url_env: LAPPS_TEST_DB_URL\n")); err != nil || c.DatabaseURL() != pg {
		t.Errorf("URL from the environment: %q, %v", c.DatabaseURL(), err)
	}
	if c, err := Load(""); err != nil || c.DatabaseURL() != "" {
		t.Errorf("no file: %q, %v", c.DatabaseURL(), err)
	}
}

// TestPolicy reads the policy section: thresholds, ignore rules with their
// dates, and VEX paths made relative to the configuration file.
func TestPolicy(t *testing.T) {
	p := write(t, "policy:\n  fail_on: high\n  warn_on: medium\n  ignore:\n    - {id: ALSA-2024:3339, package: glibc, until: 2099-01-01, reason: mitigated}\n  vex: [vex/glibc.json, /abs/other.json]\n")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy == nil || c.Policy.FailOn != "high" || len(c.Policy.Ignore) != 1 || c.Policy.Ignore[0].Until.String() != "2099-01-01" {
		t.Fatalf("policy = %+v", c.Policy)
	}
	if want := filepath.Join(filepath.Dir(p), "vex", "glibc.json"); c.Policy.VEX[0] != want || c.Policy.VEX[1] != "/abs/other.json" {
		t.Errorf("vex = %q, want %q first", c.Policy.VEX, want)
	}
	if c, err := Load(""); err != nil || c.Policy != nil {
		t.Errorf("no file: policy %+v, %v; want none", c.Policy, err)
	}
}

// TestPolicyFor picks the environment's policy, else the app's, else the
// top-level one, and makes every vex path relative to the file.
func TestPolicyFor(t *testing.T) {
	p := write(t, `
policy: {fail_on: critical}
server:
  apps:
    shop:
      policy: {fail_on: high, vex: [shop.json]}
      environments:
        prod:
          policy: {fail_on: medium, vex: [prod.json]}
        staging: {}
    blog:
      environments:
        prod:
          policy: {fail_on: low}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ app, env, want string }{
		{"shop", "prod", "medium"},
		{"shop", "staging", "high"},
		{"shop", "dev", "high"},
		{"blog", "prod", "low"},
		{"blog", "dev", "critical"},
		{"other", "prod", "critical"},
	} {
		if got := c.PolicyFor(tc.app, tc.env); got == nil || got.FailOn != tc.want {
			t.Errorf("PolicyFor(%s, %s) = %+v, want fail_on %s", tc.app, tc.env, got, tc.want)
		}
	}
	dir := filepath.Dir(p)
	if v := c.PolicyFor("shop", "prod").VEX; len(v) != 1 || v[0] != filepath.Join(dir, "prod.json") {
		t.Errorf("env vex = %q", v)
	}
	if v := c.PolicyFor("shop", "dev").VEX; len(v) != 1 || v[0] != filepath.Join(dir, "shop.json") {
		t.Errorf("app vex = %q", v)
	}
	if c, err := Load(""); err != nil || c.PolicyFor("a", "b") != nil {
		t.Error("no configuration: want no policy")
	}
}

func TestByteSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"512", 512, false}, {"64KiB", 64 << 10, false}, {"16MiB", 16 << 20, false}, {"8 GiB", 8 << 30, false},
		{"1TiB", 1 << 40, false}, {"2MB", 2e6, false}, {"3kB", 3000, false}, {"10B", 10, false},
		{"-1", 0, true}, {"lots", 0, true}, {"16mib", 0, true}, {"9999999TiB", 0, true},
	} {
		got, err := ParseByteSize(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
		}
	}
	if s := ByteSize(16 << 20).String(); s != "16MiB" {
		t.Errorf("String = %q", s)
	}
}

func TestLimits(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(p, []byte("limits:\n  layer_bytes: 2GiB\n  layers: 64\n  packages: 5000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.LayerBytes != 2<<30 || c.Limits.Layers != 64 || c.Limits.Packages != 5000 {
		t.Errorf("limits %+v", c.Limits)
	}
	if il := c.Limits.ImageLimits(); il.LayerBytes != 2<<30 || il.Layers != 64 {
		t.Errorf("image limits %+v", il)
	}
	if xl := c.Limits.IndexerLimits(); xl.Packages != 5000 || xl.Entries != 0 || xl.FileBytes != 0 {
		t.Errorf("indexer limits %+v (unset fields must stay 0 so that the indexer's defaults apply)", xl)
	}
	for _, bad := range []string{"limits:\n  layers: -1\n", "limits:\n  layer_bytes: 8GiB\n  scan_bytes: 1GiB\n", "limits:\n  file_bytes: huge\n"} {
		if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil {
			t.Errorf("%q loaded without error", bad)
		}
	}
}
