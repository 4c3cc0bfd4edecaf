package render

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// Bounds of what a page shows and what its query may say.
const (
	// maxText bounds a text filter (package, id, ecosystem).
	MaxText = 200
	// maxRows bounds the rows of a findings or packages table; the page
	// says how many more there are.
	MaxRows = 2000
	// maxChartPoints bounds the scans a chart draws (the latest).
	maxChartPoints = 60
)

// Filter is the findings filter of an image page, from its query.
type Filter struct {
	Severity  string // a severity name, or "" for every one
	Fixable   string // "yes", "no" or ""
	KEV       bool   // known exploited only
	Package   string // substring of the package name
	ID        string // substring of the id or an alias
	Ecosystem string // substring of the ecosystem
	Sort      string // one of sortKeys
	Desc      bool
}

// sortKeys are the columns the findings table sorts by; "risk" is the
// report's own order (vuln.SortFindings).
var sortKeys = []string{"risk", "severity", "id", "package", "fixed", "epss", "ecosystem"}

// BadParam is a query parameter that is not valid, shown to the viewer.
type BadParam struct{ Name, Why string }

func (e BadParam) Error() string { return fmt.Sprintf("The %s parameter %s.", e.Name, e.Why) }

// TextParam returns a bounded, valid UTF-8 text parameter.
func TextParam(q url.Values, name string) (string, error) { return boundedParam(q, name, MaxText) }

// MaxRef bounds an image reference in a query or form (a long local
// path, a digest reference).
const MaxRef = 1024

// RefParam returns an image reference parameter, bounded by MaxRef.
func RefParam(q url.Values, name string) (string, error) { return boundedParam(q, name, MaxRef) }

func boundedParam(q url.Values, name string, n int) (string, error) {
	v := strings.TrimSpace(q.Get(name))
	if len(v) > n || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", BadParam{name, fmt.Sprintf("must be text of at most %d bytes", n)}
	}
	return v, nil
}

// IntParam returns a positive integer parameter (0 when absent).
func IntParam(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1<<30 {
		return 0, BadParam{name, "must be a scan number (1, 2, …)"}
	}
	return n, nil
}

// ParseFilter reads and checks the findings filter of a query.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	var err error
	f.Severity = q.Get("severity")
	if f.Severity != "" {
		if _, ok := vuln.ParseSeverity(f.Severity); !ok {
			return f, BadParam{"severity", "must be one of critical, high, medium, low, negligible, unknown"}
		}
	}
	switch f.Fixable = q.Get("fixable"); f.Fixable {
	case "", "yes", "no":
	default:
		return f, BadParam{"fixable", "must be yes or no"}
	}
	switch q.Get("kev") {
	case "":
	case "1":
		f.KEV = true
	default:
		return f, BadParam{"kev", "must be 1"}
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"package", &f.Package}, {"id", &f.ID}, {"ecosystem", &f.Ecosystem}} {
		if *p.dst, err = TextParam(q, p.name); err != nil {
			return f, err
		}
	}
	f.Sort = q.Get("sort")
	if f.Sort == "" {
		f.Sort = "risk"
	}
	if !slices.Contains(sortKeys, f.Sort) {
		return f, BadParam{"sort", "must be one of " + strings.Join(sortKeys, ", ")}
	}
	switch q.Get("dir") {
	case "", "asc":
	case "desc":
		f.Desc = true
	default:
		return f, BadParam{"dir", "must be asc or desc"}
	}
	return f, nil
}

// ContainsFold reports whether s holds sub, ignoring case; "" is in
// everything.
func ContainsFold(s, sub string) bool {
	return sub == "" || strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// match reports whether a finding passes the filter.
func (f *Filter) match(v *vuln.Finding) bool {
	if f.Severity != "" && v.Severity.String() != f.Severity {
		return false
	}
	if f.Fixable == "yes" && v.FixedVersion == "" || f.Fixable == "no" && v.FixedVersion != "" {
		return false
	}
	if f.KEV && v.KnownExploited == nil {
		return false
	}
	if !ContainsFold(v.Package, f.Package) && !ContainsFold(v.SourcePackage, f.Package) {
		return false
	}
	if f.ID != "" && !ContainsFold(v.ID, f.ID) && !slices.ContainsFunc(v.Aliases, func(a string) bool { return ContainsFold(a, f.ID) }) {
		return false
	}
	return ContainsFold(v.Ecosystem, f.Ecosystem)
}

// apply returns the findings that pass, sorted as asked.
func (f *Filter) apply(in []vuln.Finding) []vuln.Finding {
	out := make([]vuln.Finding, 0, len(in))
	for i := range in {
		if f.match(&in[i]) {
			out = append(out, in[i])
		}
	}
	var key func(a, b *vuln.Finding) int
	switch f.Sort {
	case "severity":
		key = func(a, b *vuln.Finding) int { return cmp.Compare(b.Severity, a.Severity) }
	case "id":
		key = func(a, b *vuln.Finding) int { return cmp.Compare(a.ID, b.ID) }
	case "package":
		key = func(a, b *vuln.Finding) int { return cmp.Compare(a.Package, b.Package) }
	case "fixed":
		key = func(a, b *vuln.Finding) int { return cmp.Compare(b2i(a.FixedVersion == ""), b2i(b.FixedVersion == "")) }
	case "epss":
		key = func(a, b *vuln.Finding) int { return cmp.Compare(epss(b), epss(a)) }
	case "ecosystem":
		key = func(a, b *vuln.Finding) int { return cmp.Compare(a.Ecosystem, b.Ecosystem) }
	}
	if key != nil {
		slices.SortStableFunc(out, func(a, b vuln.Finding) int { return key(&a, &b) })
	}
	if f.Desc {
		slices.Reverse(out)
	}
	return out
}

func epss(f *vuln.Finding) float64 {
	if f.EPSS == nil {
		return -1
	}
	return f.EPSS.Score
}

// Query returns the filter as query parameters, with sort and dir
// replaced when given.
func (f Filter) Query(sort string, desc bool) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("severity", f.Severity)
	set("fixable", f.Fixable)
	if f.KEV {
		q.Set("kev", "1")
	}
	set("package", f.Package)
	set("id", f.ID)
	set("ecosystem", f.Ecosystem)
	if sort != "risk" {
		q.Set("sort", sort)
	}
	if desc {
		q.Set("dir", "desc")
	}
	return q
}

// Column is a sortable column header of the findings table.
type Column struct {
	Label, URL string
	// Sorted is "ascending", "descending" or "none", for aria-sort.
	Sorted string
}

// DiffRow is one finding of a comparison between two scans, its cells
// worked out in Go (see findingRow).
type DiffRow struct {
	State string // new, fixed, open
	// Label is what the change column says.
	Label string
	Row   findingRow
}

func diffRow(state string, f vuln.Finding) DiffRow {
	label := state
	if state == "open" {
		label = "still open"
	}
	return DiffRow{State: state, Label: label, Row: findingRows([]vuln.Finding{f})[0]}
}

// DiffResult compares the findings of scan Base with those of scan Head.
type DiffResult struct {
	Base, Head         int
	New, Fixed, Open   int
	Rows               []DiffRow
	Truncated          int
	BaseTime, HeadTime string
}

// DiffFindings compares two scans' findings by vulnerability and package:
// new in head, fixed since base (gone from head), still open in both.
func DiffFindings(base, head *report.Report) *DiffResult {
	key := func(f *vuln.Finding) string { return f.ID + "\x00" + f.Package + "\x00" + f.PackageKind }
	inBase := make(map[string]bool, len(base.Vulnerabilities))
	for i := range base.Vulnerabilities {
		inBase[key(&base.Vulnerabilities[i])] = true
	}
	d := &DiffResult{Base: base.ScanIndex, Head: head.ScanIndex, BaseTime: base.ScannedAt.UTC().Format("2006-01-02 15:04Z"), HeadTime: head.ScannedAt.UTC().Format("2006-01-02 15:04Z")}
	inHead := make(map[string]bool, len(head.Vulnerabilities))
	var rows []DiffRow
	for _, f := range head.Vulnerabilities {
		k := key(&f)
		inHead[k] = true
		if inBase[k] {
			d.Open++
			rows = append(rows, diffRow("open", f))
		} else {
			d.New++
			rows = append(rows, diffRow("new", f))
		}
	}
	for _, f := range base.Vulnerabilities {
		if !inHead[key(&f)] {
			d.Fixed++
			rows = append(rows, diffRow("fixed", f))
		}
	}
	order := map[string]int{"new": 0, "fixed": 1, "open": 2}
	slices.SortStableFunc(rows, func(a, b DiffRow) int { return cmp.Compare(order[a.State], order[b.State]) })
	if len(rows) > MaxRows {
		d.Truncated = len(rows) - MaxRows
		rows = rows[:MaxRows]
	}
	d.Rows = rows
	return d
}

// chartSeverities are drawn bottom to top.
var chartSeverities = []string{"critical", "high", "medium", "low", "negligible", "unknown"}

// bar is one stacked bar of a chart.
type bar struct {
	Label string // under the bar, or left of it
	// Title says what the bar holds, for screen readers and hovering.
	Title    string
	Link     string
	Segments []segment
	// X, Y place the bar; Total is its sum.
	X, Y  int
	Total int
}

// segment is one severity's part of a bar.
type segment struct {
	Severity string
	Count    int
	X, Y     int
	W, H     int
}

// Chart is an inline SVG chart drawn on the server.
type Chart struct {
	// ID names the chart's title and description elements.
	ID     string
	Title  string
	Desc   string
	Width  int
	Height int
	Bars   []bar
	Max    int
	// Horizontal bars (per environment) rather than columns (over
	// time).
	Horizontal bool
	// Ticks are the value axis labels.
	Ticks []tick
}

type tick struct {
	Label string
	X, Y  int
}

// TimeChart draws findings by severity over numbered scans: one column
// per scan, the latest maxChartPoints.
func TimeChart(title string, labels []string, counts []map[string]int, links []string) *Chart {
	if len(counts) > maxChartPoints {
		cut := len(counts) - maxChartPoints
		labels, counts, links = labels[cut:], counts[cut:], links[cut:]
	}
	const h, top, bottom, left = 180, 10, 30, 40
	bw := 28
	c := &Chart{ID: "chart-time", Title: title, Height: h, Width: left + 10 + len(counts)*(bw+8)}
	if c.Width < 240 {
		c.Width = 240
	}
	for _, m := range counts {
		t := 0
		for _, s := range chartSeverities {
			t += m[s]
		}
		c.Max = max(c.Max, t)
	}
	scale := func(n int) int {
		if c.Max == 0 {
			return 0
		}
		return n * (h - top - bottom) / c.Max
	}
	for i, m := range counts {
		b := bar{Label: labels[i], X: left + 8 + i*(bw+8)}
		if links != nil {
			b.Link = links[i]
		}
		y := h - bottom
		var parts []string
		for _, s := range chartSeverities {
			n := m[s]
			b.Total += n
			if n == 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
			hh := max(scale(n), 1)
			y -= hh
			b.Segments = append(b.Segments, segment{Severity: s, Count: n, X: b.X, Y: y, W: bw, H: hh})
		}
		b.Title = fmt.Sprintf("scan %s: %d findings", labels[i], b.Total)
		if len(parts) > 0 {
			b.Title += " (" + strings.Join(parts, ", ") + ")"
		}
		c.Bars = append(c.Bars, b)
	}
	c.Ticks = []tick{{Label: "0", X: left - 4, Y: h - bottom + 4}, {Label: strconv.Itoa(c.Max), X: left - 4, Y: top + 8}}
	c.Desc = fmt.Sprintf("Findings by severity in each of %d scans; the most in one scan is %d.", len(counts), c.Max)
	return c
}

// EnvChart draws horizontal stacked bars: findings by severity per
// environment.
func EnvChart(title string, labels []string, counts []map[string]int) *Chart {
	const rowH, left, width = 30, 110, 560
	c := &Chart{ID: "chart-env", Title: title, Horizontal: true, Width: width, Height: 10 + len(labels)*rowH}
	for _, m := range counts {
		t := 0
		for _, s := range chartSeverities {
			t += m[s]
		}
		c.Max = max(c.Max, t)
	}
	span := width - left - 60
	for i, m := range counts {
		b := bar{Label: Clip(14, labels[i]), Y: 10 + i*rowH}
		x := left
		var parts []string
		for _, s := range chartSeverities {
			n := m[s]
			b.Total += n
			if n == 0 || c.Max == 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
			w := max(n*span/c.Max, 1)
			b.Segments = append(b.Segments, segment{Severity: s, Count: n, X: x, Y: b.Y, W: w, H: rowH - 10})
			x += w
		}
		b.X = x + 6
		b.Title = fmt.Sprintf("%s: %d findings", labels[i], b.Total)
		if len(parts) > 0 {
			b.Title += " (" + strings.Join(parts, ", ") + ")"
		}
		c.Bars = append(c.Bars, b)
	}
	c.Desc = fmt.Sprintf("Findings by severity of the images deployed in each of %d environments.", len(labels))
	return c
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// findingRow is a finding as the findings table shows it, its cells
// worked out once in Go rather than by template functions row by row
// (the page renders 1,000 findings in well under 50 ms so).
type findingRow struct {
	Severity, SevClass, ID, URL       string
	Package, SourcePackage, Installed string
	Fixed, Status, Exploit, Ecosystem string
	Title, Layer                      string
}

func findingRows(fs []vuln.Finding) []findingRow {
	out := make([]findingRow, len(fs))
	for i := range fs {
		f := &fs[i]
		sev := f.Severity.String()
		r := findingRow{Severity: sev, SevClass: "sev-" + sev, ID: f.ID, URL: "/vulns/" + url.PathEscape(f.ID), Package: f.Package,
			Installed: f.InstalledVersion, Fixed: f.FixedVersion, Status: string(f.Status), Exploit: exploitLabel(f),
			Ecosystem: f.Ecosystem, Title: Clip(90, f.Title), Layer: ShortDigest(f.Layer)}
		if f.SourcePackage != f.Package {
			r.SourcePackage = f.SourcePackage
		}
		out[i] = r
	}
	return out
}

// packageRow is a package as the packages table shows it.
type packageRow struct{ Name, Version, Kind, Source, Layer string }

func packageRows(ps []vuln.Package) []packageRow {
	out := make([]packageRow, len(ps))
	for i, p := range ps {
		src := p.SourceName
		if p.SourceVersion != "" && p.SourceVersion != p.Version {
			src += " " + p.SourceVersion
		}
		out[i] = packageRow{Name: p.Name, Version: p.Version, Kind: p.Kind, Source: src, Layer: ShortDigest(p.Layer)}
	}
	return out
}
