package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

func checksReport() *report.Report {
	return &report.Report{
		ConfigFindings: []checks.Finding{
			{ID: checks.ConfigRootUser, Severity: vuln.SeverityLow},
			{ID: checks.FileSSHHostKey, Severity: vuln.SeverityHigh, Path: "etc/ssh/ssh_host_rsa_key", Layer: "sha256:l1"},
		},
		Secrets: []checks.Secret{
			{Rule: "private-key", Severity: vuln.SeverityHigh, Path: "etc/ssh/ssh_host_rsa_key", Line: 1, Preview: "MIIE****"},
			{Rule: "github-pat", Severity: vuln.SeverityHigh, Path: "app/src/settings.py", Line: 2, Preview: "ghp_****"},
		},
	}
}

func TestEvaluateChecks(t *testing.T) {
	no := false
	now := time.Now()
	for _, tc := range []struct {
		name       string
		p          *Policy
		want       string
		causes     int
		suppressed int
		reason     string
	}{
		{"no policy: secrets fail", nil, Fail, 2, 0, "2 secrets in the image's files"},
		{"secrets allowed by path and rule", &Policy{Checks: Checks{Secrets: SecretsPolicy{Allow: []SecretAllow{
			{Path: "/app/**"}, {Path: "etc/ssh/ssh_host_*_key", Rule: "private-key", Reason: "test image"},
		}}}}, Pass, 0, 2, "suppressed"},
		{"allow of another rule does not apply", &Policy{Checks: Checks{Secrets: SecretsPolicy{Allow: []SecretAllow{
			{Path: "etc/ssh/*", Rule: "aws-access-token"}, {Path: "app/*"},
		}}}}, Fail, 2, 0, "2 secrets"},
		{"secret rules disabled", &Policy{Checks: Checks{Disable: []string{"private-key", "github-pat"}}}, Pass, 0, 0, ""},
		{"secrets by severity: warn", &Policy{WarnOn: "high", Checks: Checks{Secrets: SecretsPolicy{Fail: &no}}}, Warn, 3, 0, "at or above high (warn_on)"},
		{"secrets by severity: not counted", &Policy{Checks: Checks{Secrets: SecretsPolicy{Fail: &no}}}, Pass, 0, 0, ""},
		{"fail_on applies to findings", &Policy{FailOn: "high", Checks: Checks{Secrets: SecretsPolicy{Fail: &no}}}, Fail, 3, 0, "3 findings at or above high (fail_on)"},
		{"fail_on low counts root user", &Policy{FailOn: "low", Checks: Checks{Disable: []string{"private-key", "github-pat"}}}, Fail, 2, 0, "2 findings at or above low"},
		{"checks disabled", &Policy{FailOn: "low", Checks: Checks{Disable: []string{checks.ConfigRootUser, checks.FileSSHHostKey, "private-key", "github-pat"}}}, Pass, 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); err != nil {
				t.Fatal(err)
			}
			v := Evaluate(tc.p, checksReport(), now, nil)
			if v.Result != tc.want || len(v.Causes) != tc.causes || len(v.Suppressed) != tc.suppressed || !strings.Contains(strings.Join(v.Reasons, "; "), tc.reason) {
				t.Errorf("got %s, %d causes, %d suppressed, reasons %q", v.Result, len(v.Causes), len(v.Suppressed), v.Reasons)
			}
			for _, c := range v.Causes {
				if c.Kind != "config" && c.Kind != "secret" {
					t.Errorf("cause %+v without kind", c)
				}
			}
		})
	}
}

func TestLoadChecks(t *testing.T) {
	p, err := Load(strings.NewReader(`policy:
  fail_on: high
  checks:
    disable: [config-no-healthcheck, file-package-cache]
    secrets:
      fail: false
      allow:
        - path: /opt/app/test/**
          reason: test fixtures
        - rule: private-key
          path: etc/ssl/private/ssl-cert-snakeoil.key
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Checks.Disable) != 2 || p.Checks.failOnSecrets() || len(p.Checks.Secrets.Allow) != 2 || p.Checks.Secrets.Allow[1].Rule != "private-key" {
		t.Errorf("%+v", p.Checks)
	}
	for yaml, want := range map[string]string{
		"checks:\n  disable: ['']":                       "checks.disable[0]: empty id",
		"checks:\n  secrets:\n    allow: [{reason: x}]":  "checks.secrets.allow[0]: path or rule is required",
		"checks:\n  secrets:\n    allow: [{path: '[a'}]": "checks.secrets.allow[0]: path",
		"checks:\n  enable: [x]":                         "field enable not found",
		"checks:\n  secrets:\n    fail: maybe":           "cannot unmarshal",
	} {
		if _, err := Load(strings.NewReader(yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q): %v, want %q", yaml, err, want)
		}
	}
}

func TestMatchPath(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"app/**", "app/a/b.py", true},
		{"/app/**", "app/x", true},
		{"app/**", "apps/x", false},
		{"**", "anything/at/all", true},
		{"usr/lib/python3*/**", "usr/lib/python3.11/site-packages/x/test.pem", true},
		{"etc/ssh/ssh_host_*_key", "etc/ssh/ssh_host_rsa_key", true},
		{"etc/ssh/*", "etc/ssh/a/b", false},
	} {
		if got := matchPath(tc.pattern, tc.path); got != tc.want {
			t.Errorf("matchPath(%q, %q) = %v", tc.pattern, tc.path, got)
		}
	}
}
