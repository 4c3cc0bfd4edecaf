package notifier_test

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/alpine"
)

// The advisory the second version of the Alpine v3.11 data adds: musl's
// CVE-2020-28928 (wcsnrtombs), fixed in a version above the 1.1.24-r3
// that the alpine-3.11.13 image has.
const (
	addedCVE   = "CVE-2020-28928"
	addedFixed = "1.1.24-r10"
	source     = "alpine-v3.11"
)

// secdbVersions returns the real Alpine v3.11 main secdb and a copy of it
// with addedCVE added to musl's secfixes.
func secdbVersions(t *testing.T) (orig, withCVE []byte) {
	t.Helper()
	orig, err := os.ReadFile(testenv.VulnData(t, "alpine-secdb", "v3.11", "main.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const musl = "      name: musl\n      secfixes:\n"
	if strings.Count(string(orig), musl) != 1 {
		t.Fatalf("the v3.11 secdb has no single musl entry")
	}
	withCVE = []byte(strings.Replace(string(orig), musl,
		musl+"        "+addedFixed+":\n          - "+addedCVE+"\n", 1))
	return orig, withCVE
}

// ingest stores data as the feed of the source and runs the updater.
func ingest(t *testing.T, st store.Store, dir string, data []byte) int64 {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "main.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	run, err := updater.Run(context.Background(), st, updater.Source{Name: source, Type: "alpine-secdb", Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if run.Operation == 0 {
		t.Fatalf("ingest created no update operation: %+v", run)
	}
	return run.Operation
}

// receiver is a webhook receiver that records every request it is sent,
// checking the signature against the deliverer's clock.
type receiver struct {
	secret string
	now    func() time.Time
	mu     sync.Mutex
	status int // answer; 0 means 204
	got    []delivery
}

type delivery struct {
	id, attempt string
	timestamp   string
	signature   string
	sigErr      error
	event, ct   string
	payload     notifier.Payload
	status      int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	now := time.Now
	if rc.now != nil {
		now = rc.now
	}
	d := delivery{
		id: r.Header.Get(notifier.HeaderID), attempt: r.Header.Get(notifier.HeaderAttempt),
		timestamp: r.Header.Get(notifier.HeaderTimestamp), signature: r.Header.Get(notifier.HeaderSignature),
		sigErr: notifier.Verify(rc.secret, r.Header, body, now(), 0),
		event:  r.Header.Get(notifier.HeaderEvent), ct: r.Header.Get("Content-Type"),
		status: cmp.Or(rc.status, http.StatusNoContent),
	}
	if err := json.Unmarshal(body, &d.payload); err != nil {
		d.status = http.StatusBadRequest
	}
	rc.got = append(rc.got, d)
	w.WriteHeader(d.status)
}

// all returns every request received.
func (rc *receiver) all() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

// deliveries returns the requests answered 2xx.
func (rc *receiver) deliveries() []delivery {
	var out []delivery
	for _, d := range rc.all() {
		if d.status/100 == 2 {
			out = append(out, d)
		}
	}
	return out
}

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestNotifyRealAlpine ingests the real Alpine v3.11 secdb, scans the real
// alpine-3.11.13 and alpine-3.13.12 images, then ingests a version adding
// one musl advisory (one "added" notification, for the 3.11 image only)
// and the original again (one "removed"), and delivers them through a
// receiver that is down for a while.
func TestNotifyRealAlpine(t *testing.T) {
	images := testenv.Images(t)
	orig, withCVE := secdbVersions(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	feed := t.TempDir()

	rc := &receiver{secret: "s3cret"}
	srv := httptest.NewServer(rc) // 127.0.0.1
	defer srv.Close()
	hooks := []notifier.Webhook{{Name: "security", URL: srv.URL + "/hook", Secret: "s3cret"}}

	// 1. First data: a baseline, not news.
	op1 := ingest(t, st, feed, orig)
	if n, err := notifier.Notify(ctx, st, source, hooks); err != nil || n != 0 {
		t.Fatalf("Notify after the first ingest = %d, %v; want 0 (baseline)", n, err)
	}
	if c, _ := st.NotifierCursor(ctx, source); c != op1 {
		t.Fatalf("cursor after baseline = %d, want %d", c, op1)
	}

	// Two real images, indexed and scanned.
	svc := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources(nil))
	for _, tag := range []string{"alpine-3.11.13", "alpine-3.13.12"} {
		if _, err := svc.ScanImage(ctx, service.ScanRequest{Image: "oci:" + filepath.Join(images, "rootfs", "oci") + ":" + tag}); err != nil {
			t.Fatal(err)
		}
	}
	scans, err := st.LatestScans(ctx)
	if err != nil || len(scans) != 2 {
		t.Fatalf("LatestScans = %+v, %v", scans, err)
	}
	var img311 store.Scan
	for _, sc := range scans {
		if strings.HasSuffix(sc.Image, ":alpine-3.11.13") {
			img311 = sc
		}
	}
	if img311.ManifestDigest == "" {
		t.Fatalf("no scan of alpine-3.11.13 in %+v", scans)
	}

	// 2. An advisory affecting musl: exactly one notification, "added".
	op2 := ingest(t, st, feed, withCVE)
	changes, err := notifier.Affected(ctx, st, op1, op2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		t.Logf("change: %s %s %s %s %s fixed %s", c.ManifestDigest[:19], c.Action, c.Finding.ID, c.Finding.Package, c.Finding.InstalledVersion, c.Finding.FixedVersion)
	}
	if len(changes) != 2 { // musl and musl-utils, both from musl
		t.Errorf("Affected = %d changes, want 2 (musl, musl-utils)", len(changes))
	}
	n, err := notifier.Notify(ctx, st, source, hooks)
	if err != nil || n != 1 {
		t.Fatalf("Notify after adding %s = %d, %v; want 1", addedCVE, n, err)
	}
	if c, _ := st.NotifierCursor(ctx, source); c != op2 {
		t.Errorf("cursor = %d, want %d", c, op2)
	}
	outbox, err := st.Notifications(ctx)
	if err != nil || len(outbox) != 1 {
		t.Fatalf("outbox = %d, %v; want 1 delivery", len(outbox), err)
	}
	checkPayload(t, outbox[0], img311, notifier.ActionAdded)
	// Notify again: nothing new.
	if n, err := notifier.Notify(ctx, st, source, hooks); err != nil || n != 0 {
		t.Errorf("Notify again = %d, %v; want 0", n, err)
	}

	// 3. Delivery with the receiver down: nothing lost, backoff respected.
	clk := &clock{t: time.Now().Add(time.Second)}
	rc.now = clk.Now // the receiver's clock is the deliverer's
	start := clk.Now()
	d, err := notifier.NewDeliverer(st, hooks)
	if err != nil {
		t.Fatal(err)
	}
	d.Now, d.Rand = clk.Now, func() float64 { return 0.5 } // no jitter
	d.Backoff = notifier.Backoff{Base: time.Minute, Max: 10 * time.Minute, Jitter: 0.2}
	var metrics countMetrics
	d.Metrics = &metrics

	rc.status = http.StatusInternalServerError
	deliverOnce(t, d, 0, 1)
	deliverOnce(t, d, 0, 0) // backing off: not due yet
	clk.Add(59 * time.Second)
	deliverOnce(t, d, 0, 0)
	clk.Add(time.Second)
	deliverOnce(t, d, 0, 1) // second attempt after 1 min; the next after 2
	// The receiver gone altogether: connection refused.
	d.Client.Transport = refusingTransport{}
	clk.Add(2 * time.Minute)
	deliverOnce(t, d, 0, 1)
	outbox, _ = st.Notifications(ctx)
	if o := outbox[0]; o.Attempts != 3 || o.NextAttempt.Sub(clk.Now().Add(4*time.Minute)).Abs() > time.Microsecond ||
		!strings.Contains(o.LastError, "refused") || !o.DeliveredAt.IsZero() {
		t.Errorf("after 3 failures: attempts %d, next in %v, error %q", o.Attempts, o.NextAttempt.Sub(clk.Now()), o.LastError)
	}
	if depth, _ := st.OutboxDepth(ctx); depth != 1 {
		t.Errorf("OutboxDepth while the receiver is down = %d, want 1", depth)
	}
	// Back up: delivered once, with the same delivery id.
	d.Client.Transport = nil
	rc.status = 0
	clk.Add(4 * time.Minute)
	deliverOnce(t, d, 1, 0)
	deliverOnce(t, d, 0, 0)
	got := rc.deliveries()
	if len(got) != 1 {
		t.Fatalf("receiver got %d deliveries, want 1", len(got))
	}
	g := got[0]
	if g.sigErr != nil || g.id != outbox[0].ID || g.payload.DeliveryID != g.id || g.event != "vulnerability" ||
		g.ct != "application/json" || g.attempt != "4" {
		t.Errorf("delivery: signature %v, id %q (stored %q, payload %q), event %q, type %q, attempt %q",
			g.sigErr, g.id, outbox[0].ID, g.payload.DeliveryID, g.event, g.ct, g.attempt)
	}
	// Every attempt that reached the receiver (the third was refused):
	// the same webhook-id, a new timestamp (the deliverer's clock at the
	// attempt) and so a new signature, each valid when it was sent.
	attempts := rc.all()
	if len(attempts) != 3 {
		t.Fatalf("receiver got %d requests, want 3 (two answered 500, one delivered)", len(attempts))
	}
	wantTS := []time.Time{start, start.Add(time.Minute), start.Add(7 * time.Minute)}
	for i, a := range attempts {
		if a.sigErr != nil || a.id != outbox[0].ID || a.attempt != []string{"1", "2", "4"}[i] ||
			a.timestamp != strconv.FormatInt(wantTS[i].Unix(), 10) {
			t.Errorf("attempt %d: id %q, attempt %s, timestamp %s (want %d), signature: %v",
				i, a.id, a.attempt, a.timestamp, wantTS[i].Unix(), a.sigErr)
		}
		for _, b := range attempts[:i] {
			if a.signature == b.signature {
				t.Errorf("attempts %s and %s have the same signature %s", b.attempt, a.attempt, a.signature)
			}
		}
	}
	if metrics.delivered != 1 || metrics.failed != 3 {
		t.Errorf("metrics: %d delivered, %d failed; want 1, 3", metrics.delivered, metrics.failed)
	}
	if depth, _ := st.OutboxDepth(ctx); depth != 0 {
		t.Errorf("OutboxDepth after delivery = %d, want 0", depth)
	}

	// 4. The advisory withdrawn: one "removed".
	ingest(t, st, feed, orig)
	if n, err := notifier.Notify(ctx, st, source, hooks); err != nil || n != 1 {
		t.Fatalf("Notify after removing %s = %d, %v; want 1", addedCVE, n, err)
	}
	clk.Add(time.Hour)
	deliverOnce(t, d, 1, 0)
	got = rc.deliveries()
	if len(got) != 2 || got[1].sigErr != nil || got[1].id == got[0].id {
		t.Fatalf("deliveries after removal: %+v", got)
	}
	outbox, _ = st.Notifications(ctx)
	checkPayload(t, outbox[1], img311, notifier.ActionRemoved)
}

// checkPayload checks the stored payload of the one musl notification.
func checkPayload(t *testing.T, n store.Notification, sc store.Scan, action string) {
	t.Helper()
	var p notifier.Payload
	if err := json.Unmarshal(n.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.DeliveryID != n.ID || p.Webhook != "security" || p.Source != source || p.Page != 1 || p.Pages != 1 || len(p.Notifications) != 1 {
		t.Fatalf("payload %s", n.Payload)
	}
	e := p.Notifications[0]
	v := e.Vulnerability
	if e.ManifestDigest != sc.ManifestDigest || len(e.Images) != 1 || e.Images[0] != sc.Image || e.Action != action ||
		v.ID != addedCVE || v.FixedVersion != addedFixed || v.Package != "musl" || v.InstalledVersion != "1.1.24-r3" ||
		v.Ecosystem != "Alpine:v3.11" || len(v.Packages) != 2 {
		t.Errorf("notification %s", n.Payload)
	}
}

func deliverOnce(t *testing.T, d *notifier.Deliverer, wantDelivered, wantFailed int) {
	t.Helper()
	delivered, failed, err := d.DeliverOnce(context.Background())
	if err != nil || delivered != wantDelivered || failed != wantFailed {
		t.Fatalf("DeliverOnce = %d delivered, %d failed, %v; want %d, %d", delivered, failed, err, wantDelivered, wantFailed)
	}
}

type countMetrics struct {
	mu                sync.Mutex
	delivered, failed int
}

func (m *countMetrics) Delivered(string, time.Duration) { m.mu.Lock(); m.delivered++; m.mu.Unlock() }
func (m *countMetrics) Failed(string, error)            { m.mu.Lock(); m.failed++; m.mu.Unlock() }

// refusingTransport dials a loopback port nothing listens on.
type refusingTransport struct{}

func (refusingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	r2 := r.Clone(r.Context())
	r2.URL.Host = addr
	return http.DefaultTransport.RoundTrip(r2)
}
