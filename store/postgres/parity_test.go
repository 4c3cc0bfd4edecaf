package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/vuln"
)

// TestParityWithSQLite runs one script of calls, most of them edge cases
// of the server's interfaces (tokens, outbox, retention, operation
// records), against this engine and the SQLite engine, and compares what
// every call returned: a behaviour that differs is a bug in one of them.
// Times the stores choose themselves (CreatedAt of tokens) are left out;
// everything else must be equal.
func TestParityWithSQLite(t *testing.T) {
	ctx := context.Background()
	pg := openFresh(t)
	defer pg.Close()
	lite, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	want := parityScript(t, lite)
	got := parityScript(t, pg)
	if len(got) != len(want) {
		t.Fatalf("%d steps on PostgreSQL, %d on SQLite", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d differs:\nPostgreSQL %s\nSQLite     %s", i, got[i], want[i])
		}
	}
}

// parityScript runs the script against s and returns one line per call:
// its name, its result as JSON, and its error reduced to "ErrNotFound",
// "error" or nothing.
func parityScript(t *testing.T, s store.Store) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	step := func(name string, v any, err error) {
		t.Helper()
		e := ""
		switch {
		case errors.Is(err, store.ErrNotFound):
			e = "ErrNotFound"
		case err != nil:
			e = "error"
		}
		b, jerr := json.Marshal(v)
		if jerr != nil {
			t.Fatalf("%s: %v", name, jerr)
		}
		out = append(out, fmt.Sprintf("%s → %s %s", name, b, e))
	}
	noTime := func(toks []store.Token) []store.Token {
		for i := range toks {
			toks[i].CreatedAt = time.Time{}
		}
		return toks
	}
	hash := func(secret string) []byte { h := sha256.Sum256([]byte(secret)); return h[:] }
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }

	// Tokens.
	for _, c := range []struct {
		name   string
		secret string
		hash   []byte
	}{{"ci", "s1", nil}, {"ci", "s2", nil}, {"dup", "s1", nil}, {"short", "", []byte("abc")}, {"", "s3", nil}} {
		h := c.hash
		if h == nil {
			h = hash(c.secret)
		}
		tok, err := s.CreateToken(ctx, c.name, h, []string{"read"})
		if tok != nil {
			tok.CreatedAt = time.Time{}
		}
		step("CreateToken "+c.name, tok, err)
	}
	tok, err := s.TokenByHash(ctx, hash("s1"))
	if tok != nil {
		tok.CreatedAt = time.Time{}
	}
	step("TokenByHash s1", tok, err)
	_, err = s.TokenByHash(ctx, hash("nope"))
	step("TokenByHash nope", nil, err)
	step("TouchToken 1 +10", nil, s.TouchToken(ctx, 1, at(10)))
	step("TouchToken 1 +5 (backwards)", nil, s.TouchToken(ctx, 1, at(5)))
	step("TouchToken 99", nil, s.TouchToken(ctx, 99, at(5)))
	step("RevokeToken 2", nil, s.RevokeToken(ctx, 2))
	toks, err := s.ListTokens(ctx)
	revokedAt := time.Time{}
	if len(toks) > 1 {
		revokedAt = toks[1].RevokedAt
	}
	for i := range toks {
		toks[i].RevokedAt = time.Time{}
	}
	step("ListTokens", noTime(toks), err)
	step("RevokeToken 2 again", nil, s.RevokeToken(ctx, 2))
	toks, _ = s.ListTokens(ctx)
	step("revocation time kept", len(toks) > 1 && toks[1].RevokedAt.Equal(revokedAt) && !revokedAt.IsZero(), nil)
	_, err = s.TokenByHash(ctx, hash("s2"))
	step("TokenByHash revoked", nil, err)
	step("RevokeToken 99", nil, s.RevokeToken(ctx, 99))

	// Outbox.
	n := func(id string, minute int) store.Notification {
		return store.Notification{ID: id, Webhook: "ops", Kind: store.KindVulnerability, Payload: []byte(`{"id":"` + id + `"}`), CreatedAt: at(minute)}
	}
	step("Enqueue a,b,c", nil, s.EnqueueNotifications(ctx, "debian-tracker", 3, []store.Notification{n("c", 2), n("a", 1), n("b", 1)}))
	step("Enqueue empty", nil, s.EnqueueNotifications(ctx, "osv-go", 9, nil))
	c, err := s.NotifierCursor(ctx, "osv-go")
	step("NotifierCursor osv-go", c, err)
	step("Enqueue dup stored", nil, s.EnqueueNotifications(ctx, "debian-tracker", 4, []store.Notification{n("d", 3), n("a", 3)}))
	step("Enqueue dup within", nil, s.EnqueueNotifications(ctx, "debian-tracker", 4, []store.Notification{n("e", 3), n("e", 3)}))
	step("Enqueue empty id", nil, s.EnqueueNotifications(ctx, "debian-tracker", 4, []store.Notification{n("", 3)}))
	step("Enqueue long id", nil, s.EnqueueNotifications(ctx, "debian-tracker", 4, []store.Notification{n(strings.Repeat("x", 201), 3)}))
	step("Enqueue no webhook", nil, s.EnqueueNotifications(ctx, "debian-tracker", 4, []store.Notification{{ID: "f", Kind: store.KindVerdict}}))
	step("Enqueue no cursor", nil, s.EnqueueNotifications(ctx, "", 4, []store.Notification{n("g", 3)}))
	c, err = s.NotifierCursor(ctx, "debian-tracker")
	step("NotifierCursor after failures", c, err)
	c, err = s.NotifierCursor(ctx, "never")
	step("NotifierCursor never", c, err)
	step("Enqueue nil payload, due later", nil, s.EnqueueNotifications(ctx, "debian-tracker", 5, []store.Notification{
		{ID: "h", Webhook: "ops", Kind: store.KindVerdict, CreatedAt: at(0), NextAttempt: at(30)}}))
	ns, err := s.ClaimNotifications(ctx, at(5), time.Minute, 2)
	step("Claim 2 at +5", ns, err)
	ns, err = s.ClaimNotifications(ctx, at(5), time.Minute, 10)
	step("Claim rest at +5", ns, err)
	ns, err = s.ClaimNotifications(ctx, at(5), time.Minute, 10)
	step("Claim again at +5", ns, err)
	_, err = s.ClaimNotifications(ctx, at(5), time.Minute, 0)
	step("Claim limit 0", nil, err)
	_, err = s.ClaimNotifications(ctx, at(5), -time.Minute, 1)
	step("Claim negative lease", nil, err)
	step("MarkFailed a", nil, s.MarkFailed(ctx, "a", at(20), "503 Service Unavailable"))
	step("MarkDelivered b", nil, s.MarkDelivered(ctx, "b", at(7)))
	step("MarkDelivered b again", nil, s.MarkDelivered(ctx, "b", at(9)))
	step("MarkFailed b (delivered)", nil, s.MarkFailed(ctx, "b", at(20), "late"))
	step("MarkFailed zz", nil, s.MarkFailed(ctx, "zz", at(20), "x"))
	step("MarkDelivered zz", nil, s.MarkDelivered(ctx, "zz", at(20)))
	d, err := s.OutboxDepth(ctx)
	step("OutboxDepth", d, err)
	ns, err = s.ClaimNotifications(ctx, at(31), time.Minute, 10)
	step("Claim at +31", ns, err)
	step("MarkDelivered c", nil, s.MarkDelivered(ctx, "c", at(8)))
	k, err := s.PruneDelivered(ctx, at(10), 1)
	step("PruneDelivered 1", k, err)
	k, err = s.PruneDelivered(ctx, at(10), 5)
	step("PruneDelivered 5", k, err)
	_, err = s.PruneDelivered(ctx, at(10), 0)
	step("PruneDelivered limit 0", nil, err)
	ns, err = s.Notifications(ctx)
	step("Notifications", ns, err)

	// Operation records.
	rs := genRecords("debian-tracker", 40, 0)
	op1, err := s.PutUpdate(ctx, "debian-tracker", "fp1", rs)
	if err != nil {
		t.Fatal(err)
	}
	rs2 := genRecords("debian-tracker", 40, 1)
	op2, err := s.PutUpdate(ctx, "debian-tracker", "fp2", rs2[:30])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		op    int64
		eco   string
		names []string
	}{
		{op1.ID, "Debian:12", []string{"pkg00001", "pkg00009", "nope"}},
		{op2.ID, "Debian:12", []string{"pkg00001", "pkg00009"}},
		{op2.ID, "Debian:11", []string{"pkg00001"}},
		{op2.ID, "", []string{"pkg00001"}},
		{op2.ID, "Debian:12", nil},
		{op2.ID + 100, "Debian:12", []string{"pkg00001"}},
		{op2.ID + 100, "Debian:12", nil},
	} {
		got, err := s.OperationRecords(ctx, c.op, c.eco, c.names)
		step(fmt.Sprintf("OperationRecords op%+d %s %q", c.op-op1.ID, c.eco, c.names), got, err)
	}

	// Retention.
	digest := func(i int) string { return fmt.Sprintf("sha256:%064d", i) }
	layer := func(i int) string { return fmt.Sprintf("sha256:%063d%d", 0, i) }
	for i := 1; i <= 4; i++ {
		m := &model.ImageIndex{ManifestDigest: digest(i), IndexerVersion: indexer.Version,
			Layers:   []model.LayerInfo{{Digest: layer(i)}, {Digest: layer(9)}},
			Packages: []vuln.Package{{Name: "libc6", SourceName: "glibc", Kind: vuln.KindDeb, Version: "1"}}}
		step(fmt.Sprintf("PutManifest %d", i), nil, s.PutManifest(ctx, m))
	}
	for _, i := range []int{1, 2, 3, 4, 5, 6, 9} {
		step(fmt.Sprintf("PutLayer %d", i), nil, s.PutLayer(ctx, &model.LayerIndex{Digest: layer(i), IndexerVersion: indexer.Version}))
	}
	future := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	for i, sc := range []struct {
		image string
		m     int
		at    time.Time
	}{
		{"docker.io/library/debian:12", 1, at(0)},
		{"docker.io/library/debian:12", 2, at(1)},
		{"docker.io/library/debian:12", 2, at(2)},
		{"Docker.io/library/debian:12", 1, at(3)},
		{"oci:/tmp/layout:v1", 2, at(4)},
		{"docker.io/library/alpine:3.20", 3, future.Add(time.Hour)},
		{"docker.io/library/alpine:3.20", 1, at(6)},
	} {
		idx, err := s.CreateScan(ctx, &store.Scan{Image: sc.image, ManifestDigest: digest(sc.m), ScannedAt: sc.at,
			Packages: i, Counts: store.SeverityCounts{vuln.SeverityHigh: i}, Report: []byte(`{}`)})
		step("CreateScan "+sc.image, idx, err)
	}
	latest, err := s.LatestScans(ctx)
	step("LatestScans", latest, err)
	for i := 1; i <= 5; i++ {
		imgs, err := s.ImagesOfManifest(ctx, digest(i))
		step(fmt.Sprintf("ImagesOfManifest %d", i), imgs, err)
	}
	step("TouchManifest 4 future", nil, s.TouchManifest(ctx, digest(4), future.Add(2*time.Hour)))
	step("TouchManifest 4 backwards", nil, s.TouchManifest(ctx, digest(4), at(0)))
	step("TouchManifest 7", nil, s.TouchManifest(ctx, digest(7), at(0)))
	_, err = s.PruneScans(ctx, 0, 10)
	step("PruneScans keep 0", nil, err)
	_, err = s.PruneScans(ctx, 1, 0)
	step("PruneScans limit 0", nil, err)
	k, err = s.PruneScans(ctx, 1, 1)
	step("PruneScans keep 1 limit 1", k, err)
	k, err = s.PruneScans(ctx, 1, 10)
	step("PruneScans keep 1 limit 10", k, err)
	for _, img := range []string{"docker.io/library/debian:12", "docker.io/library/alpine:3.20"} {
		list, err := s.ListScans(ctx, img)
		for i := range list {
			list[i].ScannedAt = list[i].ScannedAt.UTC()
		}
		step("ListScans "+img, list, err)
	}
	k, err = s.PruneLayers(ctx, future, 10)
	step("PruneLayers (manifests hold most)", k, err)
	_, err = s.PruneManifests(ctx, future, 0)
	step("PruneManifests limit 0", nil, err)
	k, err = s.PruneManifests(ctx, at(0), 10)
	step("PruneManifests before the past", k, err)
	k, err = s.PruneManifests(ctx, future, 1)
	step("PruneManifests limit 1", k, err)
	k, err = s.PruneManifests(ctx, future, 10)
	step("PruneManifests rest", k, err)
	for i := 1; i <= 4; i++ {
		_, err := s.Manifest(ctx, digest(i))
		step(fmt.Sprintf("Manifest %d after prune", i), nil, err)
	}
	got, err := s.ManifestsWithPackages(ctx, vuln.KindDeb, []string{"glibc"})
	step("ManifestsWithPackages glibc after prune", got, err)
	latest, err = s.LatestScans(ctx)
	step("LatestScans after prune", latest, err)
	k, err = s.PruneLayers(ctx, at(0), 10)
	step("PruneLayers before the past", k, err)
	k, err = s.PruneLayers(ctx, future, 2)
	step("PruneLayers limit 2", k, err)
	k, err = s.PruneLayers(ctx, future, 10)
	step("PruneLayers rest", k, err)
	for _, i := range []int{1, 2, 3, 4, 5, 6, 9} {
		_, err := s.Layer(ctx, layer(i))
		step(fmt.Sprintf("Layer %d after prune", i), nil, err)
	}
	return out
}
