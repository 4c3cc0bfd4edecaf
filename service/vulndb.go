package service

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/updater"
)

// UpdateVulnDB runs the named configured sources (all when names is
// empty). A source that fails does not stop the others; its error is in
// its result.
func (l *Local) UpdateVulnDB(ctx context.Context, names []string) ([]SourceResult, error) {
	var run []updater.Source
	if len(names) == 0 {
		for _, s := range l.sources {
			if s.IsEnabled() {
				run = append(run, s)
			}
		}
	} else {
		byName := map[string]updater.Source{}
		for _, s := range l.sources {
			byName[s.Name] = s
		}
		for _, n := range names {
			s, ok := byName[n]
			if !ok {
				return nil, fmt.Errorf("no source named %q is configured (see `lapps vulndb status`): %w", n, ErrBadRequest)
			}
			run = append(run, s)
		}
	}
	results := updater.RunAll(ctx, l.st, run)
	out := make([]SourceResult, 0, len(results))
	for i, r := range results {
		out = append(out, sourceResult(run[i], r))
	}
	return out, nil
}

func sourceResult(src updater.Source, r updater.Result) SourceResult {
	res := SourceResult{Source: src.Name, Type: src.Type}
	res.Changed = r.Changed
	if r.Run != nil {
		res.Duration = r.Run.Duration
	}
	res.Records = r.Records
	res.Skipped, res.SkippedBy = r.Skipped, r.SkippedBy
	if r.Err != nil {
		res.Error = r.Err.Error()
	}
	return res
}

// ImportVulnDB loads local data in a source type's own format as source
// name, by default ImportName(typ, path). It never replaces data that came
// from elsewhere unless replace is set: not a configured source's, not
// another path's import, not data of another type, not data whose origin
// lapps did not record. Importing the same path again (under the same
// type) is an update of that import, replace or not. The result says what
// the import replaced (Replaced). WithImportOrigin names the path the
// data came from when path is a copy (the server's upload).
func (l *Local) ImportVulnDB(ctx context.Context, typ, path, name string, replace bool) (*SourceResult, error) {
	origin := store.OriginFrom(ctx).Path
	if origin == "" {
		origin = absPath(path)
	}
	if name == "" {
		name = ImportName(typ, origin)
	}
	configured, configuredType := false, ""
	for _, s := range l.sources {
		if s.Name == name {
			configured, configuredType = true, s.Type
			if !replace {
				return nil, fmt.Errorf("source %q is configured (type %s): an import under its name would replace its data; give --replace (replace=true over the API) to do so, or choose another --name: %w", name, s.Type, ErrBadRequest)
			}
		}
	}
	data, err := l.st.SourceData(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: vulnerability data: %w", err)
	}
	var prev *store.SourceData
	for i := range data {
		if data[i].Source == name {
			prev = &data[i]
		}
	}
	sameImport := prev != nil && !configured && prev.Origin == origin && prev.Type == typ
	if prev != nil && !sameImport && !replace {
		return nil, fmt.Errorf("source %q holds %d records %s: an import of %s under its name would replace them; give --replace (replace=true over the API) to do so, or choose another --name: %w",
			name, prev.Records, describeOrigin(prev), origin, ErrBadRequest)
	}
	src := updater.Source{Name: name, Type: typ, Path: path}
	ctx = store.WithOrigin(ctx, store.Origin{Type: typ, Path: origin})
	r := updater.RunAll(ctx, l.st, []updater.Source{src})[0]
	res := sourceResult(src, r)
	if r.Err != nil {
		return &res, r.Err
	}
	if prev != nil && r.Changed {
		res.Replaced = &Replaced{Origin: prev.Origin, Type: prev.Type, Records: prev.Records, SameImport: sameImport}
		if res.Replaced.Type == "" {
			res.Replaced.Type = configuredType
		}
	}
	return &res, nil
}

// describeOrigin says where a source's data came from, for errors.
func describeOrigin(d *store.SourceData) string {
	switch {
	case d.Origin != "" && d.Type != "":
		return fmt.Sprintf("imported from %s (type %s)", d.Origin, d.Type)
	case d.Origin != "":
		return "imported from " + d.Origin
	case d.Type != "":
		return fmt.Sprintf("of type %s fetched from its configured feed", d.Type)
	}
	return "whose origin was not recorded (stored by an earlier lapps)"
}

// absPath returns path made absolute and clean, or as given when the
// working directory is unknown.
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// ImportName is the default source name of an import of path as type
// typ: "import-TYPE-BASE", BASE being the last element of path without a
// ".zip" extension, lower-cased, each run of characters other than a-z,
// 0-9, '.' and '_' turned into '-', trimmed of '-' and '.', at most 64
// characters ("data" when nothing is left). So imports of different
// directories keep different names: ./osv/almalinux → import-osv-almalinux.
func ImportName(typ, path string) string {
	base := filepath.Base(filepath.Clean(absPath(path)))
	if strings.EqualFold(filepath.Ext(base), ".zip") {
		base = base[:len(base)-len(".zip")]
	}
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(base) {
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_'
		if !ok {
			dash = true
			continue
		}
		if dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		dash = false
		b.WriteRune(c)
	}
	name := strings.Trim(b.String(), "-.")
	if len(name) > 64 {
		name = strings.TrimRight(name[:64], "-.")
	}
	if name == "" {
		name = "data"
	}
	return "import-" + typ + "-" + name
}

// WithImportOrigin returns a context under which ImportVulnDB records
// origin (the path the user named) as where the data came from, rather
// than the path it reads: the server reads an uploaded copy of the
// client's file.
func WithImportOrigin(ctx context.Context, origin string) context.Context {
	return store.WithOrigin(ctx, store.Origin{Path: origin})
}

// VulnDBStatus lists every configured source, and every source that has
// data without being configured now (an import, or a source since
// removed from the configuration).
func (l *Local) VulnDBStatus(ctx context.Context) ([]SourceStatus, error) {
	stored, err := l.st.SourceStatuses(ctx)
	if err != nil {
		return nil, fmt.Errorf("vulnerability data status: %w", err)
	}
	byName := map[string]store.SourceStatus{}
	for _, s := range stored {
		byName[s.Source] = s
	}
	data, err := l.st.SourceData(ctx)
	if err != nil {
		return nil, fmt.Errorf("vulnerability data status: %w", err)
	}
	dataOf := map[string]store.SourceData{}
	for _, d := range data {
		dataOf[d.Source] = d
	}
	now := l.now().UTC()
	var out []SourceStatus
	seen := map[string]bool{}
	add := func(name, typ string, configured, enabled bool) {
		seen[name] = true
		st := SourceStatus{Source: name, Type: typ, Configured: configured, Enabled: enabled}
		if s, ok := byName[name]; ok {
			if s.LastRun != nil {
				st.LastRun = s.LastRun.StartedAt
				st.LastError = s.LastRun.Err
			}
			st.LastSuccess = s.LastSuccess
			if s.Latest != nil {
				st.Operation = s.Latest.ID
				st.UpdatedAt = s.Latest.CreatedAt
				st.Records = s.Latest.Records
			}
		}
		if d, ok := dataOf[name]; ok {
			if st.Type == "" {
				st.Type = d.Type
			}
			st.Origin, st.Ecosystems = d.Origin, d.Ecosystems
			st.DataAge = report.Age(d.NewestRecord, now)
			if !d.NewestRecord.IsZero() {
				t := d.NewestRecord
				st.NewestRecord = &t
			}
		}
		out = append(out, st)
	}
	for _, s := range l.sources {
		add(s.Name, s.Type, true, s.IsEnabled())
	}
	var rest []string
	for n := range byName {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	for _, n := range rest {
		add(n, "", false, true)
	}
	return out, nil
}
