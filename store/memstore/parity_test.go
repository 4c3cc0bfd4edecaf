package memstore_test

import (
	"testing"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/memstore"
	"github.com/lapps/lapps/store/storetest"
)

// partial is a memstore as a store.Store for the conformance suite: the
// methods memstore has, and for the others a nil store.Store whose call
// panics, which only a test of a role memstore does not implement makes
// (such tests are not run).
type partial struct {
	*memstore.Store
	missing
}

type missing struct{ store.Store }

// implemented are the conformance tests of the roles memstore implements.
// Not run: the tests of tokens, leases and jobs (roles it does not
// have), and HiddenOperation, FailedUpdate,
// AbandonedUpdate and StreamError, which need storetest.Hooks into an
// engine's half-written updates (memstore publishes an update at once,
// under its lock: there is no half-written state to look into).
var implemented = []string{
	"Layers", "Manifests", "ManifestsWithPackages", "PackageRows",
	"ScanNumbering", "ConcurrentCreateScan", "GetScan", "ScanKey",
	"BadInput", "Records", "RecordsByID", "DiffUpdates", "DuplicateKeys",
	"SourceStatuses", "SourceData", "PruneUpdates", "OperationRecords",
	"OutboxEnqueue", "OutboxClaim", "OutboxConcurrentClaim", "PruneDelivered",
	"LatestScans", "Blobs", "PruneScans", "PruneManifests", "PruneLayers", "PruneLayerBlobs",
	"Apps", "Deployments", "AppScans", "AppVerdicts",
}

// TestConformance runs the engines' conformance suite on memstore for
// the roles it implements, so that the fake cannot drift from them.
func TestConformance(t *testing.T) {
	storetest.RunOnly(t, func(t *testing.T) store.Store { return partial{Store: memstore.New()} }, storetest.Hooks{}, implemented...)
}
