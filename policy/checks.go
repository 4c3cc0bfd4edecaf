package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// Checks is the `checks:` section of a policy: which configuration checks
// and secret rules count, and which secrets are accepted.
type Checks struct {
	// Disable are check ids ("config-no-healthcheck") and secret rule ids
	// ("private-key") whose findings never count (they stay in reports).
	Disable []string `yaml:"disable,omitempty" json:"disable,omitempty"`
	// Secrets says what secrets do to a verdict.
	Secrets SecretsPolicy `yaml:"secrets,omitempty" json:"secrets,omitzero"`
}

// SecretsPolicy is what secrets do to a verdict.
type SecretsPolicy struct {
	// Fail, unless set to false, fails the verdict on any secret that no
	// allow rule accepts, whatever its severity: a secret in an image is
	// readable by everyone who can pull it. Set to false, secrets count
	// against fail_on and warn_on by their severity, like other findings.
	Fail *bool `yaml:"fail,omitempty" json:"fail,omitempty"`
	// Allow accepts secrets by path and rule.
	Allow []SecretAllow `yaml:"allow,omitempty" json:"allow,omitempty"`
}

// SecretAllow accepts the secrets of a path pattern, optionally of one
// rule only.
type SecretAllow struct {
	// Path is a pattern of the file's path, with or without a leading
	// slash: path.Match syntax ("*" within one element), where a final
	// "/**" matches everything below a directory.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Rule, when set, limits the rule to secrets of that rule id.
	Rule string `yaml:"rule,omitempty" json:"rule,omitempty"`
	// Reason says why the secret is accepted.
	Reason string `yaml:"reason,omitempty" json:"reason,omitempty"`
}

// failOnSecrets reports whether secrets fail the verdict (the default).
func (c *Checks) failOnSecrets() bool { return c.Secrets.Fail == nil || *c.Secrets.Fail }

func (c *Checks) disabled(id string) bool { return slices.Contains(c.Disable, id) }

// validate returns the problems of the section.
func (c *Checks) validate() []error {
	var errs []error
	for i, id := range c.Disable {
		if strings.TrimSpace(id) == "" {
			errs = append(errs, fmt.Errorf("checks.disable[%d]: empty id", i))
		}
	}
	for i, a := range c.Secrets.Allow {
		if strings.TrimSpace(a.Path) == "" && strings.TrimSpace(a.Rule) == "" {
			errs = append(errs, fmt.Errorf("checks.secrets.allow[%d]: path or rule is required", i))
		}
		if a.Path != "" {
			if _, err := path.Match(strings.TrimSuffix(strings.TrimPrefix(a.Path, "/"), "/**"), ""); err != nil {
				errs = append(errs, fmt.Errorf("checks.secrets.allow[%d]: path %q: %w", i, a.Path, err))
			}
		}
	}
	return errs
}

// allowed returns the allow rule accepting secret s, if any.
func (c *Checks) allowed(s *checks.Secret) (string, string, bool) {
	for i, a := range c.Secrets.Allow {
		if a.Rule != "" && a.Rule != s.Rule {
			continue
		}
		if a.Path != "" && !matchPath(a.Path, s.Path) {
			continue
		}
		return fmt.Sprintf("checks.secrets.allow[%d] path=%s rule=%s", i, a.Path, a.Rule), a.Reason, true
	}
	return "", "", false
}

// matchPath matches a file path against an allow pattern.
func matchPath(pattern, p string) bool {
	pattern = strings.TrimPrefix(pattern, "/")
	p = strings.TrimPrefix(p, "/")
	if pattern == "**" {
		return true
	}
	if dir, ok := strings.CutSuffix(pattern, "/**"); ok {
		if dir == "" {
			return true
		}
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if ok, _ := path.Match(dir, d); ok {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(pattern, p)
	return ok
}

// checkRef names a configuration finding in a verdict.
func checkRef(f *checks.Finding) FindingRef {
	where := "image configuration"
	switch {
	case f.Path != "":
		where = "/" + f.Path
	case f.Layer != "":
		where = "layer " + f.Layer
	}
	return FindingRef{ID: f.ID, Kind: "config", Package: where, Severity: f.Severity}
}

// secretRef names a secret in a verdict, by its redacted preview.
func secretRef(s *checks.Secret) FindingRef {
	return FindingRef{ID: s.Rule, Kind: "secret", Package: fmt.Sprintf("/%s:%d", s.Path, s.Line), InstalledVersion: s.Preview, Severity: s.Severity}
}

// checkCounts is what the checks' findings of a report add to a verdict.
type checkCounts struct {
	fails, warns        []FindingRef
	suppressed          []Suppression
	bySeverity, secrets int
}

// evaluateChecks applies the policy to the configuration findings and
// secrets of r.
func evaluateChecks(p *Policy, r *report.Report, failAt vuln.Severity, failSet bool, warnAt vuln.Severity, warnSet bool) checkCounts {
	var c checkCounts
	for i := range r.ConfigFindings {
		f := &r.ConfigFindings[i]
		if p.Checks.disabled(f.ID) {
			continue
		}
		switch {
		case failSet && f.Severity >= failAt:
			c.fails = append(c.fails, checkRef(f))
			c.bySeverity++
		case warnSet && f.Severity >= warnAt:
			c.warns = append(c.warns, checkRef(f))
		}
	}
	secretsFail := p.Checks.failOnSecrets()
	for i := range r.Secrets {
		s := &r.Secrets[i]
		if p.Checks.disabled(s.Rule) {
			continue
		}
		ref := secretRef(s)
		isFail := secretsFail || (failSet && s.Severity >= failAt)
		isWarn := warnSet && s.Severity >= warnAt
		if !isFail && !isWarn {
			continue
		}
		if rule, reason, ok := p.Checks.allowed(s); ok {
			c.suppressed = append(c.suppressed, Suppression{Finding: ref, Rule: rule, Reason: reason})
			continue
		}
		switch {
		case secretsFail:
			c.fails = append(c.fails, ref)
			c.secrets++
		case isFail:
			c.fails = append(c.fails, ref)
			c.bySeverity++
		default:
			c.warns = append(c.warns, ref)
		}
	}
	return c
}
