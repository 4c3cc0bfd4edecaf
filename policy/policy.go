// Package policy turns the findings of a report into a verdict: pass, warn
// or fail, by severity thresholds, ignore rules with expiry dates, OpenVEX
// statements and a maximum report age.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/vuln"
)

// Policy is the `policy:` section of a configuration file.
type Policy struct {
	// FailOn is the lowest severity (a vuln.ParseSeverity name) of a
	// finding that fails the verdict; empty means none does.
	FailOn string `yaml:"fail_on,omitempty" json:"fail_on,omitempty"`
	// WarnOn is the lowest severity of a finding that makes the verdict
	// warn; empty means none does.
	WarnOn string `yaml:"warn_on,omitempty" json:"warn_on,omitempty"`
	// UnknownAs is the severity a finding of unknown severity (nothing
	// rates it) counts as against fail_on and warn_on; empty: it stays
	// unknown, below negligible and low.
	UnknownAs string `yaml:"unknown_as,omitempty" json:"unknown_as,omitempty"`
	// FailOnKEV fails the verdict on any finding listed as known to be
	// exploited (CISA KEV), whatever its severity.
	FailOnKEV Flag `yaml:"fail_on_kev,omitempty" json:"fail_on_kev,omitempty"`
	// EPSSThreshold, when above 0, fails the verdict on any finding whose
	// EPSS score (the probability of exploitation in the next 30 days) is
	// at or above it; at most 1.
	EPSSThreshold Probability `yaml:"epss_threshold,omitempty" json:"epss_threshold,omitempty"`
	// FixableOnly counts only findings with a known fix (status fixed and a
	// fixed version).
	FixableOnly bool `yaml:"fixable_only,omitempty" json:"fixable_only,omitempty"`
	// Ignore rules suppress findings.
	Ignore []IgnoreRule `yaml:"ignore,omitempty" json:"ignore,omitempty"`
	// VEX are paths of OpenVEX documents whose not_affected and fixed
	// statements suppress findings (see LoadVEX). LoadFile resolves
	// relative paths against the policy file's directory.
	VEX []string `yaml:"vex,omitempty" json:"vex,omitempty"`
	// MaxReportAge, when set, fails a report matched longer ago than this
	// ("72h", "7d").
	MaxReportAge Duration `yaml:"max_report_age,omitempty" json:"max_report_age,omitempty"`
	// Checks says which configuration checks and secret rules count and
	// which secrets are accepted; by default every check counts against
	// fail_on and warn_on by its severity, and any secret fails.
	Checks Checks `yaml:"checks,omitempty" json:"checks,omitzero"`
}

// IgnoreRule suppresses the findings of one vulnerability, optionally only
// in one package, until a date.
type IgnoreRule struct {
	// ID is a vulnerability id; it matches a finding whose ID, any alias
	// or any of its CVEs (those a distribution advisory fixes) is this id,
	// never a related id.
	ID string `yaml:"id" json:"id"`
	// Package, when set, limits the rule to findings in the package of
	// that name (the installed package, or the source package it was
	// matched through).
	Package string `yaml:"package,omitempty" json:"package,omitempty"`
	// Until, when set, is when the rule expires: it applies strictly
	// before this instant and no longer on or after it. A bare date
	// ("2026-12-31") is midnight UTC starting that day, so the rule stops
	// applying on that date.
	Until Date `yaml:"until,omitempty" json:"until,omitzero"`
	// Reason says why the finding is accepted.
	Reason string `yaml:"reason,omitempty" json:"reason,omitempty"`
}

// Date is an instant written as a date ("2026-12-31", midnight UTC) or an
// RFC 3339 time.
type Date struct{ time.Time }

// ParseDate parses a date ("2006-01-02", midnight UTC) or an RFC 3339 time.
func ParseDate(s string) (Date, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return Date{t}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD or RFC 3339 (2006-01-02T15:04:05Z07:00)", s)
	}
	return Date{t}, nil
}

// String returns the date as YYYY-MM-DD when it is midnight UTC, else RFC 3339.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	if u := d.UTC(); u.Equal(u.Truncate(24 * time.Hour)) {
		return u.Format(time.DateOnly)
	}
	return d.Format(time.RFC3339)
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: until: want a date", n.Line)
	}
	v, err := ParseDate(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: until: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Date) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Duration is a time.Duration written as Go writes it ("36h", "90m") or in
// whole days ("7d"), which time.ParseDuration does not know.
type Duration time.Duration

// ParseDuration parses "7d" or a time.ParseDuration string.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("duration %q: want a number of days (7d) or a Go duration (36h)", s)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a number of days (7d) or a Go duration (36h)", s)
	}
	return Duration(d), nil
}

// String returns the duration in days when whole, else as Go writes it.
func (d Duration) String() string {
	if d > 0 && time.Duration(d)%(24*time.Hour) == 0 {
		return strconv.Itoa(int(time.Duration(d)/(24*time.Hour))) + "d"
	}
	return time.Duration(d).String()
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: max_report_age: want a duration", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: max_report_age: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Flag is a boolean policy key ("true", "false"; YAML's other spellings
// are refused), named in its error.
type Flag bool

// UnmarshalYAML implements yaml.Unmarshaler.
func (f *Flag) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true":
			*f = true
			return nil
		case "false":
			*f = false
			return nil
		}
	}
	return fmt.Errorf("line %d: fail_on_kev: want true or false, not %q", n.Line, n.Value)
}

// Probability is a number from 0 to 1 (an EPSS threshold), named in its
// error.
type Probability float64

// UnmarshalYAML implements yaml.Unmarshaler.
func (p *Probability) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: epss_threshold: want a number from 0 to 1 (0.5), not %q", n.Line, n.Value)
	}
	*p = Probability(v)
	return nil
}

// Validate checks the policy and returns every problem found, joined.
func (p *Policy) Validate() error {
	if p == nil {
		return nil
	}
	var errs []error
	fail, failOK := parseThreshold(p.FailOn)
	warn, warnOK := parseThreshold(p.WarnOn)
	if !failOK {
		errs = append(errs, fmt.Errorf("fail_on: unknown severity %q (one of critical, high, medium, low, negligible, unknown)", p.FailOn))
	}
	if !warnOK {
		errs = append(errs, fmt.Errorf("warn_on: unknown severity %q (one of critical, high, medium, low, negligible, unknown)", p.WarnOn))
	}
	if failOK && warnOK && p.FailOn != "" && p.WarnOn != "" && warn > fail {
		errs = append(errs, fmt.Errorf("warn_on %s is above fail_on %s: it could never warn", p.WarnOn, p.FailOn))
	}
	if p.UnknownAs != "" {
		if s, ok := parseThreshold(p.UnknownAs); !ok || s == vuln.SeverityUnknown {
			errs = append(errs, fmt.Errorf("unknown_as: %q is not a severity (one of critical, high, medium, low, negligible)", p.UnknownAs))
		}
	}
	if t := float64(p.EPSSThreshold); t < 0 || t > 1 || t != t {
		errs = append(errs, fmt.Errorf("epss_threshold: %v is not between 0 and 1", t))
	}
	for i, r := range p.Ignore {
		if strings.TrimSpace(r.ID) == "" {
			errs = append(errs, fmt.Errorf("ignore[%d]: id is required", i))
		}
		if r.ID != strings.TrimSpace(r.ID) || r.Package != strings.TrimSpace(r.Package) {
			errs = append(errs, fmt.Errorf("ignore[%d]: id and package must not have surrounding spaces", i))
		}
	}
	for i, v := range p.VEX {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("vex[%d]: empty path", i))
		}
	}
	if p.MaxReportAge < 0 {
		errs = append(errs, fmt.Errorf("max_report_age %s is negative", p.MaxReportAge))
	}
	errs = append(errs, p.Checks.validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid policy: %w", errors.Join(errs...))
	}
	return nil
}

// parseThreshold parses a severity name; empty is valid and means none.
func parseThreshold(name string) (vuln.Severity, bool) {
	if name == "" {
		return vuln.SeverityUnknown, true
	}
	return vuln.ParseSeverity(strings.ToLower(strings.TrimSpace(name)))
}

// Load reads a policy from YAML: the `policy:` section of a configuration
// file when the document has one, else the whole document. Unknown fields
// are errors. The policy is validated.
func Load(r io.Reader) (*Policy, error) {
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	p := &Policy{}
	if root.Kind == 0 { // empty document
		return p, nil
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse policy: want a mapping at the top level")
	}
	node := root.Content[0]
	top := node.Content
	for i := 0; i+1 < len(top); i += 2 {
		if top[i].Value == "policy" {
			node = top[i+1]
			break
		}
	}
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return p, nil
	}
	// Re-encode the section so the decoder can refuse unknown fields.
	sec, err := yaml.Marshal(node)
	if err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(sec))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// LoadFile reads the policy of the YAML file at path (see Load) and makes
// its relative VEX paths relative to the file's directory.
func LoadFile(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	p, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, v := range p.VEX {
		if !filepath.IsAbs(v) {
			p.VEX[i] = filepath.Join(filepath.Dir(path), v)
		}
	}
	return p, nil
}
