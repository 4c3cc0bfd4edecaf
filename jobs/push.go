package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
)

// pushScanner scans a pushed image, trying again for a few seconds while
// the registry does not know it. The distribution registry sends a
// manifest's push event before it links the tag to the manifest
// (distribution/distribution#2625, open since 2018), so a scan by tag
// right after the event can find no such tag yet.
type pushScanner struct {
	Scanner
	log *slog.Logger
}

// pushRetries are the waits between the attempts of a push scan.
var pushRetries = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond}

// ScanImage scans req.Image, again after each wait of pushRetries while
// the image is not found; a scan that still fails is logged, since no
// client waits for its job.
func (p pushScanner) ScanImage(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
	for i := 0; ; i++ {
		r, err := p.Scanner.ScanImage(ctx, req)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, image.ErrNotFound) || i == len(pushRetries) {
			p.log.Error("scan on push failed", "image", req.Image, "attempts", i+1, "err", err)
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pushRetries[i]):
		}
	}
}
