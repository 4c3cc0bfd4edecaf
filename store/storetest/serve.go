package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// The cases of the interfaces `lapps serve` uses: tokens, the outbox,
// operation records and retention.

var base = time.Date(2024, time.June, 1, 12, 0, 0, 0, time.UTC)

func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	if got, err := s.ListTokens(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ListTokens of an empty store = %v, %v", got, err)
	}
	ci, err := s.CreateToken(ctx, "ci", hashOf("secret-ci"), []string{"read", "scan"})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := s.CreateToken(ctx, "ops", hashOf("secret-ops"), []string{"admin"})
	if err != nil {
		t.Fatal(err)
	}
	if ci.ID <= 0 || ops.ID <= ci.ID || ci.Name != "ci" || ci.CreatedAt.IsZero() || !ci.LastUsed.IsZero() || !ci.RevokedAt.IsZero() ||
		!slices.Equal(ci.Scopes, []string{"read", "scan"}) {
		t.Errorf("CreateToken = %+v, %+v", ci, ops)
	}
	if _, err := s.CreateToken(ctx, "again", hashOf("secret-ci"), []string{"read"}); err == nil {
		t.Error("CreateToken with a hash already stored: no error")
	}
	if _, err := s.CreateToken(ctx, "short", []byte("not a sha-256"), []string{"read"}); err == nil {
		t.Error("CreateToken with a 13-byte hash: no error")
	}
	// Scopes are stored comma-separated: none, an empty one, one holding
	// a comma or repeated are refused, and nothing is stored.
	for _, bad := range [][]string{nil, {}, {""}, {"read,admin"}, {"read", "read"}, {"Admin"}} {
		if tok, err := s.CreateToken(ctx, "bad", hashOf(fmt.Sprintf("bad-%q", bad)), bad); err == nil {
			t.Errorf("CreateToken with scopes %q = %+v, want an error", bad, tok)
		}
	}
	got, err := s.TokenByHash(ctx, hashOf("secret-ops"))
	if err != nil || got.ID != ops.ID || got.Name != "ops" || !got.CreatedAt.Equal(ops.CreatedAt) || !slices.Equal(got.Scopes, []string{"admin"}) {
		t.Errorf("TokenByHash(ops) = %+v, %v; want %+v", got, err, ops)
	}
	if got, err := s.TokenByHash(ctx, hashOf("secret-ci")); err != nil || !slices.Equal(got.Scopes, []string{"read", "scan"}) {
		t.Errorf("TokenByHash(ci) = %+v, %v; want scopes read, scan", got, err)
	}
	if _, err := s.TokenByHash(ctx, hashOf("wrong")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByHash of an unknown secret: err = %v, want ErrNotFound", err)
	}

	// LastUsed only moves forward.
	for _, at := range []time.Time{base, base.Add(time.Hour), base.Add(time.Minute)} {
		if err := s.TouchToken(ctx, ci.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.TokenByHash(ctx, hashOf("secret-ci")); err != nil || !got.LastUsed.Equal(base.Add(time.Hour)) {
		t.Errorf("LastUsed after touches at +0, +1h, +1m = %+v, %v; want +1h", got, err)
	}
	if err := s.TouchToken(ctx, 9999, base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchToken of an unknown id: err = %v, want ErrNotFound", err)
	}

	// A revoked token is not found by its hash, and listed as revoked.
	if err := s.RevokeToken(ctx, ci.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByHash(ctx, hashOf("secret-ci")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByHash of a revoked token: err = %v, want ErrNotFound", err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 2 || list[0].ID != ci.ID || list[1].ID != ops.ID {
		t.Fatalf("ListTokens = %+v, %v; want ci then ops", list, err)
	}
	revokedAt := list[0].RevokedAt
	if revokedAt.IsZero() || !list[1].RevokedAt.IsZero() || !list[0].LastUsed.Equal(base.Add(time.Hour)) ||
		!slices.Equal(list[0].Scopes, []string{"read", "scan"}) || !slices.Equal(list[1].Scopes, []string{"admin"}) {
		t.Errorf("ListTokens = %+v", list)
	}
	if err := s.RevokeToken(ctx, ci.ID); err != nil {
		t.Errorf("RevokeToken again: %v", err)
	}
	if list, _ := s.ListTokens(ctx); len(list) != 2 || !list[0].RevokedAt.Equal(revokedAt) {
		t.Errorf("a second revocation moved RevokedAt: %+v, want %v", list, revokedAt)
	}
	if err := s.RevokeToken(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken of an unknown id: err = %v, want ErrNotFound", err)
	}
	// The other token is still valid.
	if _, err := s.TokenByHash(ctx, hashOf("secret-ops")); err != nil {
		t.Errorf("TokenByHash(ops) after revoking ci: %v", err)
	}
}

// notification returns an outbox entry created at base+i seconds.
func notification(id string, i int) store.Notification {
	return store.Notification{
		ID: id, Webhook: "security", Kind: store.KindVulnerability,
		Payload:   []byte(fmt.Sprintf(`{"delivery_id":%q,"n":%d}`, id, i)),
		CreatedAt: base.Add(time.Duration(i) * time.Second),
	}
}

// ids returns the ids of ns.
func ids(ns []store.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func testOutboxEnqueue(t *testing.T, s store.Store) {
	ctx := context.Background()
	const cursor = "alpine-secdb"
	if op, err := s.NotifierCursor(ctx, cursor); err != nil || op != 0 {
		t.Fatalf("NotifierCursor of a new store = %d, %v; want 0", op, err)
	}
	ns := []store.Notification{notification("d-2", 2), notification("d-1", 1), notification("d-3", 3)}
	ns[2].NextAttempt = base.Add(time.Hour)
	if err := s.EnqueueNotifications(ctx, cursor, 7, ns); err != nil {
		t.Fatal(err)
	}
	if op, err := s.NotifierCursor(ctx, cursor); err != nil || op != 7 {
		t.Errorf("NotifierCursor after enqueue = %d, %v; want 7", op, err)
	}
	if op, err := s.NotifierCursor(ctx, "other"); err != nil || op != 0 {
		t.Errorf("NotifierCursor of another cursor = %d, %v; want 0", op, err)
	}
	all, err := s.Notifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(all), []string{"d-1", "d-2", "d-3"}) {
		t.Fatalf("Notifications = %q, want oldest first", ids(all))
	}
	for i, n := range all {
		want := notification(n.ID, i+1)
		if n.Webhook != want.Webhook || n.Kind != want.Kind || string(n.Payload) != string(want.Payload) ||
			!n.CreatedAt.Equal(want.CreatedAt) || n.Attempts != 0 || !n.DeliveredAt.IsZero() || n.LastError != "" {
			t.Errorf("stored %+v, want %+v", n, want)
		}
		wantNext := want.CreatedAt
		if n.ID == "d-3" {
			wantNext = base.Add(time.Hour)
		}
		if !n.NextAttempt.Equal(wantNext) {
			t.Errorf("%s: NextAttempt %v, want %v", n.ID, n.NextAttempt, wantNext)
		}
	}
	if d, err := s.OutboxDepth(ctx); err != nil || d != 3 {
		t.Errorf("OutboxDepth = %d, %v; want 3", d, err)
	}

	// Atomic: a duplicate id, in the batch or already stored, stores
	// nothing and leaves the cursor where it was.
	for name, bad := range map[string][]store.Notification{
		"duplicate in batch": {notification("d-9", 9), notification("d-9", 10)},
		"duplicate stored":   {notification("d-8", 8), notification("d-2", 11)},
		"empty id":           {notification("d-7", 7), notification("", 12)},
	} {
		if err := s.EnqueueNotifications(ctx, cursor, 8, bad); err == nil {
			t.Errorf("EnqueueNotifications (%s): no error", name)
		}
	}
	if op, _ := s.NotifierCursor(ctx, cursor); op != 7 {
		t.Errorf("cursor after failed enqueues = %d, want 7", op)
	}
	if d, _ := s.OutboxDepth(ctx); d != 3 {
		t.Errorf("OutboxDepth after failed enqueues = %d, want 3", d)
	}
	// No notifications still moves the cursor.
	if err := s.EnqueueNotifications(ctx, cursor, 9, nil); err != nil {
		t.Fatal(err)
	}
	if op, _ := s.NotifierCursor(ctx, cursor); op != 9 {
		t.Errorf("cursor after an empty enqueue = %d, want 9", op)
	}
}

func testOutboxClaim(t *testing.T, s store.Store) {
	ctx := context.Background()
	var ns []store.Notification
	for i := range 5 {
		ns = append(ns, notification(fmt.Sprintf("n%d", i), i))
	}
	if err := s.EnqueueNotifications(ctx, "src", 1, ns); err != nil {
		t.Fatal(err)
	}
	const lease = time.Minute
	claim := func(now time.Time, limit int, want ...string) []store.Notification {
		t.Helper()
		got, err := s.ClaimNotifications(ctx, now, lease, limit)
		if err != nil {
			t.Fatalf("ClaimNotifications: %v", err)
		}
		if !slices.Equal(ids(got), want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("ClaimNotifications(now %v, limit %d) = %q, want %q", now.Sub(base), limit, ids(got), want)
		}
		for _, n := range got {
			if !n.NextAttempt.Equal(now.Add(lease)) {
				t.Errorf("claimed %s: NextAttempt %v, want now+lease %v", n.ID, n.NextAttempt, now.Add(lease))
			}
		}
		return got
	}
	// Only what is due, oldest first, at most limit.
	claim(base.Add(2*time.Second), 2, "n0", "n1")
	claim(base.Add(2*time.Second), 10, "n2")
	claim(base.Add(10*time.Second), 10, "n3", "n4")
	claim(base.Add(30*time.Second), 10) // all leased
	// A lease that runs out makes the notification due again.
	got := claim(base.Add(2*time.Second+lease), 1, "n0")
	if got[0].Attempts != 0 {
		t.Errorf("a claim counted an attempt: %+v", got[0])
	}

	// A failure counts an attempt and sets the backoff.
	retry := base.Add(time.Hour)
	if err := s.MarkFailed(ctx, "n0", retry, "POST http://127.0.0.1:1/hook: connection refused"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, "n1", base.Add(2*time.Hour), "HTTP 500"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, "n1", retry, "HTTP 503"); err != nil {
		t.Fatal(err)
	}
	claim(retry.Add(-time.Second), 10, "n2", "n3", "n4")
	if err := s.MarkDelivered(ctx, "n2", base.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, "n2", base.Add(4*time.Minute)); err != nil {
		t.Errorf("MarkDelivered twice: %v", err)
	}
	if err := s.MarkFailed(ctx, "n2", retry, "late failure"); err != nil {
		t.Errorf("MarkFailed of a delivered notification: %v", err)
	}
	for _, id := range []string{"n3", "n4"} {
		if err := s.MarkDelivered(ctx, id, base.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := s.OutboxDepth(ctx); err != nil || d != 2 {
		t.Errorf("OutboxDepth = %d, %v; want 2", d, err)
	}
	// Delivered ones are never claimed again; failed ones when due.
	claim(retry.Add(3*time.Hour), 10, "n0", "n1")

	all, err := s.Notifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]store.Notification{}
	for _, n := range all {
		byID[n.ID] = n
	}
	if n := byID["n0"]; n.Attempts != 1 || n.LastError != "POST http://127.0.0.1:1/hook: connection refused" || !n.DeliveredAt.IsZero() {
		t.Errorf("n0 = %+v", n)
	}
	if n := byID["n1"]; n.Attempts != 2 || n.LastError != "HTTP 503" {
		t.Errorf("n1 = %+v; want 2 attempts, last error HTTP 503", n)
	}
	if n := byID["n2"]; !n.DeliveredAt.Equal(base.Add(3*time.Minute)) || n.Attempts != 0 || n.LastError != "" {
		t.Errorf("n2 = %+v; want delivered at +3m, first delivery kept, no failure recorded", n)
	}

	if err := s.MarkDelivered(ctx, "nope", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkDelivered of an unknown id: err = %v, want ErrNotFound", err)
	}
	if err := s.MarkFailed(ctx, "nope", base, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkFailed of an unknown id: err = %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimNotifications(ctx, base, lease, 0); err == nil {
		t.Error("ClaimNotifications with limit 0: no error")
	}
}

// testOutboxConcurrentClaim has several deliverers claim at the same
// moment: each notification goes to exactly one of them.
func testOutboxConcurrentClaim(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n, workers = 300, 8
	var ns []store.Notification
	for i := range n {
		ns = append(ns, notification(fmt.Sprintf("c%04d", i), i%17))
	}
	if err := s.EnqueueNotifications(ctx, "src", 1, ns); err != nil {
		t.Fatal(err)
	}
	now := base.Add(time.Hour)
	var (
		mu    sync.Mutex
		owner = map[string]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			<-start
			for {
				got, err := s.ClaimNotifications(ctx, now, time.Minute, 7)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, c := range got {
					if prev, dup := owner[c.ID]; dup {
						errs <- fmt.Errorf("%s claimed by workers %d and %d", c.ID, prev, w)
					}
					owner[c.ID] = w
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(owner) != n {
		t.Errorf("%d notifications claimed, want %d", len(owner), n)
	}
	workersSeen := map[int]bool{}
	for _, w := range owner {
		workersSeen[w] = true
	}
	t.Logf("%d notifications claimed by %d workers", len(owner), len(workersSeen))
}

func testPruneDelivered(t *testing.T, s store.Store) {
	ctx := context.Background()
	var ns []store.Notification
	for i := range 6 {
		ns = append(ns, notification(fmt.Sprintf("p%d", i), i))
	}
	if err := s.EnqueueNotifications(ctx, "src", 1, ns); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // p5 stays undelivered
		if err := s.MarkDelivered(ctx, fmt.Sprintf("p%d", i), base.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	cut := base.Add(3 * time.Hour) // p0, p1, p2 were delivered before
	if n, err := s.PruneDelivered(ctx, cut, 2); err != nil || n != 2 {
		t.Fatalf("PruneDelivered(limit 2) = %d, %v; want 2", n, err)
	}
	if n, err := s.PruneDelivered(ctx, cut, 2); err != nil || n != 1 {
		t.Fatalf("PruneDelivered again = %d, %v; want 1", n, err)
	}
	if n, err := s.PruneDelivered(ctx, cut, 2); err != nil || n != 0 {
		t.Fatalf("PruneDelivered a third time = %d, %v; want 0", n, err)
	}
	all, err := s.Notifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(all), []string{"p3", "p4", "p5"}) {
		t.Errorf("after pruning: %q, want p3 p4 p5", ids(all))
	}
	if n, err := s.PruneDelivered(ctx, base.Add(100*time.Hour), 100); err != nil || n != 2 {
		t.Errorf("PruneDelivered of everything delivered = %d, %v; want 2 (the undelivered p5 stays)", n, err)
	}
	if _, err := s.PruneDelivered(ctx, cut, 0); err == nil {
		t.Error("PruneDelivered with limit 0: no error")
	}
}

func testOperationRecords(t *testing.T, s store.Store) {
	ctx := context.Background()
	op1 := putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	putUpdate(t, s, srcOSVDebian, "sha256:osv1", osvDebian())
	op2 := putUpdate(t, s, srcDebian, "sha256:bbbb", debian2())
	op3 := putUpdate(t, s, srcDebian, "sha256:cccc", debian3())
	deb12 := []string{"glibc", "curl", "openssl", "zlib", "no-such-package"}
	for _, tc := range []struct {
		op   int64
		want []vuln.Record
	}{
		{op1.ID, debian1()}, {op2.ID, debian2()}, {op3.ID, debian3()},
	} {
		got, err := s.OperationRecords(ctx, tc.op, "Debian:12", deb12)
		if err != nil {
			t.Fatal(err)
		}
		want := pick(tc.want, isPackage("Debian:12", deb12...))
		if !slices.Equal(keys(got), keys(want)) {
			t.Errorf("OperationRecords(%d):\ngot  %q\nwant %q", tc.op, keys(got), keys(want))
			continue
		}
		sameJSON(t, fmt.Sprintf("OperationRecords(%d)", tc.op), sorted(got), sorted(want))
	}
	if got, err := s.OperationRecords(ctx, op1.ID, "Debian:12", []string{"zlib"}); err != nil || !slices.Equal(keys(got), keys(pick(debian1(), isPackage("Debian:12", "zlib")))) {
		t.Errorf("OperationRecords(zlib) = %q, %v", keys(got), err)
	}
	if got, err := s.OperationRecords(ctx, op1.ID, "Debian:10", deb12); err != nil || len(got) != 0 {
		t.Errorf("OperationRecords of another ecosystem = %q, %v; want none", keys(got), err)
	}
	if _, err := s.OperationRecords(ctx, op3.ID+100, "Debian:12", deb12); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OperationRecords of an unknown operation: err = %v, want ErrNotFound", err)
	}
}

// createScans stores scans of image of the given manifests, an hour apart
// from at.
func createScans(t *testing.T, s store.Store, image string, at time.Time, manifests ...string) {
	t.Helper()
	for i, m := range manifests {
		if _, err := s.CreateScan(context.Background(), &store.Scan{Image: image, ManifestDigest: m,
			ScannedAt: at.Add(time.Duration(i) * time.Hour), Counts: store.SeverityCounts{}}); err != nil {
			t.Fatal(err)
		}
	}
}

func testLatestScans(t *testing.T, s store.Store) {
	ctx := context.Background()
	if got, err := s.LatestScans(ctx); err != nil || len(got) != 0 {
		t.Fatalf("LatestScans of an empty store = %v, %v", got, err)
	}
	const deb, app, alp = "docker.io/library/debian:12", "registry.example:5000/app:1", "docker.io/library/alpine:3.20"
	createScans(t, s, deb, base, digest1, digest1, digest2)
	createScans(t, s, app, base, digest2)
	createScans(t, s, alp, base, digest3, digest1)
	got, err := s.LatestScans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, sc := range got {
		desc = append(desc, fmt.Sprintf("%s %d %s", sc.Image, sc.Index, sc.ManifestDigest[7:8]))
		if sc.Report != nil {
			t.Errorf("LatestScans returned a report for %s", sc.Image)
		}
	}
	want := []string{alp + " 2 1", deb + " 3 2", app + " 1 2"}
	if !slices.Equal(desc, want) {
		t.Errorf("LatestScans = %q, want %q", desc, want)
	}
	for _, tc := range []struct {
		digest string
		want   []string
	}{
		{digest1, []string{alp}},
		{digest2, []string{deb, app}},
		{digest3, nil}, // only an older scan of alpine
		{"sha256:none", nil},
	} {
		got, err := s.ImagesOfManifest(ctx, tc.digest)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ImagesOfManifest(%s) = %q, %v; want %q", tc.digest[:8], got, err, tc.want)
		}
	}
}

func testPruneScans(t *testing.T, s store.Store) {
	ctx := context.Background()
	const deb, alp, one = "debian:12", "alpine:3.20", "busybox:1"
	createScans(t, s, deb, base, digest1, digest1, digest1, digest1, digest2) // 5 scans
	createScans(t, s, alp, base, digest3, digest3, digest3)                   // 3
	createScans(t, s, one, base, digest3)                                     // 1
	// keep 2: deb 1-3 and alp 1 go, 4 rows, deleted at most 3 per call.
	if n, err := s.PruneScans(ctx, 2, 3); err != nil || n != 3 {
		t.Fatalf("PruneScans(keep 2, limit 3) = %d, %v; want 3", n, err)
	}
	if n, err := s.PruneScans(ctx, 2, 3); err != nil || n != 1 {
		t.Fatalf("PruneScans again = %d, %v; want 1", n, err)
	}
	if n, err := s.PruneScans(ctx, 2, 3); err != nil || n != 0 {
		t.Fatalf("PruneScans a third time = %d, %v; want 0", n, err)
	}
	for image, want := range map[string][]int{deb: {4, 5}, alp: {2, 3}, one: {1}} {
		got, err := s.ListScans(ctx, image)
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		for _, sc := range got {
			idx = append(idx, sc.Index)
		}
		if !slices.Equal(idx, want) {
			t.Errorf("scans of %s after PruneScans(keep 2) = %v, want %v", image, idx, want)
		}
	}
	// Numbering goes on after the kept scans.
	if idx, err := s.CreateScan(ctx, &store.Scan{Image: deb, ManifestDigest: digest2, ScannedAt: base.Add(24 * time.Hour)}); err != nil || idx != 6 {
		t.Errorf("CreateScan after pruning = %d, %v; want 6", idx, err)
	}
	if _, err := s.PruneScans(ctx, 0, 10); err == nil {
		t.Error("PruneScans(keep 0): no error; it would delete every scan")
	}
	if _, err := s.PruneScans(ctx, 1, 0); err == nil {
		t.Error("PruneScans(limit 0): no error")
	}
}

func testPruneManifests(t *testing.T, s store.Store) {
	ctx := context.Background()
	// digest1: scanned long ago only; digest2: scanned long ago, then
	// touched recently; digest3: scanned recently. Each manifest is stored
	// now, so PruneManifests is asked with a cut-off in the future:
	// what is compared is the scans' and touches' times.
	for _, d := range []string{digest1, digest2, digest3} {
		if err := s.PutManifest(ctx, bookworm(d, d == digest1)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	cut := now.Add(24 * time.Hour)
	createScans(t, s, "old:1", now.Add(-72*time.Hour), digest1, digest1)
	createScans(t, s, "old:2", now.Add(-48*time.Hour), digest2)
	createScans(t, s, "new:1", cut.Add(time.Hour), digest3)
	createScans(t, s, "mixed:1", now.Add(-96*time.Hour), digest1, digest3)
	if err := s.TouchManifest(ctx, digest2, cut.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchManifest(ctx, digest2, now); err != nil { // does not move back
		t.Fatal(err)
	}
	if err := s.TouchManifest(ctx, "sha256:none", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchManifest of an unknown manifest: err = %v, want ErrNotFound", err)
	}

	if n, err := s.PruneManifests(ctx, now.Add(-time.Hour), 10); err != nil || n != 0 {
		t.Errorf("PruneManifests before every manifest was stored = %d, %v; want 0", n, err)
	}
	if n, err := s.PruneManifests(ctx, cut, 10); err != nil || n != 1 {
		t.Fatalf("PruneManifests = %d, %v; want 1 (digest1)", n, err)
	}
	if _, err := s.Manifest(ctx, digest1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Manifest(digest1) after pruning: err = %v, want ErrNotFound", err)
	}
	for _, d := range []string{digest2, digest3} {
		if _, err := s.Manifest(ctx, d); err != nil {
			t.Errorf("Manifest(%s) after pruning: %v", d[:8], err)
		}
	}
	// Its scans and its packages went with it.
	if got, _ := s.ListScans(ctx, "old:1"); len(got) != 0 {
		t.Errorf("scans of old:1 after pruning its manifest: %+v", got)
	}
	if got, _ := s.ListScans(ctx, "mixed:1"); len(got) != 1 || got[0].ManifestDigest != digest3 {
		t.Errorf("scans of mixed:1 after pruning = %+v, want the digest3 scan", got)
	}
	if got, err := s.ManifestsWithPackages(ctx, vuln.KindDeb, []string{"curl"}); err != nil || len(got) != 0 {
		t.Errorf("ManifestsWithPackages(curl), held only by the pruned manifest = %q, %v", got, err)
	}
	if got, err := s.ManifestsWithPackages(ctx, vuln.KindDeb, []string{"glibc"}); err != nil || !slices.Equal(got, []string{digest2, digest3}) {
		t.Errorf("ManifestsWithPackages(glibc) = %q, %v", got, err)
	}

	// In batches: digest2 and digest3 go when the cut-off passes them.
	later := cut.Add(48 * time.Hour)
	if n, err := s.PruneManifests(ctx, later, 1); err != nil || n != 1 {
		t.Errorf("PruneManifests(limit 1) = %d, %v; want 1", n, err)
	}
	if n, err := s.PruneManifests(ctx, later, 1); err != nil || n != 1 {
		t.Errorf("PruneManifests(limit 1) again = %d, %v; want 1", n, err)
	}
	if n, err := s.PruneManifests(ctx, later, 1); err != nil || n != 0 {
		t.Errorf("PruneManifests(limit 1) a third time = %d, %v; want 0", n, err)
	}
	if got, err := s.LatestScans(ctx); err != nil || len(got) != 0 {
		t.Errorf("LatestScans after pruning every manifest = %+v, %v", got, err)
	}
	if _, err := s.PruneManifests(ctx, later, 0); err == nil {
		t.Error("PruneManifests(limit 0): no error")
	}
}

func testPruneLayers(t *testing.T, s store.Store) {
	ctx := context.Background()
	used := bookworm(digest1, false).Layers[0].Digest
	unused := []string{
		"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
	}
	for _, d := range append([]string{used}, unused...) {
		if err := s.PutLayer(ctx, layerIndex(d, "1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutManifest(ctx, bookworm(digest1, false)); err != nil {
		t.Fatal(err)
	}
	// Layers just stored are protected by the cut-off (an index in
	// progress stores its layers before its manifest).
	if n, err := s.PruneLayers(ctx, time.Now().Add(-time.Hour), 10); err != nil || n != 0 {
		t.Errorf("PruneLayers(an hour ago) = %d, %v; want 0", n, err)
	}
	future := time.Now().Add(time.Hour)
	if n, err := s.PruneLayers(ctx, future, 2); err != nil || n != 2 {
		t.Errorf("PruneLayers(limit 2) = %d, %v; want 2", n, err)
	}
	if n, err := s.PruneLayers(ctx, future, 2); err != nil || n != 1 {
		t.Errorf("PruneLayers(limit 2) again = %d, %v; want 1", n, err)
	}
	if n, err := s.PruneLayers(ctx, future, 2); err != nil || n != 0 {
		t.Errorf("PruneLayers a third time = %d, %v; want 0", n, err)
	}
	if _, err := s.Layer(ctx, used); err != nil {
		t.Errorf("the layer a manifest uses was pruned: %v", err)
	}
	for _, d := range unused {
		if _, err := s.Layer(ctx, d); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unused layer %s: err = %v, want ErrNotFound", d[:12], err)
		}
	}
	// Once its manifest is pruned, the layer goes too.
	if n, err := s.PruneManifests(ctx, future, 10); err != nil || n != 1 {
		t.Fatalf("PruneManifests = %d, %v; want 1", n, err)
	}
	if n, err := s.PruneLayers(ctx, future, 10); err != nil || n != 1 {
		t.Errorf("PruneLayers after its manifest went = %d, %v; want 1", n, err)
	}
	if _, err := s.PruneLayers(ctx, future, 0); err == nil {
		t.Error("PruneLayers(limit 0): no error")
	}
}
