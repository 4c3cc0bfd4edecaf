package osv

import (
	"fmt"
	"math"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"

	"github.com/lapps/lapps/vuln"
)

// ParseCVSS parses a CVSS vector as OSV's severity[] carries it
// ("CVSS:3.1/AV:N/…", "CVSS:4.0/…", a v2 vector "AV:N/AC:L/Au:N/…") and
// computes its base score with github.com/pandatix/go-cvss.
func ParseCVSS(vector string) (vuln.CVSS, error) {
	v := strings.TrimSpace(vector)
	switch {
	case strings.HasPrefix(v, "CVSS:4.0/"):
		c, err := gocvss40.ParseVector(v)
		if err != nil {
			return vuln.CVSS{}, fmt.Errorf("cvss %q: %w", vector, err)
		}
		return vuln.CVSS{Version: "4.0", Vector: v, Score: round1(c.Score())}, nil
	case strings.HasPrefix(v, "CVSS:3.1/"):
		c, err := gocvss31.ParseVector(v)
		if err != nil {
			return vuln.CVSS{}, fmt.Errorf("cvss %q: %w", vector, err)
		}
		return vuln.CVSS{Version: "3.1", Vector: v, Score: round1(c.BaseScore())}, nil
	case strings.HasPrefix(v, "CVSS:3.0/"):
		c, err := gocvss30.ParseVector(v)
		if err != nil {
			return vuln.CVSS{}, fmt.Errorf("cvss %q: %w", vector, err)
		}
		return vuln.CVSS{Version: "3.0", Vector: v, Score: round1(c.BaseScore())}, nil
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(v, "CVSS:2.0/"), "("), ")")
	c, err := gocvss20.ParseVector(bare)
	if err != nil {
		return vuln.CVSS{}, fmt.Errorf("cvss %q: %w", vector, err)
	}
	return vuln.CVSS{Version: "2.0", Vector: bare, Score: round1(c.BaseScore())}, nil
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// CVSSSeverity returns the qualitative rating of a CVSS score
// (vuln.CVSSSeverity).
func CVSSSeverity(c vuln.CVSS) vuln.Severity { return vuln.CVSSSeverity(c) }

// RatingSeverity maps a source's own rating to a normalised severity:
// GHSA's LOW/MODERATE/HIGH/CRITICAL, Ubuntu's priorities
// (negligible…critical), Red Hat's Low/Moderate/Important/Critical as
// AlmaLinux and Rocky put them in summaries, Debian's urgencies
// (unimportant, low, medium, high). ok is false for a rating that says
// nothing ("untriaged", "not yet assigned", "").
func RatingSeverity(rating string) (vuln.Severity, bool) {
	r := strings.ToLower(strings.TrimSpace(rating))
	r = strings.TrimSuffix(r, "**") // Debian marks some urgencies "high**"
	r = strings.TrimSuffix(r, "*")
	switch r {
	case "critical":
		return vuln.SeverityCritical, true
	case "high", "important":
		return vuln.SeverityHigh, true
	case "medium", "moderate":
		return vuln.SeverityMedium, true
	case "low":
		return vuln.SeverityLow, true
	case "negligible", "unimportant", "none":
		return vuln.SeverityNegligible, true
	}
	return vuln.SeverityUnknown, false
}

// summaryRating returns the Red Hat style rating that starts an AlmaLinux
// or Rocky summary ("Important: thunderbird security update" →
// "Important").
func summaryRating(summary string) string {
	head, _, ok := strings.Cut(summary, ":")
	if !ok {
		return ""
	}
	head = strings.TrimSpace(head)
	switch strings.ToLower(head) {
	case "critical", "important", "moderate", "low":
		return head
	}
	return ""
}
