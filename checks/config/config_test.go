package config

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/vuln"
)

func TestCheck(t *testing.T) {
	layers := []string{"sha256:l1", "sha256:l2"}
	for _, tc := range []struct {
		name string
		cfg  v1.ConfigFile
		want []string // ids, in order
		not  string   // a string no detail may hold
	}{
		{"non-root with healthcheck", v1.ConfigFile{Config: v1.Config{User: "app", Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "true"}}}}, nil, ""},
		{"root by name, healthcheck NONE", v1.ConfigFile{Config: v1.Config{User: "root:root", Healthcheck: &v1.HealthConfig{Test: []string{"NONE"}}}}, []string{checks.ConfigRootUser, checks.ConfigNoHealthcheck}, ""},
		{"uid 0", v1.ConfigFile{Config: v1.Config{User: "0", Healthcheck: &v1.HealthConfig{Test: []string{"CMD"}}}}, []string{checks.ConfigRootUser}, ""},
		{"env secrets", v1.ConfigFile{Config: v1.Config{User: "1000", Healthcheck: &v1.HealthConfig{}, Env: []string{
			"PATH=/usr/bin", "DB_PASSWORD=hunter2hunter2", "API_KEY_FILE=/run/secrets/k", "TOKEN=$FROM_ENV", "GITHUB_TOKEN=", "SECRET_NAME=ab",
		}}}, []string{checks.ConfigSecretEnv}, "hunter2hunter2"},
		{"ports", v1.ConfigFile{Config: v1.Config{User: "1", Healthcheck: &v1.HealthConfig{}, ExposedPorts: map[string]struct{}{"2375/tcp": {}, "8080/tcp": {}, "22": {}, "x/tcp": {}}}},
			[]string{checks.ConfigSensitivePort, checks.ConfigSensitivePort}, ""},
		{"history", v1.ConfigFile{Config: v1.Config{User: "1", Healthcheck: &v1.HealthConfig{}}, History: []v1.History{
			{CreatedBy: "/bin/sh -c #(nop) ADD file:abc in / "},
			{CreatedBy: "/bin/sh -c #(nop)  ENV SECRET_KEY=s3cr3tvalue1", EmptyLayer: true},
			{CreatedBy: "ADD --chmod=755 https://example.com/x /x # buildkit"},
			{CreatedBy: "RUN |2 NPM_TOKEN=abcdefghijkl VERSION=1.2 /bin/sh -c make # buildkit", EmptyLayer: true},
		}}, []string{checks.ConfigSecretEnv, checks.ConfigAddURL, checks.ConfigSecretArg}, "abcdefghijkl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(&tc.cfg, layers)
			var ids []string
			for _, f := range got {
				ids = append(ids, f.ID)
				if tc.not != "" && strings.Contains(f.Detail, tc.not) {
					t.Errorf("detail holds a secret value: %s", f.Detail)
				}
			}
			if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for _, f := range got {
				if f.ID == checks.ConfigAddURL && f.Layer != "sha256:l2" {
					t.Errorf("ADD of history step 3 is in the second layer, got %q", f.Layer)
				}
			}
		})
	}
	if Check(nil, nil) != nil {
		t.Error("nil config")
	}
}

func TestEOL(t *testing.T) {
	day := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	for _, tc := range []struct {
		d    vuln.Distribution
		now  string
		want bool
	}{
		{vuln.Distribution{ID: "debian", VersionID: "12"}, "2026-12-05", false},
		{vuln.Distribution{ID: "debian", VersionID: "10"}, "2026-12-05", true},
		{vuln.Distribution{ID: "debian", VersionID: "11"}, "2026-08-30", false},
		{vuln.Distribution{ID: "debian", VersionID: "11"}, "2026-08-31", true},
		{vuln.Distribution{ID: "alpine", VersionID: "3.20.3"}, "2026-12-05", true},
		{vuln.Distribution{ID: "alpine", VersionID: "3.22.1"}, "2026-12-05", false},
		{vuln.Distribution{ID: "ubuntu", VersionID: "20.04"}, "2026-12-05", true},
		{vuln.Distribution{ID: "ubuntu", VersionID: "24.04"}, "2026-12-05", false},
		{vuln.Distribution{ID: "almalinux", VersionID: "9.3"}, "2026-12-05", false},
		{vuln.Distribution{ID: "rocky", VersionID: "8.9"}, "2029-06-01", true},
		{vuln.Distribution{ID: "fedora", VersionID: "20"}, "2026-12-05", false},
		{vuln.Distribution{ID: "alpine", VersionID: "edge"}, "2026-12-05", false},
		{vuln.Distribution{}, "2026-12-05", false},
	} {
		if got := EOL(&tc.d, day(tc.now)) != nil; got != tc.want {
			t.Errorf("%s %s on %s: %v, want %v", tc.d.ID, tc.d.VersionID, tc.now, got, tc.want)
		}
	}
	// Every distribution the issue names is in the table.
	tab, err := table()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"alpine", "debian", "ubuntu", "almalinux", "rocky"} {
		if len(tab[d]) == 0 {
			t.Errorf("no %s releases", d)
		}
	}
}

func FuzzHistory(f *testing.F) {
	f.Add("RUN |2 A=b TOKEN=abcdefgh /bin/sh -c x")
	f.Add("ENV PASSWORD=abcdefghij X=1")
	f.Add("ADD https://x/y /z")
	f.Fuzz(func(t *testing.T, step string) {
		cfg := &v1.ConfigFile{History: []v1.History{{CreatedBy: step}}}
		_ = Check(cfg, []string{"sha256:a"})
	})
}

// TestHistoryBound: a history of many secret-bearing steps gives at most
// checks.MaxPerLayer findings.
func TestHistoryBound(t *testing.T) {
	cfg := &v1.ConfigFile{Config: v1.Config{User: "1", Healthcheck: &v1.HealthConfig{}}}
	for i := 0; i < 3*checks.MaxPerLayer; i++ {
		cfg.History = append(cfg.History, v1.History{CreatedBy: "ENV API_TOKEN=abcdefghijklmn", EmptyLayer: true})
	}
	if n := len(Check(cfg, nil)); n < checks.MaxPerLayer || n > checks.MaxPerLayer+1 {
		t.Errorf("%d findings", n)
	}
}
