package apps

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/store"
)

// TestCheckVerdicts deploys AlmaLinux 9.3 under a lenient policy, then
// tightens the environment's policy: the first check records pass, the
// tightened one alerts fail naming ALSA-2024:3339 on glibc, a repeat says
// nothing, loosening resolves. The alerts land in the outbox and the
// Deliverer posts them, signed, to a webhook receiver.
func TestCheckVerdicts(t *testing.T) {
	l, alma, opts := almaLocal(t)
	ctx := context.Background()
	if _, err := l.CreateApp(ctx, "shop", []string{alma}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateApp(ctx, "idle", []string{alma}); err != nil { // never deployed: not checked
		t.Fatal(err)
	}
	lenient := &policy.Policy{FailOn: "critical"}
	d, err := l.Deploy(ctx, DeployRequest{App: "shop", Env: "prod", Policy: lenient, ImageOptions: opts})
	if err != nil || !d.Accepted {
		t.Fatalf("deploy: %+v, %v", d, err)
	}
	l.SetAlertWebhooks([]string{"team", "ops"})

	policies := map[string]*policy.Policy{"prod": lenient}
	policyFor := func(app, env string) *policy.Policy {
		if app != "shop" {
			t.Errorf("policyFor(%s, %s): app not deployed", app, env)
		}
		return policies[env]
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		name     string
		p        *policy.Policy
		verdict  string // "" for no alert
		previous string
		resolved bool
		outbox   int
	}{
		{"first check records", lenient, "", "", false, 0},
		{"tightened", &policy.Policy{FailOn: "high"}, policy.Fail, policy.Pass, false, 2},
		{"unchanged", &policy.Policy{FailOn: "high"}, "", "", false, 2},
		{"loosened", lenient, policy.Pass, policy.Fail, true, 4},
	}
	for i, s := range steps {
		policies["prod"] = s.p
		alerts, err := l.CheckVerdicts(ctx, policyFor, now.Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.verdict == "" {
			if len(alerts) != 0 {
				t.Errorf("%s: alerts %+v, want none", s.name, alerts)
			}
		} else if len(alerts) != 1 {
			t.Fatalf("%s: %d alerts, want 1: %+v", s.name, len(alerts), alerts)
		} else {
			a := alerts[0]
			if a.App != "shop" || a.Environment != "prod" || a.Verdict != s.verdict || a.Previous != s.previous || a.Resolved != s.resolved ||
				len(a.Images) != 1 || a.Images[0].Image != d.Images[0] || a.Images[0].ScanIndex != 1 {
				t.Errorf("%s: alert %+v", s.name, a)
			}
			named := slices.ContainsFunc(a.Images[0].Findings, func(f AlertFinding) bool {
				return f.ID == "ALSA-2024:3339" && f.Package == "glibc" && f.Severity == "high" && f.InstalledVersion == "2.34-83.el9_3.7" && f.FixedVersion != ""
			})
			if named != (s.verdict == policy.Fail) {
				t.Errorf("%s: findings %+v: ALSA-2024:3339 on glibc named %v", s.name, a.Images[0].Findings, named)
			}
		}
		ns, err := l.st.(store.Outbox).Notifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) != s.outbox {
			t.Errorf("%s: %d notifications in the outbox, want %d", s.name, len(ns), s.outbox)
		}
	}

	// Deliver the outbox to two receivers that verify the signatures.
	var mu sync.Mutex
	got := map[string][]AlertPayload{}
	receiver := func(name, secret string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if notifier.Verify(secret, r.Header, body, time.Now(), 0) != nil || r.Header.Get(notifier.HeaderEvent) != store.KindVerdict {
				http.Error(w, "bad signature or event", http.StatusUnauthorized)
				return
			}
			var p AlertPayload
			if err := json.Unmarshal(body, &p); err != nil || p.DeliveryID != r.Header.Get(notifier.HeaderID) || p.Webhook != name {
				http.Error(w, "bad payload", http.StatusBadRequest)
				return
			}
			mu.Lock()
			got[name] = append(got[name], p)
			mu.Unlock()
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	team, ops := receiver("team", "team-secret"), receiver("ops", "ops-secret")
	dl, err := notifier.NewDeliverer(l.st.(store.Outbox), []notifier.Webhook{
		{Name: "team", URL: team.URL, Secret: "team-secret"},
		{Name: "ops", URL: ops.URL, Secret: "ops-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	delivered, failed, err := dl.DeliverOnce(ctx)
	if err != nil || delivered != 4 || failed != 0 {
		t.Fatalf("DeliverOnce: delivered %d, failed %d, %v; want 4, 0", delivered, failed, err)
	}
	for _, name := range []string{"team", "ops"} {
		ps := got[name]
		slices.SortFunc(ps, func(a, b AlertPayload) int { return a.CreatedAt.Compare(b.CreatedAt) })
		if len(ps) != 2 || ps[0].Alert.Verdict != policy.Fail || ps[1].Alert.Verdict != policy.Pass || !ps[1].Alert.Resolved ||
			ps[0].Alert.App != "shop" || ps[0].Alert.Environment != "prod" || len(ps[0].Alert.Images) != 1 {
			t.Errorf("%s received %+v", name, ps)
		}
	}
	if depth, err := l.st.(store.Outbox).OutboxDepth(ctx); err != nil || depth != 0 {
		t.Errorf("outbox depth %d, %v; want 0", depth, err)
	}
}

// TestCheckVerdictsEnvironments checks environments apart: each under its
// own policy, one whose policy cannot be loaded reported as an error
// without keeping the others from being checked, and a removed app
// forgotten.
func TestCheckVerdictsEnvironments(t *testing.T) {
	l, alma, opts := almaLocal(t)
	ctx := context.Background()
	if _, err := l.CreateApp(ctx, "shop", []string{alma}); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"prod", "staging", "dev"} {
		if _, err := l.Deploy(ctx, DeployRequest{App: "shop", Env: env, ImageOptions: opts}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if alerts, err := l.CheckVerdicts(ctx, nil, now); err != nil || len(alerts) != 0 {
		t.Fatalf("first check: %+v, %v", alerts, err)
	}
	policies := map[string]*policy.Policy{
		"prod":    {FailOn: "high"},
		"staging": {WarnOn: "high"},
		"dev":     {FailOn: "high", VEX: []string{"/nonexistent/vex.json"}},
	}
	alerts, err := l.CheckVerdicts(ctx, func(_, env string) *policy.Policy { return policies[env] }, now.Add(time.Hour))
	if err == nil {
		t.Error("missing VEX file: no error")
	}
	got := map[string]string{}
	for _, a := range alerts {
		got[a.Environment] = a.Verdict
	}
	if len(got) != 2 || got["prod"] != policy.Fail || got["staging"] != policy.Warn {
		t.Errorf("alerts by environment = %v, want prod fail and staging warn", got)
	}
	if ns, err := l.st.(store.Outbox).Notifications(ctx); err != nil || len(ns) != 0 {
		t.Errorf("no webhooks: %d notifications, %v; want none", len(ns), err)
	}
	if err := l.RemoveApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if alerts, err := l.CheckVerdicts(ctx, nil, now.Add(2*time.Hour)); err != nil || len(alerts) != 0 {
		t.Errorf("after removal: %+v, %v", alerts, err)
	}
}
