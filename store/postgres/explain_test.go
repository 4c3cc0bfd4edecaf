package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// planNode is a node of a plan of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Plans        []planNode `json:"Plans"`
}

// walk calls fn on n and each node below it.
func (n *planNode) walk(fn func(*planNode)) {
	fn(n)
	for i := range n.Plans {
		n.Plans[i].walk(fn)
	}
}

// bigTables are the tables that grow with the data: a sequential scan
// over any of them in a query that matters is a regression.
// (update_operations is not one: it is pruned to a few operations per
// source, and reading it whole is the right plan.)
var bigTables = []string{"records", "uo_records", "manifest_packages", "manifest_package_rows", "manifests", "manifest_layers", "layers", "layer_blobs", "scans", "notifications", "jobs"}

// TestQueryPlans fills a database as a busy server's (62k records in three
// update operations, 2,000 manifests of 100 packages, 20,000 scans of
// 1,000 images, 20,000 notifications, 20,000 finished scan jobs beside 50
// queued, 20,000 layers and as many verified blobs) and checks that the queries that
// matter use the indexes designed for them, both as custom plans (the
// first executions of a statement) and as generic plans (which the server
// may switch to after five), never a sequential scan of a large table.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()

	for _, u := range []struct {
		source string
		n, gen int
	}{{"debian-tracker", 10_000, 0}, {"debian-tracker", 50_000, 1}, {"osv-debian", 2_000, 0}} {
		if _, err := s.PutUpdate(ctx, u.source, "", genRecords(u.source, u.n, u.gen)); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at, last_seen)
			SELECT 'sha256:' || lpad(m::text, 64, '0'), '1', '{}', now(), now(), now() FROM generate_series(1, 2000) AS m`,
		`INSERT INTO manifest_packages (manifest, kind, name)
			SELECT 'sha256:' || lpad(m::text, 64, '0'), 'deb', 'pkg' || lpad(((m * 7 + p * 13) % 5000)::text, 5, '0')
			FROM generate_series(1, 2000) AS m, generate_series(1, 100) AS p ON CONFLICT DO NOTHING`,
		`INSERT INTO manifest_package_rows (manifest, position, kind, name, source_name, data, hash)
			SELECT 'sha256:' || lpad(m::text, 64, '0'), p, 'deb', 'pkg' || lpad(((m * 7 + p * 13) % 5000)::text, 5, '0'),
				CASE WHEN p % 3 = 0 THEN 'src' || lpad(((m + p) % 700)::text, 4, '0') ELSE '' END, '{}',
				substring(sha256(convert_to(p::text, 'UTF8')) FROM 1 FOR 16)
			FROM generate_series(1, 2000) AS m, generate_series(1, 100) AS p`,
		`INSERT INTO scans (image, idx, scanned_at, manifest_digest, packages, counts, report)
			SELECT 'registry.example/app' || i, n, now(), 'sha256:' || lpad((i * 2 + n)::text, 64, '0'), 100, '{}', '\x7b7d'
			FROM generate_series(1, 1000) AS i, generate_series(1, 20) AS n`,
		`INSERT INTO notifications (id, webhook, kind, payload, created_at, next_attempt, delivered_at)
			SELECT 'n-' || i, 'ops', 'vulnerability', '\x7b7d', now() - interval '1 day', now() - interval '1 day',
				CASE WHEN i % 100 = 0 THEN NULL ELSE now() END
			FROM generate_series(1, 20000) AS i`,
		`INSERT INTO jobs (id, kind, request, state, attempts, holder, created_at, started_at, finished_at, result)
			SELECT 'job-' || i, 'scan', '\x7b7d', 'succeeded', 1, 'replica-1', now() - interval '2 days',
				now() - interval '2 days', now() - (i * interval '1 second'), '\x7b7d'
			FROM generate_series(1, 20000) AS i`,
		`INSERT INTO jobs (id, kind, request, state, created_at)
			SELECT 'queued-' || i, 'scan', '\x7b7d', 'queued', now() FROM generate_series(1, 50) AS i`,
		`INSERT INTO layers (digest, indexer_version, data, created_at)
			SELECT 'sha256:' || lpad(l::text, 64, 'f'), '1', '{}', now() - (l * interval '1 minute') FROM generate_series(1, 20000) AS l`,
		`INSERT INTO manifest_layers (manifest, position, layer)
			SELECT 'sha256:' || lpad(m::text, 64, '0'), p, 'sha256:' || lpad((m * 5 + p)::text, 64, 'f')
			FROM generate_series(1, 2000) AS m, generate_series(0, 4) AS p`,
		`INSERT INTO layer_blobs (blob, diff_id, verified_at)
			SELECT 'sha256:' || lpad(l::text, 64, 'b'), 'sha256:' || lpad(l::text, 64, 'f'), now() FROM generate_series(1, 20000) AS l`,
		`ANALYZE`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("fill: %v", err)
		}
	}

	names := make([]string, 150)
	for i := range names {
		if i%3 == 0 {
			names[i] = fmt.Sprintf("pkg%05d", i*80)
		} else {
			names[i] = fmt.Sprintf("lib%d-unaffected", i)
		}
	}
	// Ids as a report asks them: some records', most nobody's.
	ids := make([]string, 200)
	for i := range ids {
		if i%4 == 0 {
			ids[i] = fmt.Sprintf("CVE-%d-%05d", 2015+(i*37)%10, i*37)
		} else {
			ids[i] = fmt.Sprintf("GHSA-none-%04d", i)
		}
	}
	var op int64
	if err := s.pool.QueryRow(ctx, `SELECT MAX(id) FROM update_operations WHERE source = 'debian-tracker'`).Scan(&op); err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(time.Minute)
	for _, c := range []struct {
		name  string
		query string
		args  []any
		// want are the indexes the plan must use.
		want []string
	}{
		{"Records", queryRecordsCurrent, []any{"Debian:12", names},
			[]string{"records_ecosystem_package", "uo_records_pkey"}},
		{"RecordsByID", queryRecordsByID, []any{ids},
			[]string{"records_id", "uo_records_pkey"}},
		{"OperationRecords", queryOperationRecords, []any{"Debian:12", names, "debian-tracker", op},
			[]string{"records_ecosystem_package", "uo_records_pkey"}},
		{"ManifestsWithPackages", queryManifestsWithPackages, []any{"deb", names[:30]},
			[]string{"manifest_packages_kind_name"}},
		// A few names (an update of a few packages): a probe of the
		// manifests' primary key per manifest found. (With names in most
		// manifests, a scan of manifests for the hash join is as good.)
		{"PackagesNamed", queryPackagesNamed, []any{"deb", names[:3]},
			[]string{"manifest_package_rows_name", "manifest_package_rows_source", "manifests_pkey"}},
		{"PackageData", queryPackageData, []any{[]string{"sha256:" + strings.Repeat("0", 60) + "1234"}, []int32{7}},
			[]string{"manifest_package_rows_pkey"}},
		{"ImagesOfManifests", queryImagesOfManifests, []any{[]string{"sha256:" + strings.Repeat("0", 60) + "1234", "sha256:" + strings.Repeat("0", 60) + "0042"}},
			[]string{"scans_manifest", "scans_pkey"}},
		{"GetScan", queryScan, []any{"registry.example/app500", 7}, []string{"scans_pkey"}},
		{"GetScan latest", queryLatestScan, []any{"registry.example/app500"}, []string{"scans_pkey"}},
		{"ClaimNotifications", queryClaim, []any{soon.Add(time.Minute), soon, 50}, []string{"notifications_due"}},
		{"ClaimJob", queryClaimJob, []any{"replica-2", int64(30_000_000)}, []string{"jobs_pending", "jobs_pkey"}},
		{"PruneDelivered", queryPruneDelivered, []any{soon.Add(-time.Hour), 500}, []string{"notifications_delivered"}},
		{"PruneScans", queryPruneScans, []any{10, 500}, []string{"scans_pkey"}},
		{"PruneManifests", queryPruneManifests, []any{soon.Add(-48 * time.Hour), 500}, []string{"manifests_last_seen", "scans_manifest"}},
		{"PruneLayers", queryPruneLayers, []any{soon.Add(-48 * time.Hour), 500}, []string{"layers_created_at", "manifest_layers_layer", "layer_blobs_diff_id"}},
		{"BlobDiffID", queryBlobDiffID, []any{"sha256:" + strings.Repeat("b", 60) + "1234"}, []string{"layer_blobs_pkey"}},
		{"PruneJobs", queryPruneJobs, []any{soon.Add(-36 * time.Hour), 500}, []string{"jobs_finished", "jobs_pkey"}},
	} {
		for _, generic := range []bool{false, true} {
			name := c.name
			if generic {
				name += " (generic plan)"
			}
			t.Run(name, func(t *testing.T) {
				plan, text := explain(t, s, c.query, generic, c.args...)
				t.Logf("plan:\n%s", text)
				var used []string
				plan.walk(func(n *planNode) {
					if n.NodeType == "Seq Scan" && slices.Contains(bigTables, n.RelationName) {
						t.Errorf("sequential scan of %s", n.RelationName)
					}
					if n.IndexName != "" {
						used = append(used, n.IndexName)
					}
				})
				for _, w := range c.want {
					if !slices.Contains(used, w) {
						t.Errorf("index %s not used (used: %v)", w, used)
					}
				}
			})
		}
	}
}

// explain returns the plan of query with args, as a tree and as text. A
// generic plan is the plan of a prepared statement under
// plan_cache_mode = force_generic_plan. The statement runs in a
// transaction that is rolled back (ClaimNotifications is an UPDATE).
func explain(t *testing.T, s *Store, query string, generic bool, args ...any) (*planNode, string) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	stmt := query
	if generic {
		if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `PREPARE explained AS `+query); err != nil {
			t.Fatal(err)
		}
		defer tx.Exec(ctx, `DEALLOCATE explained`)
		// EXECUTE takes no parameters of the outer statement: the
		// arguments go in as literals.
		lits := make([]string, len(args))
		for i, a := range args {
			lits[i] = literal(t, a)
		}
		stmt, args = `EXECUTE explained (`+strings.Join(lits, ", ")+`)`, nil
	}
	var raw []byte
	if err := tx.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+stmt, args...).Scan(&raw); err != nil {
		t.Fatalf("explain: %v", err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain: %v (%s)", err, raw)
	}
	rows, err := tx.Query(ctx, `EXPLAIN `+stmt, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return &plans[0].Plan, strings.Join(lines, "\n")
}

// literal writes v as an SQL literal.
func literal(t *testing.T, v any) string {
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	switch v := v.(type) {
	case string:
		return quote(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = quote(s)
		}
		return "ARRAY[" + strings.Join(q, ", ") + "]::text[]"
	case int, int64:
		return fmt.Sprint(v)
	case []int32:
		q := make([]string, len(v))
		for i, n := range v {
			q[i] = fmt.Sprint(n)
		}
		return "ARRAY[" + strings.Join(q, ", ") + "]::int[]"
	case time.Time:
		return quote(v.UTC().Format(time.RFC3339Nano)) + "::timestamptz"
	}
	t.Fatalf("literal of %T", v)
	return ""
}
