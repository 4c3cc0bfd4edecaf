package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/lapps/lapps/vuln"
)

// Format is an output format of image reports: its name for `-o` and
// `?format=`, the media type the API serves it as, and its writer.
// Formats other than table and json live in their own packages
// (report/cyclonedx, report/sarif, …), which Register themselves; import
// report/all for every one.
type Format struct {
	Name      string
	MediaType string
	Write     func(w io.Writer, r *Report) error
}

var (
	formatsMu sync.RWMutex
	formats   = map[string]Format{}
	// Formats lists the names of the registered formats, in registration
	// order: table and json first.
	Formats []string
)

func init() {
	Register(Format{Name: "table", MediaType: "text/plain; charset=utf-8", Write: WriteTable})
	Register(Format{Name: "json", MediaType: "application/json", Write: WriteJSON})
}

// Register adds an output format; a name registered twice panics (a
// programming error, found at start-up).
func Register(f Format) {
	formatsMu.Lock()
	defer formatsMu.Unlock()
	if _, dup := formats[f.Name]; dup || f.Name == "" || f.Write == nil {
		panic(fmt.Sprintf("report: format %q registered twice or incomplete", f.Name))
	}
	formats[f.Name] = f
	Formats = append(Formats, f.Name)
}

// LookupFormat returns the registered format of that name.
func LookupFormat(name string) (Format, bool) {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	f, ok := formats[name]
	return f, ok
}

// Write renders r in format (a registered name; "" is table) to w.
func Write(w io.Writer, r *Report, format string) error {
	if format == "" {
		format = "table"
	}
	f, ok := LookupFormat(format)
	if !ok {
		return fmt.Errorf("unknown output format %q (one of %s)", format, strings.Join(Formats, ", "))
	}
	return f.Write(w, r)
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes r as a human-readable text report: a header, the
// findings, and the packages when there are no findings to show.
func WriteTable(w io.Writer, r *Report) error {
	var b strings.Builder
	distro := "unknown"
	if d := r.Distribution; d != nil {
		distro = d.PrettyName
		if distro == "" {
			distro = strings.TrimSpace(d.ID + " " + d.Version)
		}
	}
	mode := "as recorded at scan time"
	if r.Live {
		mode = "matched against current data at " + r.GeneratedAt.UTC().Format("2006-01-02 15:04:05Z")
	}
	fmt.Fprintf(&b, "Image:        %s\n", r.Image)
	fmt.Fprintf(&b, "Scan:         #%d, %s\n", r.ScanIndex, r.ScannedAt.UTC().Format("2006-01-02 15:04:05Z"))
	fmt.Fprintf(&b, "Manifest:     %s\n", r.ManifestDigest)
	fmt.Fprintf(&b, "Distribution: %s\n", distro)
	fmt.Fprintf(&b, "Layers:       %d\n", len(r.Layers))
	fmt.Fprintf(&b, "Packages:     %d%s\n", len(r.Packages), kindCounts(r.Packages))
	if n := len(r.OSOwnedPackages); n > 0 {
		fmt.Fprintf(&b, "              %d more%s installed by the distribution's package manager, matched as those OS packages\n", n, kindCounts(r.OSOwnedPackages))
	}
	fmt.Fprintf(&b, "Findings:     %d (%s), %s\n", len(r.Vulnerabilities), severityLine(r), mode)
	if len(r.ConfigFindings)+len(r.Secrets) > 0 {
		fmt.Fprintf(&b, "Checks:       %d configuration finding(s), %d secret(s)\n", len(r.ConfigFindings), len(r.Secrets))
	}
	if n := len(r.NotAffected); n > 0 {
		fmt.Fprintf(&b, "Not affected: %d statement(s) of the sources suppressed findings (JSON not_affected)\n", n)
	}
	if len(r.DataSources) == 0 {
		fmt.Fprintf(&b, "Data:         no vulnerability data covers this image (`lapps vulndb status` shows what is loaded; load data with `lapps vulndb update`, or offline `lapps vulndb import`)\n")
	}
	for _, ds := range r.DataSources {
		fmt.Fprintf(&b, "Data:         %s\n", dataLine(ds))
	}
	for _, wr := range r.Warnings {
		fmt.Fprintf(&b, "Warning:      %s\n", wr)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(r.Vulnerabilities) > 0 {
		// The EXPLOIT column only when the data says something of
		// exploitation: KEV for a known-exploited finding, and the EPSS
		// percentile ("p97": more likely exploited than 97% of CVEs).
		exploit := slices.ContainsFunc(r.Vulnerabilities, func(f vuln.Finding) bool { return f.KnownExploited != nil || f.EPSS != nil })
		if exploit {
			fmt.Fprintln(tw, "\nSEVERITY\tEXPLOIT\tID\tPACKAGE\tINSTALLED\tFIXED\tSTATUS\tTITLE")
		} else {
			fmt.Fprintln(tw, "\nSEVERITY\tID\tPACKAGE\tINSTALLED\tFIXED\tSTATUS\tTITLE")
		}
		for _, f := range r.Vulnerabilities {
			if exploit {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, exploitCell(&f), f.ID, f.Package, f.InstalledVersion, f.FixedVersion, f.Status, clip(f.Title, 60))
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.ID, f.Package, f.InstalledVersion, f.FixedVersion, f.Status, clip(f.Title, 60))
			}
		}
	} else {
		fmt.Fprintln(tw, "\nPACKAGE\tVERSION\tTYPE\tSOURCE\tLAYER")
		for _, p := range r.Packages {
			src := p.SourceName
			if p.SourceVersion != "" && p.SourceVersion != p.Version {
				src += " " + p.SourceVersion
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Version, p.Kind, src, short(p.Layer))
		}
	}
	if len(r.ConfigFindings) > 0 {
		fmt.Fprintf(tw, "\nCONFIGURATION (%d)\n", len(r.ConfigFindings))
		fmt.Fprintln(tw, "SEVERITY\tCHECK\tLAYER\tDETAIL")
		for _, f := range r.ConfigFindings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Severity, f.ID, short(f.Layer), clip(f.Detail, 110))
		}
	}
	if len(r.Secrets) > 0 {
		fmt.Fprintf(tw, "\nSECRETS (%d)\n", len(r.Secrets))
		fmt.Fprintln(tw, "SEVERITY\tRULE\tFILE\tLAYER\tPREVIEW")
		for _, sc := range r.Secrets {
			file := fmt.Sprintf("/%s:%d", sc.Path, sc.Line)
			if sc.DeletedLater {
				file += " (deleted later)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sc.Severity, sc.Rule, clip(file, 90), short(sc.Layer), sc.Preview)
		}
	}
	return tw.Flush()
}

// exploitCell is a finding's EXPLOIT cell: "KEV" when known exploited
// ("KEV+ransomware" when used in ransomware campaigns), then the EPSS
// percentile ("p97"); "-" when neither is known.
func exploitCell(f *vuln.Finding) string {
	var parts []string
	if k := f.KnownExploited; k != nil {
		if k.RansomwareUse {
			parts = append(parts, "KEV+ransomware")
		} else {
			parts = append(parts, "KEV")
		}
	}
	if e := f.EPSS; e != nil {
		parts = append(parts, fmt.Sprintf("p%d", int(math.Floor(e.Percentile*100))))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func severityLine(r *Report) string {
	c := r.Counts()
	var parts []string
	for s := vuln.SeverityCritical; s >= vuln.SeverityUnknown; s-- {
		if c[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, c[s]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	kev := 0
	for i := range r.Vulnerabilities {
		if r.Vulnerabilities[i].KnownExploited != nil {
			kev++
		}
	}
	if kev > 0 {
		parts = append(parts, fmt.Sprintf("known exploited %d", kev))
	}
	return strings.Join(parts, ", ")
}

func kindCounts(pkgs []vuln.Package) string {
	c := map[string]int{}
	for _, p := range pkgs {
		c[p.Kind]++
	}
	if len(c) == 0 {
		return ""
	}
	kinds := make([]string, 0, len(c))
	for k := range c {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// short abbreviates a digest for tables.
func short(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// dataLine describes one data source in the table's header.
func dataLine(ds DataSource) string {
	newest := "newest record unknown (its records carry no dates)"
	switch {
	case ds.Age == "": // recorded before lapps knew the data's age
		return fmt.Sprintf("%s: stored %s", ds.Name, ds.UpdatedAt.UTC().Format("2006-01-02 15:04Z"))
	case ds.NewestRecord != nil:
		newest = fmt.Sprintf("newest record %s (%s old)", ds.NewestRecord.UTC().Format("2006-01-02"), ds.Age)
	}
	return fmt.Sprintf("%s: %s, stored %s", ds.Name, newest, ds.UpdatedAt.UTC().Format("2006-01-02 15:04Z"))
}
