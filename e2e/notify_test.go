package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// alpine is the oci layout holding the alpine-3.11.13 image.
func alpine(t *testing.T) string { return filepath.Join(testenv.Images(t), "rootfs", "oci") }

// waitScans waits until ref has n scans and returns them.
func (e *env) waitScans(ref string, n int) []service.ScanSummary {
	e.t.Helper()
	var scans []service.ScanSummary
	waitFor(e.t, 30*time.Second, fmt.Sprintf("%d scans of %s", n, ref), func() (bool, string) {
		var err error
		scans, err = e.api.ListScans(e.ctx(), ref)
		if err != nil {
			return false, err.Error()
		}
		return len(scans) >= n, fmt.Sprintf("%d scans", len(scans))
	})
	if len(scans) != n {
		e.t.Fatalf("%d scans of %s, want %d: %+v", len(scans), ref, n, scans)
	}
	return scans
}

// waitNotification waits until the receiver accepted a notification
// about k.
func (e *env) waitNotification(k key) {
	e.t.Helper()
	waitFor(e.t, 30*time.Second, fmt.Sprintf("notification %v", k), func() (bool, string) {
		got := e.recv.notifications(e.t)
		for _, n := range got {
			if (key{n.ManifestDigest, n.Vulnerability.ID, n.Action}) == k {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d notifications accepted, %d requests", len(got), len(e.recv.all()))
	})
}

// checkMusl checks what a notification says of the invented musl
// advisory: one entry for the source package musl, listing both
// installed packages built from it.
func checkMusl(t *testing.T, n received, digest, image, action string) {
	t.Helper()
	v := n.Vulnerability
	if n.ManifestDigest != digest || n.Action != action || v.ID != inventedID {
		t.Errorf("notification %+v, want %s %s for %s", n, inventedID, action, digest)
	}
	if image != "" && !slices.Contains(n.Images, image) {
		t.Errorf("notification images %v, want %s among them", n.Images, image)
	}
	if v.Package != "musl" || v.InstalledVersion != "1.1.24-r3" || v.FixedVersion != fixedMusl ||
		v.Status != vuln.StatusFixed || v.Ecosystem != "Alpine:v3.11" {
		t.Errorf("vulnerability %+v, want musl 1.1.24-r3 fixed in %s (Alpine:v3.11)", v, fixedMusl)
	}
	var names []string
	for _, p := range v.Packages {
		names = append(names, p.Name)
		if p.Kind != "apk" || p.InstalledVersion != "1.1.24-r3" || p.FixedVersion != fixedMusl {
			t.Errorf("package %+v", p)
		}
	}
	if !slices.Equal(names, []string{"musl", "musl-utils"}) {
		t.Errorf("packages %v, want musl and musl-utils", names)
	}
}

// TestScanOnPushAndNotifications: a registry configured to notify lapps
// has a pushed image scanned; new data affecting it gives exactly one
// signed "added" notification, withdrawing it exactly one "removed", and
// neither rescans the image.
func TestScanOnPushAndNotifications(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	reg := testenv.StartRegistryNotifying(t, e.srv.url+"/v1/registry/events",
		map[string][]string{"Authorization": {"Bearer " + e.token}})

	// Version 1 is ingested; a push is scanned without anyone asking.
	digest := reg.Push(t, "oci:"+alpine(t)+":alpine-3.11.13", "e2e/alpine:3.11", "")
	ref := reg.Addr + "/e2e/alpine:3.11"
	scans := e.waitScans(ref, 1)
	if scans[0].Index != 1 || scans[0].ManifestDigest != digest || scans[0].Packages == 0 {
		t.Fatalf("scan on push: %+v, want scan 1 of %s", scans[0], digest)
	}
	r1, err := e.api.Report(e.ctx(), ref, 1)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(r1.Vulnerabilities, func(f vuln.Finding) bool { return f.ID == inventedID }) {
		t.Fatalf("scan 1 already reports %s", inventedID)
	}

	// Version 2 adds an advisory affecting musl, ingested through the
	// command line against the server.
	writeSecdb(t, e.data, true)
	if out, err := e.cli(t, []string{"LAPPS_TOKEN=" + e.token}, "--server", e.srv.url, "vulndb", "update", "--source", source); err != nil {
		t.Fatalf("lapps --server vulndb update: %v\n%s", err, out)
	}
	added := key{digest, inventedID, notifier.ActionAdded}
	e.waitNotification(added)
	e.waitDrained()
	got := e.recv.notifications(t)
	if len(got) != 1 {
		t.Fatalf("%d notifications after version 2, want 1: %+v", len(got), got)
	}
	checkMusl(t, got[0], digest, ref, notifier.ActionAdded)

	// Version 3 withdraws it again.
	writeSecdb(t, e.data, false)
	e.update()
	removed := key{digest, inventedID, notifier.ActionRemoved}
	e.waitNotification(removed)
	e.waitDrained()
	got = e.recv.notifications(t)
	if len(got) != 2 {
		t.Fatalf("%d notifications after version 3, want 2: %+v", len(got), got)
	}
	checkMusl(t, got[1], digest, ref, notifier.ActionRemoved)
	checkUnique(t, got)
	if got[0].DeliveryID == got[1].DeliveryID {
		t.Errorf("added and removed share delivery id %s", got[0].DeliveryID)
	}
	for _, h := range e.recv.all() {
		if h.Attempt != "1" || h.Status/100 != 2 {
			t.Errorf("delivery %s: attempt %s answered %d; the receiver never failed", h.ID, h.Attempt, h.Status)
		}
	}

	// Notifications come from the index: the image was not scanned again
	// (the registry's pull events of the scan are not pushes either).
	if scans := e.waitScans(ref, 1); scans[0].Index != 1 {
		t.Errorf("scans after the notifications: %+v", scans)
	}
	live, err := e.api.Report(e.ctx(), ref, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !live.Live || live.ManifestDigest != digest {
		t.Errorf("live report: live %v, manifest %s", live.Live, live.ManifestDigest)
	}
}

// TestReceiverDown: while the receiver fails (HTTP 500, then connection
// refused) the notification is retried and kept; once the receiver is
// back it arrives, exactly once, with the same delivery id and body.
func TestReceiverDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	ref, digest := e.scanAlpine()

	e.recv.setMode(answer500)
	writeSecdb(t, e.data, true)
	e.update()
	waitFor(t, 30*time.Second, "two failed attempts", func() (bool, string) {
		n := e.recv.failedAttempts()
		return n >= 2, fmt.Sprintf("%d failed attempts", n)
	})
	e.waitMetric("failed deliveries counted", `lapps_notification_deliveries_total{result="failed",webhook="e2e"}`, 2)

	// Then the receiver is gone altogether: connection refused.
	e.recv.down()
	before := e.metric(`lapps_notification_deliveries_total{result="failed",webhook="e2e"}`)
	e.waitMetric("a refused attempt", `lapps_notification_deliveries_total{result="failed",webhook="e2e"}`, before+1)
	if depth := e.metric("lapps_notification_queue_depth"); depth != 1 {
		t.Errorf("queue depth %v while the receiver is down, want 1", depth)
	}

	e.recv.setMode(answerOK)
	e.recv.up()
	e.waitNotification(key{digest, inventedID, notifier.ActionAdded})
	e.waitDrained()

	got := e.recv.notifications(t)
	if len(got) != 1 {
		t.Fatalf("%d notifications, want 1: %+v", len(got), got)
	}
	checkMusl(t, got[0], digest, ref, notifier.ActionAdded)
	checkUnique(t, got)
	all := e.recv.all()
	var attempts []string
	for _, h := range all {
		checkHit(t, h)
		attempts = append(attempts, h.Attempt)
		if h.ID != got[0].DeliveryID || string(h.Body) != string(all[0].Body) {
			t.Errorf("attempt %s: delivery %s, body differs %v; want every retry identical", h.Attempt, h.ID, string(h.Body) != string(all[0].Body))
		}
	}
	if n := len(e.recv.accepted()); n != 1 {
		t.Errorf("delivery accepted %d times, want once", n)
	}
	// Attempts the receiver saw: 1, 2, … (the refused ones in between it
	// never saw), the last after them.
	last := attempts[len(attempts)-1]
	if attempts[0] != "1" || attempts[1] != "2" || last == "2" {
		t.Errorf("attempt headers %v", attempts)
	}
	if d := e.metric(`lapps_notification_deliveries_total{result="delivered",webhook="e2e"}`); d != 1 {
		t.Errorf("delivered counter %v, want 1", d)
	}
	checkResigned(t, all)
}

// checkResigned checks the signatures of the attempts of one delivery:
// each signed when it was sent (timestamps never going back), the same
// timestamp giving the same signature and another timestamp another one;
// and that the first, captured and replayed, does not verify once the
// tolerance has passed, nor with a fresh timestamp.
func checkResigned(t *testing.T, attempts []hit) {
	t.Helper()
	for i, h := range attempts[1:] {
		prev := attempts[i]
		if h.Timestamp < prev.Timestamp || len(h.Timestamp) != len(prev.Timestamp) {
			t.Errorf("attempt %s timestamp %s, after attempt %s at %s", h.Attempt, h.Timestamp, prev.Attempt, prev.Timestamp)
		}
		if (h.Timestamp == prev.Timestamp) != (h.Signature == prev.Signature) {
			t.Errorf("attempts %s and %s: timestamps %s, %s; signatures %s, %s",
				prev.Attempt, h.Attempt, prev.Timestamp, h.Timestamp, prev.Signature, h.Signature)
		}
	}
	first := attempts[0]
	sent, err := strconv.ParseInt(first.Timestamp, 10, 64)
	if err != nil {
		t.Fatalf("timestamp %q: %v", first.Timestamp, err)
	}
	replay := http.Header{}
	replay.Set(notifier.HeaderID, first.ID)
	replay.Set(notifier.HeaderTimestamp, first.Timestamp)
	replay.Set(notifier.HeaderSignature, first.Signature)
	later := time.Unix(sent, 0).Add(notifier.DefaultTolerance + time.Second)
	if err := notifier.Verify(webhookSecret, replay, first.Body, later, 0); !errors.Is(err, notifier.ErrTimestamp) {
		t.Errorf("attempt %s replayed after the tolerance: Verify = %v, want ErrTimestamp", first.Attempt, err)
	}
	replay.Set(notifier.HeaderTimestamp, strconv.FormatInt(later.Unix(), 10))
	if err := notifier.Verify(webhookSecret, replay, first.Body, later, 0); !errors.Is(err, notifier.ErrSignature) {
		t.Errorf("attempt %s replayed with a fresh timestamp: Verify = %v, want ErrSignature", first.Attempt, err)
	}
}

// TestKillDuringDelivery: lapps serve is killed with SIGKILL while a
// delivery is in flight; restarted on the same database it delivers the
// notification once the claim's lease expired. The same delivery id may
// arrive twice; no notification is lost and none is sent under two ids.
func TestKillDuringDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{webhookTimeout: 3 * time.Second, lease: 4 * time.Second})
	ref, digest := e.scanAlpine()

	inFlight := e.newDataHeld()
	e.srv.kill()
	killedAt := time.Now()
	e.recv.setMode(answerOK)

	e.start()
	e.waitNotification(key{digest, inventedID, notifier.ActionAdded})
	t.Logf("delivered %s after restart, %s after the kill", inFlight, time.Since(killedAt).Round(100*time.Millisecond))
	e.waitDrained()

	e.checkRedelivered(inFlight, digest, ref)
}

// checkRedelivered checks what the receiver got after a server died with
// the delivery inFlight in flight: the one notification (about the image
// ref of manifest digest) under that delivery id, sent at least twice and
// accepted once, and no other delivery.
func (e *env) checkRedelivered(inFlight, digest, ref string) {
	t := e.t
	t.Helper()
	got := e.recv.notifications(t)
	if len(got) != 1 || got[0].DeliveryID != inFlight {
		t.Fatalf("notifications %+v, want one under delivery id %s", got, inFlight)
	}
	checkMusl(t, got[0], digest, ref, notifier.ActionAdded)
	checkUnique(t, got)
	ids := map[string]int{}
	for _, h := range e.recv.all() {
		checkHit(t, h)
		ids[h.ID]++
	}
	if len(ids) != 1 || ids[inFlight] < 2 {
		t.Errorf("requests by delivery id %v, want %s at least twice (in flight at the kill, then delivered)", ids, inFlight)
	}
	if n := len(e.recv.accepted()); n != 1 {
		t.Errorf("delivery accepted %d times, want once", n)
	}
}

// scanAlpine scans the alpine 3.11 image through the API and returns its
// reference and manifest digest.
func (e *env) scanAlpine() (ref, digest string) {
	e.t.Helper()
	ref = "oci:" + alpine(e.t) + ":alpine-3.11.13"
	r, err := e.api.ScanImage(e.ctx(), service.ScanRequest{Image: ref})
	if err != nil {
		e.t.Fatal(err)
	}
	return ref, r.ManifestDigest
}

// newDataHeld ingests version 2 of the data set through the API with the
// receiver holding every request, and returns the delivery id of the
// first request it holds.
func (e *env) newDataHeld() string {
	e.t.Helper()
	e.recv.setMode(hang)
	writeSecdb(e.t, e.data, true)
	e.update()
	select {
	case id := <-e.recv.hung:
		return id
	case <-time.After(30 * time.Second):
		e.t.Fatal("no delivery arrived in 30 s")
		return ""
	}
}
