package cli

import (
	"encoding"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/testenv"
)

// Paths name JSON fields from the root of a report, array elements
// without brackets: "vulnerabilities.cvss.score". The image report's
// paths stand alone; the app report's start with "app:", and its
// "app:sections.report" is the image report.

// docPaths parses docs/report.md: the rows of the tables of the image
// report (the first table, then the sections on packages[] and
// vulnerabilities[]) and of the app report, each naming one or more
// fields (a, b[], or a path sections[].verdict), and the field lists in
// braces in a row's meaning ({id, version_id, …}, nested
// by_severity: {critical, …}), which name the row's field's fields.
func docPaths(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	// The JSON part ends where the other formats begin.
	if i := strings.Index(doc, "## SBOMs ("); i > 0 {
		doc = doc[:i]
	}
	paths := map[string]bool{}
	prefix := ""
	name := regexp.MustCompile("`([a-z_]+(?:\\[\\])?(?:\\.[a-z_]+(?:\\[\\])?)*)`")
	braces := regexp.MustCompile("`(\\{[^`]*\\})`")
	for _, line := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(line, "## `packages[]`"):
			prefix = "packages."
		case strings.HasPrefix(line, "## `vulnerabilities[]`"):
			prefix = "vulnerabilities."
		case strings.HasPrefix(line, "## The app report"):
			prefix = "app:"
		case strings.HasPrefix(line, "## `config_findings[]`"):
			// Its table lists the check ids, not fields (the fields are
			// in the first table's rows).
			prefix = "-"
		}
		if prefix == "-" {
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		var names []string
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
		if len(names) == 0 {
			continue
		}
		owner := names[len(names)-1]
		for _, n := range names {
			paths[prefix+clean(n)] = true
			if strings.HasSuffix(n, "[]") {
				owner = n
			}
		}
		if m := braces.FindStringSubmatch(strings.Join(cells[2:], "|")); m != nil {
			for _, sub := range braceFields(m[1]) {
				paths[prefix+clean(owner)+"."+sub] = true
			}
		}
	}
	// os_owned_packages[] holds the objects of packages[].
	for p := range paths {
		if rest, ok := strings.CutPrefix(p, "packages."); ok {
			paths["os_owned_packages."+rest] = true
		}
	}
	return paths
}

func clean(n string) string { return strings.ReplaceAll(n, "[]", "") }

// braceFields returns the paths a brace list names: "{a, b: {c, d}}" → a,
// b, b.c, b.d.
func braceFields(s string) []string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	var out []string
	depth, start := 0, 0
	item := func(it string) {
		it = strings.TrimSpace(it)
		if it == "" {
			return
		}
		k, v, nested := strings.Cut(it, ":")
		k = clean(strings.TrimSpace(k))
		out = append(out, k)
		if nested {
			for _, sub := range braceFields(v) {
				out = append(out, k+"."+sub)
			}
		}
	}
	for i, r := range s {
		switch r {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				item(s[start:i])
				start = i + 1
			}
		}
	}
	item(s[start:])
	return out
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// typePaths returns every JSON field the type t can write, under prefix;
// maps are leaves (their keys are data: severities), and so are types
// that marshal themselves as text.
func typePaths(t reflect.Type, prefix string, out, maps map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	switch {
	case t == timeType, t.Implements(textMarshaler), reflect.PointerTo(t).Implements(textMarshaler):
		return
	case t.Kind() == reflect.Map:
		maps[strings.TrimSuffix(prefix, ".")] = true
		return
	case t.Kind() != reflect.Struct:
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		n, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && n == "" {
			typePaths(f.Type, prefix, out, maps)
			continue
		}
		if n == "" {
			n = f.Name
		}
		out[prefix+n] = true
		typePaths(f.Type, prefix+n+".", out, maps)
	}
}

// jsonPaths returns the paths of the fields a JSON document holds, not
// descending into maps.
func jsonPaths(v any, prefix string, out, maps map[string]bool) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			jsonPaths(e, prefix, out, maps)
		}
	case map[string]any:
		if maps[strings.TrimSuffix(prefix, ".")] {
			return
		}
		for k, e := range x {
			out[prefix+k] = true
			jsonPaths(e, prefix+k+".", out, maps)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestReportDocumented: docs/report.md documents every field the JSON
// image report and app report can write (from their Go types), documents
// nothing else, and every field of the JSON of a real app scan (findings,
// a suppressed finding, warnings, data sources) is documented; the
// always-written fields are all there.
func TestReportDocumented(t *testing.T) {
	doc := docPaths(t)
	types, maps := map[string]bool{}, map[string]bool{}
	typePaths(reflect.TypeFor[report.Report](), "", types, maps)
	typePaths(reflect.TypeFor[apps.AppReport](), "app:", types, maps)
	// The app report's sections hold image reports, documented once.
	for p := range types {
		if strings.HasPrefix(p, "app:sections.report.") {
			delete(types, p)
		}
	}
	for m := range maps {
		if rest, ok := strings.CutPrefix(m, "app:sections.report."); ok {
			maps[rest] = true
		}
	}
	for _, p := range keys(types) {
		if !doc[p] {
			t.Errorf("field %s is written but not documented in docs/report.md", p)
		}
	}
	for _, p := range keys(doc) {
		if i := strings.LastIndex(p, "."); i > 0 && maps[p[:i]] {
			continue // a key of a map (summary.by_severity.high): data
		}
		if !types[p] {
			t.Errorf("docs/report.md documents %s, which no report writes", p)
		}
	}

	// A real app scan: the AlmaLinux image with the AlmaLinux advisories,
	// under a policy that ignores one finding.
	images := testenv.Images(t)
	data := testenv.VulnData(t, "almalinux-osv-database", "advisories", "almalinux9")
	dir := t.TempDir()
	db := filepath.Join(dir, "lapps.db")
	alma := "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3"
	cfg := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(cfg, []byte("policy:\n  fail_on: high\n  ignore:\n    - {id: ALSA-2024:3339, package: glibc, reason: not reachable}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"vulndb", "import", "--type", "osv", data},
		{"app", "create", "-a", "shop", "--image", alma},
	} {
		if code, _, stderr := run(t, db, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	code, out, stderr := run(t, db, "-c", cfg, "app", "security", "scan", "-a", "shop", "-o", "json")
	if code != 0 && code != ExitFindings {
		t.Fatalf("app security scan: exit %d: %s", code, stderr)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("app report: %v\n%s", err, out)
	}
	written := map[string]bool{}
	jsonPaths(v, "app:", written, maps)
	for p := range written {
		if rest, ok := strings.CutPrefix(p, "app:sections.report."); ok {
			delete(written, p)
			written[rest] = true
		}
	}
	for _, p := range keys(written) {
		if !doc[p] {
			t.Errorf("the JSON of an app scan has %s, not documented in docs/report.md", p)
		}
	}
	for _, p := range []string{
		"app:sections.verdict.suppressed.finding.id", "app:sections.verdict.suppressed.rule", "app:images.index",
		"vulnerabilities.ecosystem", "vulnerabilities.package_kind", "vulnerabilities.purl", "vulnerabilities.db_path",
		"vulnerabilities.matched_by", "vulnerabilities.source", "data_sources.covers", "packages.purl",
	} {
		if !written[p] {
			t.Errorf("the app scan did not write %s", p)
		}
	}
	// The fields without omitempty are always written.
	var img map[string]any
	if err := json.Unmarshal([]byte(mustSection(t, v)), &img); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"image", "manifest_digest", "scan_index", "scanned_at", "generated_at", "live", "indexer_version",
		"distribution", "layers", "packages", "vulnerabilities", "summary", "not_affected", "data_sources", "warnings"} {
		if _, ok := img[f]; !ok {
			t.Errorf("the image report has no %s", f)
		}
	}
	if w, ok := img["warnings"].([]any); !ok || w == nil {
		t.Errorf("warnings is %v, want an array ([] when none)", img["warnings"])
	}
	if !slices.Contains(keys(written), "app:sections.verdict.suppressed.reason") {
		t.Error("the suppressed finding has no reason")
	}
}

// mustSection returns the JSON of the first section's image report.
func mustSection(t *testing.T, v map[string]any) string {
	t.Helper()
	secs, _ := v["sections"].([]any)
	if len(secs) == 0 {
		t.Fatal("app report without sections")
	}
	b, err := json.Marshal(secs[0].(map[string]any)["report"])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
