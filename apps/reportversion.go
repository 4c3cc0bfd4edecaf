package apps

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// AppReportVersion returns the version of AppReport(name, index): a
// string that changes whenever the report would, read from a few small
// rows (the app, the app scan, the scans of its images) without reading
// a report, so that a server can keep the encoded report. An app report
// is made of recorded image scans, so the vulnerability data does not
// enter it: the app (removed and created again, it is another), the app
// scan (a new one is the latest) and which of its image scans are still
// stored do. It fails as AppReport would when there is no such scan.
func (l *Local) AppReportVersion(ctx context.Context, name string, index int) (string, error) {
	if index < 0 {
		return "", badRequest("app scan index %d: want 1, 2, 3… or 0 for the latest", index)
	}
	app, err := l.st.GetApp(ctx, name)
	if err != nil {
		return "", appErr(name, err)
	}
	sc, err := l.st.GetAppScan(ctx, name, index)
	if errors.Is(err, store.ErrNotFound) {
		if index > 0 {
			return "", fmt.Errorf("app %s has no scan #%d: %w", name, index, service.ErrNotFound)
		}
		return "", fmt.Errorf("no scans of app %s: %w", name, service.ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\x00%d\x00%d\x00%d", app.Name, app.CreatedAt.UnixNano(), sc.Index, sc.ScannedAt.UnixNano())
	for _, im := range sc.Images {
		scans, err := l.st.ListScans(ctx, im.Image)
		if err != nil {
			return "", err
		}
		stored := false
		for _, s := range scans {
			stored = stored || s.Index == im.Index
		}
		b.WriteString("\x00" + im.Image + "#" + strconv.Itoa(im.Index) + "=" + strconv.FormatBool(stored))
	}
	return b.String(), nil
}
