package cli

import (
	"context"
	"testing"

	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/store"
)

// startJobs returns a runner of q's scan jobs over svc, allowed local
// images under roots, started and stopped when the test ends (before the
// cleanups registered earlier, which close the store).
func startJobs(t *testing.T, svc jobs.Scanner, q store.Jobs, roots ...string) *jobs.Runner {
	t.Helper()
	r := jobs.New(q, svc, jobs.WithLocalImages(roots))
	r.Start(context.Background())
	t.Cleanup(r.Close)
	return r
}
