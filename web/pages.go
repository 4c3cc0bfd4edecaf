package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/lapps/lapps/web/render"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// Bounds of the overview and the vulnerability page.
const (
	// maxApps bounds the apps of the matrix.
	maxApps = 500
	// maxKEVImages bounds the deployed images whose reports the overview
	// reads to count known-exploited findings.
	maxKEVImages = 100
	// topImages is how many of the riskiest images the overview lists.
	topImages = 15
	// maxManifests bounds the manifests the vulnerability page matches.
	maxManifests = 300
	// staleData is the age from which a source's newest record is
	// flagged as old, staleRun the time since its last successful run.
	staleData = 30 * 24 * time.Hour
	staleRun  = 48 * time.Hour
)

// failed logs err and renders the error page that fits it.
func (c *Console) failed(w http.ResponseWriter, r *http.Request, v *viewer, what string, err error) {
	var bp render.BadParam
	switch {
	case errors.As(err, &bp):
		c.error(w, r, v, http.StatusBadRequest, bp.Error())
	case errors.Is(err, store.ErrNotFound):
		c.error(w, r, v, http.StatusNotFound, "Not found: "+what+".")
	case errors.Is(err, service.ErrBadRequest):
		c.error(w, r, v, http.StatusBadRequest, err.Error())
	default:
		c.o.Logger.Error("console: "+what, "err", err)
		c.error(w, r, v, http.StatusInternalServerError, "Something failed while reading "+what+"; the server's log says what.")
	}
}

// matrixCell is the verdict of an app in an environment: its latest
// deployment attempt there.
type matrixCell struct {
	Env      string
	Verdict  string
	Accepted bool
	At       time.Time
	Reasons  []string
	Images   []string
}

type matrixRow struct {
	App   string
	Cells []*matrixCell // by the matrix's environments; nil: never deployed there
	// Scan is the verdict of the app's latest app scan ("" for none).
	Scan      string
	ScanIndex int
	Reasons   []string
}

type sourceView struct {
	service.SourceStatus
	Warnings []string
}

type imageRow struct {
	service.ScanSummary
	Total int
}

type overviewData struct {
	Envs      []string
	Rows      []matrixRow
	AppsMore  int
	Totals    map[string]int
	Findings  int
	Images    int
	KEV       int
	KEVImages int
	Sources   []sourceView
	Pending   int
	Top       []imageRowView
	EnvChart  *render.Chart
	Warnings  int
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := c.overviewData(r.Context())
	if err != nil {
		c.failed(w, r, v, "the overview", err)
		return
	}
	c.render(w, r, http.StatusOK, "overview", &render.Page{Title: "Overview", Viewer: v, Data: d})
}

func (c *Console) overviewData(ctx context.Context) (*overviewData, error) {
	d := &overviewData{Totals: map[string]int{}}
	latest, err := c.b.LatestScans(ctx)
	if err != nil {
		return nil, err
	}
	byImage := make(map[string]*service.ScanSummary, len(latest))
	rows := make([]imageRow, 0, len(latest))
	for i := range latest {
		s := &latest[i]
		byImage[s.Image] = s
		t := 0
		for k, n := range s.Vulnerabilities {
			d.Totals[k] += n
			t += n
		}
		d.Findings += t
		rows = append(rows, imageRow{ScanSummary: *s, Total: t})
	}
	d.Images = len(latest)
	slices.SortFunc(rows, func(a, b imageRow) int { return riskOrder(a.Vulnerabilities, b.Vulnerabilities, a.Image, b.Image) })
	d.Top = imageRows(rows[:min(len(rows), topImages)])

	list, err := c.b.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	if len(list) > maxApps {
		d.AppsMore = len(list) - maxApps
		list = list[:maxApps]
	}
	envSet := map[string]bool{}
	cells := map[string]map[string]*matrixCell{}
	deployed := map[string]map[string]bool{} // env → images
	for _, a := range list {
		hist, err := c.b.AppHistory(ctx, a.Name)
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", a.Name, err)
		}
		m := map[string]*matrixCell{}
		for _, dep := range hist { // oldest first: the latest attempt wins
			envSet[dep.Env] = true
			m[dep.Env] = &matrixCell{Env: dep.Env, Verdict: dep.Verdict, Accepted: dep.Accepted, At: dep.At, Reasons: dep.Reasons, Images: dep.Images}
		}
		cells[a.Name] = m
		for _, dep := range a.Deployments { // current, accepted
			if deployed[dep.Env] == nil {
				deployed[dep.Env] = map[string]bool{}
			}
			for _, img := range dep.Images {
				deployed[dep.Env][img] = true
			}
		}
		row := matrixRow{App: a.Name}
		if scans, err := c.b.ListAppScans(ctx, a.Name); err == nil && len(scans) > 0 {
			last := scans[len(scans)-1]
			row.Scan, row.ScanIndex = last.Verdict, last.Index
		}
		d.Rows = append(d.Rows, row)
	}
	for e := range envSet {
		d.Envs = append(d.Envs, e)
	}
	slices.Sort(d.Envs)
	for i := range d.Rows {
		for _, e := range d.Envs {
			d.Rows[i].Cells = append(d.Rows[i].Cells, cells[d.Rows[i].App][e])
		}
	}
	// Severities per environment, of the images deployed there now; and
	// the known-exploited findings of those images, from their latest
	// reports as recorded.
	var envLabels []string
	var envCounts []map[string]int
	seen := map[string]bool{}
	var kevImages []string
	for _, e := range d.Envs {
		if len(deployed[e]) == 0 {
			continue // nothing deployed there now (refused, say)
		}
		m := map[string]int{}
		imgs := make([]string, 0, len(deployed[e]))
		for img := range deployed[e] {
			imgs = append(imgs, img)
		}
		slices.Sort(imgs)
		for _, img := range imgs {
			if s := byImage[img]; s != nil {
				for k, n := range s.Vulnerabilities {
					m[k] += n
				}
			}
			if !seen[img] && byImage[img] != nil {
				seen[img] = true
				kevImages = append(kevImages, img)
			}
		}
		envLabels = append(envLabels, e)
		envCounts = append(envCounts, m)
	}
	if len(envLabels) > 0 {
		d.EnvChart = render.EnvChart("Findings per environment", envLabels, envCounts)
	}
	for _, img := range kevImages[:min(len(kevImages), maxKEVImages)] {
		rep, err := c.b.Report(ctx, img, byImage[img].Index)
		if err != nil {
			continue // pruned since: counted as nothing
		}
		d.KEVImages++
		for i := range rep.Vulnerabilities {
			if rep.Vulnerabilities[i].KnownExploited != nil {
				d.KEV++
			}
		}
	}
	st, err := c.b.Sources(ctx)
	if err != nil {
		return nil, err
	}
	d.Sources = sourceViews(st, c.o.Now())
	for _, s := range d.Sources {
		d.Warnings += len(s.Warnings)
	}
	if d.Pending, err = c.b.PendingJobs(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// riskOrder orders images most at risk first: by critical, then high,
// medium and low counts, then by name.
func riskOrder(a, b map[string]int, an, bn string) int {
	for _, s := range []string{"critical", "high", "medium", "low", "negligible", "unknown"} {
		if c := cmp.Compare(b[s], a[s]); c != 0 {
			return c
		}
	}
	return cmp.Compare(an, bn)
}

// sourceViews adds the warnings a person should see: errors, no data,
// old data, no recent successful run.
func sourceViews(st []service.SourceStatus, now time.Time) []sourceView {
	out := make([]sourceView, 0, len(st))
	for _, s := range st {
		sv := sourceView{SourceStatus: s}
		if s.LastError != "" {
			sv.Warnings = append(sv.Warnings, "last run failed")
		}
		if s.Records == 0 {
			sv.Warnings = append(sv.Warnings, "no data")
		}
		if s.NewestRecord != nil && now.Sub(*s.NewestRecord) > staleData {
			sv.Warnings = append(sv.Warnings, "newest record older than 30 days")
		}
		if s.Configured && s.Enabled && (s.LastSuccess.IsZero() || now.Sub(s.LastSuccess) > staleRun) {
			sv.Warnings = append(sv.Warnings, "no successful run in 48 hours")
		}
		out = append(out, sv)
	}
	return out
}

type imagesData struct {
	Rows  []imageRowView
	More  int
	Query string
}

// imagesPage lists every image's latest scan, riskiest first, with a
// name filter.
func (c *Console) imagesPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	q, err := render.TextParam(r.URL.Query(), "q")
	if err != nil {
		c.failed(w, r, v, "images", err)
		return
	}
	latest, err := c.b.LatestScans(r.Context())
	if err != nil {
		c.failed(w, r, v, "images", err)
		return
	}
	d := &imagesData{Query: q}
	var rows []imageRow
	for _, s := range latest {
		if !render.ContainsFold(s.Image, q) {
			continue
		}
		t := 0
		for _, n := range s.Vulnerabilities {
			t += n
		}
		rows = append(rows, imageRow{ScanSummary: s, Total: t})
	}
	slices.SortFunc(rows, func(a, b imageRow) int { return riskOrder(a.Vulnerabilities, b.Vulnerabilities, a.Image, b.Image) })
	if len(rows) > render.MaxRows {
		d.More = len(rows) - render.MaxRows
		rows = rows[:render.MaxRows]
	}
	d.Rows = imageRows(rows)
	c.render(w, r, http.StatusOK, "images", &render.Page{Title: "Images", Viewer: v, Data: d})
}

func (c *Console) imagePage(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := r.URL.Query()
	ref, err := render.RefParam(q, "ref")
	if err == nil && ref == "" {
		err = render.BadParam{Name: "ref", Why: "is required (the image's name)"}
	}
	if err != nil {
		c.failed(w, r, v, "the image", err)
		return
	}
	f, err := render.ParseFilter(q)
	if err != nil {
		c.failed(w, r, v, "the image", err)
		return
	}
	index, err := render.IntParam(q, "scan")
	if err != nil {
		c.failed(w, r, v, "the image", err)
		return
	}
	diff, err := render.IntParam(q, "diff")
	if err != nil {
		c.failed(w, r, v, "the image", err)
		return
	}
	ctx := r.Context()
	scans, err := c.b.ListScans(ctx, ref)
	if err == nil && len(scans) == 0 {
		err = fmt.Errorf("no scans of %s: %w", ref, store.ErrNotFound)
	}
	if err != nil {
		c.failed(w, r, v, "the image "+ref, err)
		return
	}
	if index == 0 {
		index = scans[len(scans)-1].Index
	}
	rep, err := c.b.Report(ctx, ref, index)
	if err != nil {
		c.failed(w, r, v, fmt.Sprintf("scan %d of %s", index, ref), err)
		return
	}
	rows := make([]render.ScanRow, len(scans))
	for i, s := range scans {
		rows[i] = render.ScanRow{Image: s.Image, Index: s.Index, ScannedAt: s.ScannedAt, ManifestDigest: s.ManifestDigest, Packages: s.Packages, Vulnerabilities: s.Vulnerabilities}
	}
	d := render.NewImageData(rep, f, rows)
	if diff > 0 && diff != index {
		base, err := c.b.Report(ctx, ref, diff)
		if err != nil {
			c.failed(w, r, v, fmt.Sprintf("scan %d of %s", diff, ref), err)
			return
		}
		d.Diff = render.DiffFindings(base, rep)
	}
	d.ClearURL = "/image?" + url.Values{"ref": {ref}, "scan": {strconv.Itoa(index)}}.Encode()
	for _, col := range []struct{ label, key string }{{"Severity", "severity"}, {"ID", "id"}, {"Package", "package"}, {"Fixed in", "fixed"}, {"Exploit", "epss"}, {"Ecosystem", "ecosystem"}} {
		desc := f.Sort == col.key && !f.Desc
		qq := f.Query(col.key, desc)
		qq.Set("ref", ref)
		qq.Set("scan", strconv.Itoa(index))
		sorted := "none"
		if f.Sort == col.key {
			sorted = map[bool]string{false: "ascending", true: "descending"}[f.Desc]
		}
		d.Columns = append(d.Columns, render.Column{Label: col.label, URL: "/image?" + qq.Encode(), Sorted: sorted})
	}
	c.render(w, r, http.StatusOK, "image", &render.Page{Title: ref, Viewer: v, Data: d})
}

type appData struct {
	App     *apps.App
	Current []apps.Deployment
	History []apps.Deployment
	Scans   []apps.AppScanSummary
	Chart   *render.Chart
	Latest  *apps.AppReport
	Images  []string
}

func (c *Console) appPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	name := r.PathValue("app")
	if len(name) > render.MaxText {
		c.failed(w, r, v, "the app", render.BadParam{Name: "app", Why: "is too long"})
		return
	}
	ctx := r.Context()
	list, err := c.b.ListApps(ctx)
	if err != nil {
		c.failed(w, r, v, "apps", err)
		return
	}
	i := slices.IndexFunc(list, func(a apps.App) bool { return a.Name == name })
	if i < 0 {
		c.failed(w, r, v, "app "+name, store.ErrNotFound)
		return
	}
	d := &appData{App: &list[i], Current: list[i].Deployments, Images: list[i].Images}
	if d.History, err = c.b.AppHistory(ctx, name); err != nil {
		c.failed(w, r, v, "the deployments of "+name, err)
		return
	}
	slices.Reverse(d.History) // newest first
	if d.Scans, err = c.b.ListAppScans(ctx, name); errors.Is(err, store.ErrNotFound) {
		d.Scans, err = nil, nil // no app scan yet
	}
	if err != nil {
		c.failed(w, r, v, "the scans of "+name, err)
		return
	}
	if len(d.Scans) > 0 {
		var labels []string
		var counts []map[string]int
		var links []string
		for _, s := range d.Scans {
			labels = append(labels, "#"+strconv.Itoa(s.Index))
			counts = append(counts, s.Vulnerabilities)
			links = append(links, "")
		}
		d.Chart = render.TimeChart("Findings over time (app scans)", labels, counts, nil)
		if rep, err := c.b.AppReport(ctx, name, 0); err == nil {
			d.Latest = rep
		}
	}
	c.render(w, r, http.StatusOK, "app", &render.Page{Title: name, Viewer: v, Data: d})
}

// affectedRow is one package of one image a vulnerability affects now.
type affectedRow struct {
	Images   []string
	Manifest string
	Finding  vuln.Finding
}

type vulnData struct {
	ID          string
	Aliases     []string
	Title       string
	Description string
	Severity    string
	Sources     []string
	Records     []vuln.Record
	KEV         *vuln.KnownExploited
	Affected    []affectedRow
	Apps        []string
	Candidates  int
	Truncated   int
	Links       []string
}

func (c *Console) vulnPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	if id == "" || len(id) > 100 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		c.failed(w, r, v, "the vulnerability", render.BadParam{Name: "id", Why: "must be a vulnerability id"})
		return
	}
	d, err := c.vulnData(r.Context(), id)
	if err != nil {
		c.failed(w, r, v, "vulnerability "+id, err)
		return
	}
	c.render(w, r, http.StatusOK, "vuln", &render.Page{Title: id, Viewer: v, Data: d})
}

// vulnData finds what is known of a vulnerability and where it affects
// now: its records (and those of its aliases), the manifests holding a
// package those records name (the store's inverted package index), each
// matched against the current data without reading the image.
func (c *Console) vulnData(ctx context.Context, id string) (*vulnData, error) {
	recs, err := c.b.RecordsByID(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{id: true}
	for _, r := range recs {
		for _, a := range append(append([]string{}, r.Aliases...), r.CVEs...) {
			if len(ids) < store.MaxRecordIDs {
				ids[a] = true
			}
		}
	}
	if len(ids) > 1 {
		more := make([]string, 0, len(ids))
		for k := range ids {
			more = append(more, k)
		}
		if recs, err = c.b.RecordsByID(ctx, more); err != nil {
			return nil, err
		}
	}
	d := &vulnData{ID: id}
	sev := vuln.SeverityUnknown
	sources := map[string]bool{}
	aliases := map[string]bool{}
	links := map[string]bool{}
	byKind := map[string]map[string]bool{}
	for _, r := range recs {
		if r.Ecosystem == vuln.EcosystemEnrichment || r.Package == "" {
			// enrichment: severity, description, exploitation
		} else if kind := kindOf(r.Ecosystem); kind != "" {
			if byKind[kind] == nil {
				byKind[kind] = map[string]bool{}
			}
			byKind[kind][r.Package] = true
		}
		if r.Severity > sev {
			sev = r.Severity
		}
		sources[r.Source] = true
		for _, a := range append(append([]string{r.ID}, r.Aliases...), r.CVEs...) {
			if a != id {
				aliases[a] = true
			}
		}
		if len(r.Description) > len(d.Description) {
			d.Description = r.Description
		}
		if d.Title == "" {
			d.Title = r.Title
		}
		if r.KnownExploited != nil {
			d.KEV = r.KnownExploited
		}
		for _, l := range r.Links {
			if len(links) < 20 {
				links[l] = true
			}
		}
	}
	d.Severity = sev.String()
	d.Records = recs
	d.Sources = sortedKeys(sources)
	d.Aliases = sortedKeys(aliases)
	d.Links = sortedKeys(links)
	if len(recs) == 0 {
		return nil, fmt.Errorf("no current record of %s: %w", id, store.ErrNotFound)
	}
	// Where it affects now.
	var digests []string
	seen := map[string]bool{}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		ms, err := c.b.ManifestsWithPackages(ctx, kind, sortedKeys(byKind[kind]))
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if !seen[m] {
				seen[m] = true
				digests = append(digests, m)
			}
		}
	}
	d.Candidates = len(digests)
	if len(digests) > maxManifests {
		d.Truncated = len(digests) - maxManifests
		digests = digests[:maxManifests]
	}
	affectedImages := map[string]bool{}
	for _, m := range digests {
		imgs, err := c.b.ImagesOfManifest(ctx, m)
		if err != nil {
			return nil, err
		}
		if len(imgs) == 0 {
			continue // indexed, but no image's latest scan is of it
		}
		rep, err := c.b.ManifestReport(ctx, m)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, f := range rep.Vulnerabilities {
			if ids[f.ID] || slices.ContainsFunc(f.Aliases, func(a string) bool { return ids[a] }) || slices.ContainsFunc(f.CVEs, func(a string) bool { return ids[a] }) {
				d.Affected = append(d.Affected, affectedRow{Images: imgs, Manifest: m, Finding: f})
				for _, img := range imgs {
					affectedImages[img] = true
				}
			}
		}
	}
	list, err := c.b.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range list {
		hit := slices.ContainsFunc(a.Images, func(img string) bool { return affectedImages[img] })
		for _, dep := range a.Deployments {
			hit = hit || slices.ContainsFunc(dep.Images, func(img string) bool { return affectedImages[img] })
		}
		if hit {
			d.Apps = append(d.Apps, a.Name)
		}
	}
	return d, nil
}

func kindOf(ecosystem string) string {
	e, _ := vuln.EcosystemOf(ecosystem)
	return e.Kind
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

type sourcesData struct {
	Sources []sourceView
	Pending int
	Results []service.SourceResult
	// Updates are the latest data updates of each source.
	Updates []sourceUpdate
}

// sourceUpdate is one stored data update of a source.
type sourceUpdate struct {
	Source string
	store.UpdateOperation
}

// updatesPerSource is how many of each source's data updates the
// sources page lists.
const updatesPerSource = 5

func (c *Console) sourcesPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	d, err := c.sourcesData(r.Context())
	if err != nil {
		c.failed(w, r, v, "the sources", err)
		return
	}
	c.render(w, r, http.StatusOK, "sources", &render.Page{Title: "Sources and jobs", Viewer: v, Data: d})
}

func (c *Console) sourcesData(ctx context.Context) (*sourcesData, error) {
	st, err := c.b.Sources(ctx)
	if err != nil {
		return nil, err
	}
	d := &sourcesData{Sources: sourceViews(st, c.o.Now())}
	if d.Pending, err = c.b.PendingJobs(ctx); err != nil {
		return nil, err
	}
	for _, s := range st {
		ops, err := c.b.UpdateOperations(ctx, s.Source)
		if err != nil {
			return nil, err
		}
		for _, op := range ops[:min(len(ops), updatesPerSource)] {
			d.Updates = append(d.Updates, sourceUpdate{Source: s.Source, UpdateOperation: op})
		}
	}
	return d, nil
}

// runSource re-runs one source now and shows the sources with its
// result.
func (c *Console) runSource(w http.ResponseWriter, r *http.Request, v *viewer) {
	name, err := render.TextParam(r.PostForm, "source")
	if err == nil && name == "" {
		err = render.BadParam{Name: "source", Why: "is required"}
	}
	if err != nil {
		c.failed(w, r, v, "the source", err)
		return
	}
	ctx := r.Context()
	res, err := c.b.UpdateSources(ctx, []string{name})
	if err != nil {
		c.failed(w, r, v, "source "+name, err)
		return
	}
	d, err := c.sourcesData(ctx)
	if err != nil {
		c.failed(w, r, v, "the sources", err)
		return
	}
	d.Results = res
	c.render(w, r, http.StatusOK, "sources", &render.Page{Title: "Sources and jobs", Viewer: v, Data: d})
}

// scan queues a scan of an image and shows its job.
func (c *Console) scan(w http.ResponseWriter, r *http.Request, v *viewer) {
	img, err := render.RefParam(r.PostForm, "image")
	if err == nil && img == "" {
		err = render.BadParam{Name: "image", Why: "is required"}
	}
	if err != nil {
		c.failed(w, r, v, "the scan", err)
		return
	}
	id, err := c.b.Scan(r.Context(), img)
	if err != nil {
		c.failed(w, r, v, "the scan of "+img, err)
		return
	}
	http.Redirect(w, r, "/jobs/"+url.PathEscape(id), http.StatusSeeOther)
}

func (c *Console) jobPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	id := r.PathValue("id")
	if len(id) > 200 {
		c.failed(w, r, v, "the job", render.BadParam{Name: "id", Why: "is too long"})
		return
	}
	j, err := c.b.Job(r.Context(), id)
	if err != nil {
		c.failed(w, r, v, "job "+id, err)
		return
	}
	c.render(w, r, http.StatusOK, "job", &render.Page{Title: "Scan job", Viewer: v, Data: j})
}
