package apps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/store"
)

// Alert says that the verdict of an app's current deployment in an
// environment changed: to warn or fail, or back to pass (Resolved).
type Alert struct {
	App         string `json:"app"`
	Environment string `json:"environment"`
	// Verdict is the new verdict, Previous the one recorded before.
	Verdict  string `json:"verdict"`
	Previous string `json:"previous"`
	// Resolved is set when the verdict went back to pass.
	Resolved bool `json:"resolved,omitempty"`
	// Images are the deployment's images with their verdicts and the
	// findings that decided them (none for a passing image).
	Images []AlertImage `json:"images"`
}

// Unscanned is the verdict of an alert's image that was never scanned
// (left out of the app's verdict).
const Unscanned = "unscanned"

// AlertImage is one image of an alert.
type AlertImage struct {
	Image string `json:"image"`
	// Verdict is pass, warn, fail, or Unscanned.
	Verdict string `json:"verdict"`
	// ScanIndex is the image scan evaluated (0 when Unscanned).
	ScanIndex int            `json:"scan_index"`
	Findings  []AlertFinding `json:"findings"`
}

// AlertFinding is one finding that made an image warn or fail.
type AlertFinding struct {
	ID               string `json:"id"`
	Severity         string `json:"severity"`
	Package          string `json:"package"`
	InstalledVersion string `json:"installed_version"`
	FixedVersion     string `json:"fixed_version,omitempty"`
}

// AlertPayload is the JSON body of a verdict delivery (kind
// store.KindVerdict).
type AlertPayload struct {
	// DeliveryID is the notification's id, also in the webhook-id header
	// (notifier.HeaderID): the same on every retry, for de-duplication.
	DeliveryID string    `json:"delivery_id"`
	Webhook    string    `json:"webhook"`
	CreatedAt  time.Time `json:"created_at"`
	Alert      Alert     `json:"alert"`
}

// SetAlertWebhooks names the configured webhooks CheckVerdicts enqueues
// its alerts for (none: alerts are only returned). Call it before the
// first CheckVerdicts.
func (l *Local) SetAlertWebhooks(names []string) { l.webhooks = append([]string(nil), names...) }

// CheckVerdicts evaluates, for every app and each environment's current
// deployment, the images' current verdicts under policyFor(app, env)
// (nil: every image passes): the latest scan of each image matched
// against the current data, as Deploy does for scanned images; no image is
// read, and images never scanned are left out. It records the app's
// verdict per environment and returns an Alert for each change to warn or
// fail, or back to pass (Resolved); the first evaluation of an
// environment only records. Each alert is enqueued in the outbox for every
// webhook named by SetAlertWebhooks (kind store.KindVerdict, body
// AlertPayload), for the notifier's Deliverer to sign and send.
//
// The verdict is recorded before its alert is enqueued; when the enqueue
// fails the previous verdict is put back, so that the next check alerts
// again. A crash between the two loses that alert.
func (l *Local) CheckVerdicts(ctx context.Context, policyFor func(app, env string) *policy.Policy, now time.Time) ([]Alert, error) {
	now = now.UTC()
	as, err := l.st.ListApps(ctx)
	if err != nil {
		return nil, fmt.Errorf("check verdicts: %w", err)
	}
	vexes := map[*policy.Policy]*policy.VEX{}
	var alerts []Alert
	var errs []error
	for _, a := range as {
		cur, err := l.st.CurrentDeployments(ctx, a.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("check verdicts of %s: %w", a.Name, err))
			continue
		}
		for _, d := range cur {
			var p *policy.Policy
			if policyFor != nil {
				p = policyFor(a.Name, d.Env)
			}
			vex, ok := vexes[p]
			if !ok {
				if vex, err = loadVEX(p); err != nil {
					errs = append(errs, fmt.Errorf("check verdicts of %s in %s: %w", a.Name, d.Env, err))
					continue
				}
				vexes[p] = vex
			}
			alert, err := l.checkDeployment(ctx, d, p, vex, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("check verdicts of %s in %s: %w", a.Name, d.Env, err))
				continue
			}
			if alert != nil {
				alerts = append(alerts, *alert)
			}
		}
	}
	return alerts, errors.Join(errs...)
}

// checkDeployment evaluates one current deployment, records its verdict
// and, when it changed, enqueues and returns its alert.
func (l *Local) checkDeployment(ctx context.Context, d store.Deployment, p *policy.Policy, vex *policy.VEX, now time.Time) (*Alert, error) {
	var results []ImageVerdict
	var images []AlertImage
	for _, im := range d.Images {
		r, err := l.svc.Report(ctx, im, 0)
		if errors.Is(err, store.ErrNotFound) {
			l.log.Warn("verdict check: image never scanned, left out", "app", d.App, "env", d.Env, "image", im)
			images = append(images, AlertImage{Image: im, Verdict: Unscanned, Findings: []AlertFinding{}})
			continue
		}
		if err != nil {
			return nil, err
		}
		v := policy.Evaluate(p, r, now, vex)
		results = append(results, ImageVerdict{Image: r.Image, ScanIndex: r.ScanIndex, Verdict: v})
		ai := AlertImage{Image: im, Verdict: v.Result, ScanIndex: r.ScanIndex, Findings: []AlertFinding{}}
		for _, c := range v.Causes {
			ai.Findings = append(ai.Findings, AlertFinding{ID: c.ID, Severity: c.Severity.String(), Package: c.Package,
				InstalledVersion: c.InstalledVersion, FixedVersion: c.FixedVersion})
		}
		images = append(images, ai)
	}
	verdict, _ := worst(results)
	prev, err := l.st.SetAppVerdict(ctx, d.App, d.Env, verdict, now)
	if err != nil {
		return nil, err
	}
	if prev == "" || prev == verdict {
		return nil, nil
	}
	alert := &Alert{App: d.App, Environment: d.Env, Verdict: verdict, Previous: prev, Resolved: verdict == policy.Pass, Images: images}
	if err := l.enqueueAlert(ctx, alert, now); err != nil {
		if _, rerr := l.st.SetAppVerdict(ctx, d.App, d.Env, prev, now); rerr != nil {
			err = errors.Join(err, fmt.Errorf("put back verdict %s: %w", prev, rerr))
		}
		return nil, err
	}
	l.log.Info("verdict changed", "app", d.App, "env", d.Env, "verdict", verdict, "previous", prev, "webhooks", len(l.webhooks))
	return alert, nil
}

// enqueueAlert stores one notification of alert per webhook, in one
// transaction, under the cursor verdict/<app>/<env> (set to now's unix
// nanoseconds: the cursor only records when the last alert was enqueued).
func (l *Local) enqueueAlert(ctx context.Context, alert *Alert, now time.Time) error {
	if len(l.webhooks) == 0 {
		return nil
	}
	var ns []store.Notification
	for _, w := range l.webhooks {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("delivery id: %w", err)
		}
		id := "verdict-" + hex.EncodeToString(b)
		body, err := json.Marshal(AlertPayload{DeliveryID: id, Webhook: w, CreatedAt: now, Alert: *alert})
		if err != nil {
			return fmt.Errorf("alert payload: %w", err)
		}
		ns = append(ns, store.Notification{ID: id, Webhook: w, Kind: store.KindVerdict, Payload: body, CreatedAt: now, NextAttempt: now})
	}
	cursor := "verdict/" + alert.App + "/" + alert.Environment
	if err := l.st.EnqueueNotifications(ctx, cursor, now.UnixNano(), ns); err != nil {
		return fmt.Errorf("enqueue alert of %s in %s: %w", alert.App, alert.Environment, err)
	}
	return nil
}
