package store

import (
	"context"
	"errors"
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
