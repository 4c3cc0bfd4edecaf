package service

import (
	"context"
	"fmt"
	"sort"

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

// ImportVulnDB loads local data in a source type's own format. It
// replaces the data stored under name; under the name of a configured
// source only with replace.
func (l *Local) ImportVulnDB(ctx context.Context, typ, path, name string, replace bool) (*SourceResult, error) {
	if name == "" {
		name = "import-" + typ
	}
	if !replace {
		for _, s := range l.sources {
			if s.Name == name {
				return nil, fmt.Errorf("source %q is configured (type %s): an import under its name would replace its data; give --replace (replace=true over the API) to do so, or choose another --name: %w", name, s.Type, ErrBadRequest)
			}
		}
	}
	src := updater.Source{Name: name, Type: typ, Path: path}
	r := updater.RunAll(ctx, l.st, []updater.Source{src})[0]
	res := sourceResult(src, r)
	if r.Err != nil {
		return &res, r.Err
	}
	return &res, nil
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
	var out []SourceStatus
	seen := map[string]bool{}
	add := func(name, typ string, configured bool) {
		seen[name] = true
		st := SourceStatus{Source: name, Type: typ, Configured: configured}
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
		out = append(out, st)
	}
	for _, s := range l.sources {
		add(s.Name, s.Type, true)
	}
	var rest []string
	for n := range byName {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	for _, n := range rest {
		add(n, "", false)
	}
	return out, nil
}
