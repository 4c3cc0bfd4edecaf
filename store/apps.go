package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrExists is returned (wrapped) when an object to create already exists.
var ErrExists = errors.New("already exists")

// Verdicts of a policy, as stored with deployments and app scans.
const (
	VerdictPass = "pass"
	VerdictWarn = "warn"
	VerdictFail = "fail"
)

// App is a named application made of images.
type App struct {
	// Name is unique.
	Name string
	// CreatedAt is set by CreateApp to the current time.
	CreatedAt time.Time
	// Images are the app's images, as given (order kept, no duplicates).
	Images []string
}

// Deployment is one attempt to deploy images of an app into an
// environment, accepted or refused.
type Deployment struct {
	// ID is the deployment's number within its app, assigned by
	// RecordDeployment: 1, 2, 3 … per app (migration 0012; before it,
	// numbers were global).
	ID  int64
	App string
	Env string
	// At is when the deployment was attempted: the current time when
	// RecordDeployment is given zero.
	At     time.Time
	Images []string
	// Verdict is VerdictPass, VerdictWarn or VerdictFail.
	Verdict  string
	Accepted bool
	// Reasons explain the verdict, one line each.
	Reasons []string
}

// AppScanImage names the image scan an app scan made: scan Index of Image.
type AppScanImage struct {
	Image string `json:"image"`
	Index int    `json:"index"`
}

// AppScan is one numbered scan of an app: the image scans it made and
// their combined verdict.
type AppScan struct {
	App string
	// Index is 1, 2, 3… per App; assigned by CreateAppScan.
	Index int
	// ScannedAt is the current time when CreateAppScan is given zero.
	ScannedAt time.Time
	Images    []AppScanImage
	// Verdict is VerdictPass, VerdictWarn or VerdictFail.
	Verdict string
	// Summary is the caller's JSON (counts, findings that decided the
	// verdict), stored as is.
	Summary []byte
}

// Apps stores applications, their deployments and their numbered scans.
type Apps interface {
	// CreateApp stores a new app named name with images. An empty name is
	// an error; a name already stored is ErrExists.
	CreateApp(ctx context.Context, name string, images []string) (*App, error)
	// GetApp returns the app named name, or ErrNotFound.
	GetApp(ctx context.Context, name string) (*App, error)
	// ListApps returns every app, by name.
	ListApps(ctx context.Context) ([]App, error)
	// SetAppImages replaces the images of app name; ErrNotFound when
	// there is no such app.
	SetAppImages(ctx context.Context, name string, images []string) error
	// RemoveApp deletes app name with its deployments and app scans (the
	// image scans stay); ErrNotFound when there is no such app.
	RemoveApp(ctx context.Context, name string) error
	// RecordDeployment stores d (d.ID is ignored) and returns its number
	// within d.App (1 for an app's first deployment);
	// ErrNotFound when d.App does not exist. An empty Env or a Verdict
	// other than pass, warn or fail is an error.
	RecordDeployment(ctx context.Context, d *Deployment) (int64, error)
	// Deployments returns the deployments of app, accepted and refused,
	// oldest first (by ID); none for an app without any.
	Deployments(ctx context.Context, app string) ([]Deployment, error)
	// CurrentDeployments returns, per environment, the latest accepted
	// deployment of app, sorted by environment.
	CurrentDeployments(ctx context.Context, app string) ([]Deployment, error)
	// CreateAppScan stores sc under the next index for sc.App, atomically,
	// and returns that index; ErrNotFound when the app does not exist.
	CreateAppScan(ctx context.Context, sc *AppScan) (int, error)
	// ListAppScans returns the scans of app, oldest first.
	ListAppScans(ctx context.Context, app string) ([]AppScan, error)
	// GetAppScan returns scan number index of app (the latest when index
	// is 0), or ErrNotFound.
	GetAppScan(ctx context.Context, app string, index int) (*AppScan, error)
}

// AppVerdicts records the last verdict of each (app, environment), so
// that the alert job notices when one changes.
type AppVerdicts interface {
	// SetAppVerdict records verdict (pass, warn or fail) at at for app in
	// env and returns the verdict recorded before ("" when none), in one
	// transaction, so that of concurrent callers each sees the verdict the
	// other recorded. An empty app or env or an invalid verdict is an
	// error; the app need not exist. RemoveApp deletes the app's verdicts.
	SetAppVerdict(ctx context.Context, app, env, verdict string, at time.Time) (previous string, err error)
}

// ValidVerdict reports whether v is one of the stored verdicts.
func ValidVerdict(v string) bool {
	return v == VerdictPass || v == VerdictWarn || v == VerdictFail
}

// The engines' apps, deployments and app scans differ only in their SQL:
// what is checked, how lists are encoded and decoded, and what a new app
// looks like is here, once.

// TextFunc maps a string to what an engine's text columns can hold:
// PostgreSQL's text holds neither NUL nor invalid UTF-8, SQLite's holds
// any string. nil keeps strings as they are.
type TextFunc func(string) string

func (f TextFunc) list(ss []string) []string {
	if f == nil || ss == nil {
		return ss
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// EncodeApp checks the name of an app to create and encodes its images
// (through text) as stored. Errors are those of CreateApp.
func EncodeApp(name string, images []string, text TextFunc) (string, error) {
	if name == "" {
		return "", errors.New("create app: no name")
	}
	imgs, err := EncodeList(text.list(images))
	if err != nil {
		return "", fmt.Errorf("create app %s: %w", name, err)
	}
	return imgs, nil
}

// NewApp is the App that CreateApp returns once stored: images as given,
// nil when empty.
func NewApp(name string, images []string, at time.Time) *App {
	a := &App{Name: name, CreatedAt: at, Images: images}
	if len(a.Images) == 0 {
		a.Images = nil
	}
	return a
}

// DeploymentColumns are what both engines store of a Deployment besides
// its plain values: the time of the attempt and the two JSON lists.
type DeploymentColumns struct {
	At              time.Time
	Images, Reasons string
}

// EncodeDeployment checks d for RecordDeployment (an app, an environment,
// a verdict of pass, warn or fail) and encodes its lists, each string
// through text first; At is d.At, or now when that is zero. Errors are
// RecordDeployment's, whole.
func EncodeDeployment(d *Deployment, text TextFunc, now time.Time) (DeploymentColumns, error) {
	var c DeploymentColumns
	if d == nil || d.App == "" || d.Env == "" {
		return c, errors.New("record deployment: no app or environment")
	}
	if !ValidVerdict(d.Verdict) {
		return c, fmt.Errorf("record deployment of %s: verdict %q is not pass, warn or fail", d.App, d.Verdict)
	}
	var err error
	if c.Images, err = EncodeList(text.list(d.Images)); err != nil {
		return c, fmt.Errorf("record deployment of %s: %w", d.App, err)
	}
	if c.Reasons, err = EncodeList(text.list(d.Reasons)); err != nil {
		return c, fmt.Errorf("record deployment of %s: %w", d.App, err)
	}
	c.At = d.At
	if c.At.IsZero() {
		c.At = now
	}
	return c, nil
}

// DecodeDeployment fills d's lists from their stored columns.
func DecodeDeployment(d *Deployment, images, reasons string) error {
	var err error
	if d.Images, err = DecodeList[string](images); err != nil {
		return err
	}
	d.Reasons, err = DecodeList[string](reasons)
	return err
}

// AppScanColumns are what both engines store of an AppScan besides its
// plain values.
type AppScanColumns struct {
	At     time.Time
	Images string
	// Summary is nil (stored as NULL) when the scan has none, otherwise
	// its []byte.
	Summary any
}

// EncodeAppScan checks sc for CreateAppScan (an app, a verdict of pass,
// warn or fail) and encodes its images, each image name through text; At
// is sc.ScannedAt, or now when that is zero. Errors are CreateAppScan's,
// whole.
func EncodeAppScan(sc *AppScan, text TextFunc, now time.Time) (AppScanColumns, error) {
	var c AppScanColumns
	if sc == nil || sc.App == "" {
		return c, errors.New("create app scan: no app")
	}
	if !ValidVerdict(sc.Verdict) {
		return c, fmt.Errorf("create app scan of %s: verdict %q is not pass, warn or fail", sc.App, sc.Verdict)
	}
	list := sc.Images
	if text != nil {
		list = make([]AppScanImage, len(sc.Images))
		for i, im := range sc.Images {
			list[i] = AppScanImage{Image: text(im.Image), Index: im.Index}
		}
	}
	var err error
	if c.Images, err = EncodeList(list); err != nil {
		return c, fmt.Errorf("create app scan of %s: %w", sc.App, err)
	}
	c.At = sc.ScannedAt
	if c.At.IsZero() {
		c.At = now
	}
	if len(sc.Summary) > 0 {
		c.Summary = sc.Summary
	}
	return c, nil
}

// DecodeAppScan fills sc's images and summary (nil when empty) from their
// stored columns.
func DecodeAppScan(sc *AppScan, images string, summary []byte) error {
	var err error
	if sc.Images, err = DecodeList[AppScanImage](images); err != nil {
		return err
	}
	sc.Summary = nil
	if len(summary) > 0 {
		sc.Summary = summary
	}
	return nil
}
