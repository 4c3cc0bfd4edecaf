// Package store defines lapps' storage: one interface, implemented by the
// embedded SQLite engine (store/sqlite) and by PostgreSQL, both held to the
// conformance suite in store/storetest.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// ErrNotFound is returned (wrapped) when a requested object does not exist.
var ErrNotFound = errors.New("not found")

// Store is the whole storage interface.
type Store interface {
	Layers
	Blobs
	Manifests
	Scans
	Vulnerabilities
	RecordLookup
	UpdateRecords
	Coverage
	Tokens
	Outbox
	Retention
	Leases
	Jobs
	Apps
	AppVerdicts
	// Close releases the store's resources.
	Close() error
}

// Layers stores layer indexes under their digests.
type Layers interface {
	// Layer returns the stored index of a layer, or ErrNotFound. The caller
	// checks IndexerVersion.
	Layer(ctx context.Context, digest string) (*model.LayerIndex, error)
	// PutLayer stores or replaces a layer's index.
	PutLayer(ctx context.Context, idx *model.LayerIndex) error
}

// Blobs records which uncompressed content (diff ID) a layer blob holds,
// as lapps verified it by reading the blob. A layer index is reused for a
// content-addressed blob only through this record, never on an image
// configuration's word.
type Blobs interface {
	// BlobDiffID returns the diff ID verified for blob, or ErrNotFound.
	BlobDiffID(ctx context.Context, blob string) (string, error)
	// PutBlobDiffID records that blob decompresses to diffID. Both are
	// "sha256:" and 64 lower-case hex digits; anything else is an error.
	// Recording the same pair again refreshes it; a blob recorded with
	// another diff ID is an error (wrapping ErrExists), and the record
	// stays as it was.
	PutBlobDiffID(ctx context.Context, blob, diffID string) error
}

// CheckDigest checks that d is a SHA-256 digest in canonical form:
// "sha256:" and 64 lower-case hex digits. what names d in the error.
func CheckDigest(what, d string) error {
	const prefix = "sha256:"
	ok := len(d) == len(prefix)+64 && d[:len(prefix)] == prefix
	for i := len(prefix); ok && i < len(d); i++ {
		c := d[i]
		ok = '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
	}
	if !ok {
		return fmt.Errorf("%s %q is not a sha256: digest of 64 lower-case hex digits", what, d)
	}
	return nil
}

// CheckBlobDiffID validates the arguments of Blobs.PutBlobDiffID alike
// for every engine.
func CheckBlobDiffID(blob, diffID string) error {
	return errors.Join(CheckDigest("blob", blob), CheckDigest("diff ID", diffID))
}

// Manifests stores folded image indexes under manifest digests.
type Manifests interface {
	// Manifest returns the stored index of a manifest, or ErrNotFound.
	Manifest(ctx context.Context, digest string) (*model.ImageIndex, error)
	// PutManifest stores or replaces a manifest's index, its layer list and
	// its packages (the inverted index from package to manifest).
	PutManifest(ctx context.Context, idx *model.ImageIndex) error
	// ManifestsWithPackages returns the digests of the manifests that hold a
	// package of the given kind whose name or source name is one of names.
	ManifestsWithPackages(ctx context.Context, kind string, names []string) ([]string, error)
}

// SeverityCounts counts findings by normalised severity.
type SeverityCounts map[vuln.Severity]int

// Scan is one numbered scan of an image (or of a transport path).
type Scan struct {
	// Image is the normalised image name the scan is numbered under.
	Image string
	// Index is 1, 2, 3… per Image; assigned by CreateScan.
	Index          int
	ScannedAt      time.Time
	ManifestDigest string
	Packages       int
	Counts         SeverityCounts
	// Report is the report as it stood at scan time, as JSON.
	Report []byte
	// Key, when not empty, makes CreateScan idempotent: the scan of a job
	// that runs again (its replica died after recording it) is stored once.
	// At most 200 bytes; not returned by the read methods.
	Key string
}

// Scans stores numbered scans.
type Scans interface {
	// CreateScan stores s under the next index for s.Image, atomically,
	// and returns that index. When s.Key is not empty and a scan of
	// s.Image with that key is stored already, it stores nothing and
	// returns that scan's index.
	CreateScan(ctx context.Context, s *Scan) (int, error)
	// ListScans returns the scans of an image, oldest first, without their
	// reports.
	ListScans(ctx context.Context, image string) ([]Scan, error)
	// GetScan returns scan number index of an image (the latest when index
	// is 0), or ErrNotFound.
	GetScan(ctx context.Context, image string, index int) (*Scan, error)
}

// UpdateOperation is one stored run of a source that changed its data.
type UpdateOperation struct {
	ID        int64
	Source    string
	CreatedAt time.Time
	// Fingerprint identifies the upstream content (a digest of the feed).
	Fingerprint string
	Records     int
}

// SourceRun is the outcome of one run of a source, changed data or not.
type SourceRun struct {
	Source    string
	StartedAt time.Time
	Duration  time.Duration
	// Err is empty on success.
	Err string
	// Operation is the update operation the run created, 0 when the feed
	// was unchanged or the run failed.
	Operation int64
	// Validators are the HTTP validators (ETag, Last-Modified) of the
	// fetched feed, kept for the next conditional request.
	Validators map[string]string
}

// SourceStatus is what is known of one source.
type SourceStatus struct {
	Source  string
	LastRun *SourceRun
	// LastSuccess is the time of the last run that succeeded.
	LastSuccess time.Time
	// Latest is the source's current update operation, if any.
	Latest *UpdateOperation
}

// Diff is the difference between two update operations of one source.
type Diff struct {
	Added, Removed, Changed []vuln.Record
}

// MaxRecordIDs bounds the ids one RecordsByID call takes (after removing
// duplicates and empty ids): a caller with more asks in batches.
const MaxRecordIDs = 5000

// ErrTooManyIDs is returned (wrapped) by RecordsByID for more than
// MaxRecordIDs distinct ids.
var ErrTooManyIDs = errors.New("too many ids")

// RecordLookup finds current records by vulnerability id, whatever their
// ecosystem and source: what enriches a finding with what other sources
// say of the same vulnerability.
type RecordLookup interface {
	// RecordsByID returns the current records (those of each source's
	// latest published update operation, as Records sees them) whose ID is
	// one of ids, of any ecosystem and source, sorted as SortRecords does.
	// Duplicate and empty ids are ignored; more than MaxRecordIDs distinct
	// ids is an error wrapping ErrTooManyIDs.
	RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error)
}

// RecordIDs returns ids without empty and duplicate ids, sorted, or an
// error wrapping ErrTooManyIDs when more than MaxRecordIDs remain: the
// input check both engines make in RecordsByID.
func RecordIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxRecordIDs {
		return nil, fmt.Errorf("records by id: %d ids, at most %d at a time: %w", len(out), MaxRecordIDs, ErrTooManyIDs)
	}
	return out, nil
}

// Vulnerabilities stores vulnerability data as update operations.
type Vulnerabilities interface {
	// PutUpdate stores records as the new update operation of source,
	// atomically for readers: until it returns, every reader (Records,
	// SourceStatuses, UpdateOperations, DiffUpdates, OperationRecords,
	// PruneUpdates) sees the source's previous operation, and never part of
	// this one. On error nothing is published; what an engine wrote (SQLite
	// writes in batches of short transactions) is removed, by this call or
	// by the next PutUpdate or PruneUpdates of the source when the process
	// died. A PutUpdate of a source waits for one of the same source in
	// progress, so that a source's operation ids grow in the order its
	// operations are published. Records with the same Key are an error.
	// With the operation it stores the Origin of ctx (WithOrigin) and
	// Summarize's counts by ecosystem and newest record time, which
	// Coverage.SourceData returns.
	PutUpdate(ctx context.Context, source, fingerprint string, records []vuln.Record) (*UpdateOperation, error)
	// RecordRun records the outcome of a run of a source.
	RecordRun(ctx context.Context, run *SourceRun) error
	// SourceStatuses returns the status of every source that ever ran.
	SourceStatuses(ctx context.Context) ([]SourceStatus, error)
	// UpdateOperations lists the update operations of a source, newest first.
	UpdateOperations(ctx context.Context, source string) ([]UpdateOperation, error)
	// DiffUpdates compares two update operations of the same source; from
	// may be 0 (everything in to is added).
	DiffUpdates(ctx context.Context, from, to int64) (*Diff, error)
	// Records returns the current records (those of each source's latest
	// update operation) of an ecosystem for the given package names.
	Records(ctx context.Context, ecosystem string, packages []string) ([]vuln.Record, error)
	// PruneUpdates removes the update operations of source beyond the keep
	// newest, and the records no operation refers to any more. It returns
	// the number of operations removed.
	PruneUpdates(ctx context.Context, source string, keep int) (int, error)
}

// The interfaces below serve `lapps serve`: API tokens, the notifier's
// outbox, and the scrub and garbage-collection jobs. Times given to them
// are compared and stored at microsecond precision or finer; engines return
// them in UTC.

// Token is an API bearer token. Its secret is never stored: only the
// SHA-256 of the secret, by which the token is found.
type Token struct {
	// ID is assigned by CreateToken, from 1, never reused.
	ID   int64
	Name string
	// CreatedAt is set by CreateToken to the current time.
	CreatedAt time.Time
	// LastUsed is the latest time given to TouchToken; zero when never used.
	LastUsed time.Time
	// RevokedAt is when RevokeToken was first called; zero while valid.
	RevokedAt time.Time
	// Scopes are what the token may do (read, scan, deploy, admin; the
	// server decides what each allows), in the order given to
	// CreateToken. Tokens made before scopes existed have read, scan and
	// deploy.
	Scopes []string
}

// Tokens stores API bearer tokens by the SHA-256 of their secrets.
type Tokens interface {
	// CreateToken stores a new token named name (names need not be
	// unique) whose secret hashes to hash (32 bytes, SHA-256) with scopes
	// (valid for CheckTokenScopes), and returns it with its ID and
	// CreatedAt. A hash already stored, revoked or not, is an error.
	CreateToken(ctx context.Context, name string, hash []byte, scopes []string) (*Token, error)
	// TokenByHash returns the valid token whose secret hashes to hash.
	// Unknown and revoked tokens are both ErrNotFound, so that a caller
	// cannot accept a revoked token by mistake.
	TokenByHash(ctx context.Context, hash []byte) (*Token, error)
	// ListTokens returns every token, revoked ones included, by ID.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken revokes token id; revoking a revoked token does nothing
	// and keeps the first revocation time. An unknown id is ErrNotFound.
	RevokeToken(ctx context.Context, id int64) error
	// TouchToken records that token id was used at at. LastUsed only moves
	// forward: an earlier at than the stored one is ignored. An unknown id
	// is ErrNotFound.
	TouchToken(ctx context.Context, id int64, at time.Time) error
}

// Notification kinds.
const (
	// KindVulnerability: vulnerabilities added to or removed from
	// manifests by new vulnerability data.
	KindVulnerability = "vulnerability"
	// KindVerdict: a policy verdict changed.
	KindVerdict = "verdict"
)

// Notification is one delivery waiting in, or done from, the outbox: one
// payload for one configured webhook. Retries deliver the same ID and the
// same Payload, so that receivers can de-duplicate.
type Notification struct {
	// ID is the delivery id, chosen by the caller of EnqueueNotifications
	// (non-empty, unique in the outbox; at most 200 bytes).
	ID string
	// Webhook is the name of the configured webhook to deliver to.
	Webhook string
	// Kind is KindVulnerability or KindVerdict.
	Kind string
	// Payload is the JSON body delivered, as is.
	Payload []byte
	// CreatedAt is when the notification was enqueued: the current time
	// when EnqueueNotifications is given zero.
	CreatedAt time.Time
	// Attempts counts the failed deliveries (MarkFailed calls); Enqueue
	// stores 0.
	Attempts int
	// NextAttempt is when the notification is next due: CreatedAt when
	// EnqueueNotifications is given zero, then moved by
	// ClaimNotifications (the lease) and MarkFailed (the backoff).
	NextAttempt time.Time
	// DeliveredAt is zero until MarkDelivered (Enqueue ignores it).
	DeliveredAt time.Time
	// LastError is the error of the last failed attempt (Enqueue ignores
	// it).
	LastError string
}

// Outbox is the durable queue of notifications and the notifier's
// cursors. It is at-least-once: a notification leaves the queue only by
// MarkDelivered, and a deliverer that dies holding a claim loses it only
// for the lease.
type Outbox interface {
	// EnqueueNotifications adds ns to the outbox and sets the notifier
	// cursor named cursor (a source name, say) to op, in one transaction:
	// either both happen or neither, so that a notifier that crashes
	// neither loses nor duplicates the notifications of an update
	// operation. ns may be empty (the cursor still moves). Notifications
	// with an empty or duplicate ID (within ns or already stored) are an
	// error and nothing is stored. The cursor may move backwards; that is
	// the caller's business.
	EnqueueNotifications(ctx context.Context, cursor string, op int64, ns []Notification) error
	// NotifierCursor returns the op last stored for cursor, 0 when none.
	NotifierCursor(ctx context.Context, cursor string) (int64, error)
	// ClaimNotifications returns at most limit undelivered notifications
	// whose NextAttempt <= now, oldest first (by CreatedAt, then ID), and
	// sets their NextAttempt to now+lease in the same transaction, so that
	// concurrent callers (several replicas) never receive the same one
	// while its lease runs. The returned notifications carry the new
	// NextAttempt. limit <= 0 is an error.
	ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Notification, error)
	// MarkDelivered records the delivery of notification id at at; it is
	// never claimed again. An unknown id is ErrNotFound. Marking a
	// delivered notification again changes nothing.
	MarkDelivered(ctx context.Context, id string, at time.Time) error
	// MarkFailed records a failed attempt of notification id: Attempts is
	// incremented, LastError set to errMsg and NextAttempt to next. An
	// unknown id is ErrNotFound; a delivered one is left as it is.
	MarkFailed(ctx context.Context, id string, next time.Time, errMsg string) error
	// OutboxDepth returns the number of undelivered notifications.
	OutboxDepth(ctx context.Context) (int, error)
	// PruneDelivered deletes at most limit notifications delivered before
	// before, oldest delivery first, and returns how many it deleted.
	// Undelivered notifications are never deleted. limit <= 0 is an error.
	PruneDelivered(ctx context.Context, before time.Time, limit int) (int, error)
	// Notifications returns the notifications of the outbox, delivered or
	// not, oldest first (by CreatedAt, then ID): for status pages and
	// tests.
	Notifications(ctx context.Context) ([]Notification, error)
}

// UpdateRecords reads the records of one update operation.
type UpdateRecords interface {
	// OperationRecords returns the records of update operation op in
	// ecosystem for the given package names, sorted by package, id and
	// source: what Records returned for that source while op was its
	// latest. An unknown operation is ErrNotFound.
	OperationRecords(ctx context.Context, op int64, ecosystem string, packages []string) ([]vuln.Record, error)
}

// Retention serves the scrub and garbage-collection jobs. Every Prune
// method deletes at most limit rows of its main table per call (limit <= 0
// is an error) in one short transaction, and returns how many it deleted,
// so that a job calls it again until it returns 0 and never holds the
// database for long.
type Retention interface {
	// LatestScans returns the latest scan of every image, without report,
	// sorted by image.
	LatestScans(ctx context.Context) ([]Scan, error)
	// ImagesOfManifest returns, sorted, the images whose latest scan is of
	// manifest digest; none (and no error) when there are none.
	ImagesOfManifest(ctx context.Context, digest string) ([]string, error)
	// TouchManifest records that manifest digest is still referenced at
	// at (re-evaluated by scrub, named by a deployment), which keeps it
	// from PruneManifests until at falls before its cut-off. It only moves
	// forward. An unknown digest is ErrNotFound.
	TouchManifest(ctx context.Context, digest string, at time.Time) error
	// PruneScans deletes, per image, the scans beyond the keep newest (by
	// index), oldest first, at most limit in all. keep < 1 is an error: an
	// image's latest scan is never pruned here.
	PruneScans(ctx context.Context, keep, limit int) (int, error)
	// PruneManifests deletes at most limit manifests last seen before
	// before, least recently seen first, with their scans, their layer lists and their packages. A
	// manifest's last-seen time is the latest of: when PutManifest last
	// stored it, the latest TouchManifest, and its newest scan's
	// ScannedAt. Layer indexes are left to PruneLayers.
	PruneManifests(ctx context.Context, before time.Time, limit int) (int, error)
	// PruneLayers deletes at most limit layer indexes that no stored
	// manifest lists and that were last stored (PutLayer) before before,
	// oldest first, and in the same transaction the Blobs records whose
	// diff ID is one of theirs (a blob is only worth knowing while the
	// index of its content is stored).
	// The cut-off protects the layers of an image being indexed, stored
	// before its manifest is.
	PruneLayers(ctx context.Context, before time.Time, limit int) (int, error)
}

// Leases are named, timed locks shared by every process on one database:
// the `lapps serve` replicas take one before singleton work (a source's
// ingest, scrub, GC, the notifier), renew it while the work lasts, and
// release it after; a replica that dies holding one loses it when it
// expires. Expiry is judged by the database's clock where the engine has
// one (PostgreSQL), so that replicas with skewed clocks agree.
type Leases interface {
	// AcquireLease takes the lease name for holder until ttl from now, and
	// reports whether it did: true when the lease was free, expired, or
	// already held by holder (whose lease is then extended to ttl from
	// now); false when another holder's lease runs. Of concurrent callers
	// for a free lease exactly one gets it. An empty name or holder, one
	// that is not valid UTF-8 or holds a NUL byte, and ttl <= 0 are errors.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease frees the lease name when holder holds it (expired or
	// not); otherwise it does nothing.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// ManifestPackages are packages of one manifest that PackageRows found.
type ManifestPackages struct {
	Digest         string
	IndexerVersion string
	// Distribution is the JSON of the manifest's Distribution ("null"
	// when it has none).
	Distribution []byte
	// Packages are the JSON of the packages found (vuln.Package), in the
	// manifest's order, undecoded: a caller decodes what it uses, and can
	// tell identical package sets apart by their bytes. The engines read
	// each distinct package once (by its PackageRow.Hash) and return the
	// same slice for it in every manifest that holds it: a caller may
	// take one slice (its first byte's address) for the same bytes, never
	// the other way round.
	Packages [][]byte
}

// PackageRows finds packages of indexed manifests by name, from the rows
// PutManifest writes for each package (migration 0013), without decoding
// manifest indexes. Both engines implement it.
type PackageRows interface {
	// PackagesNamed returns, sorted by manifest digest, the packages of
	// kind whose name or source name is one of names, with their
	// manifests. Manifests stored before the rows existed get them first.
	PackagesNamed(ctx context.Context, kind string, names []string) ([]ManifestPackages, error)
	// ImagesOfManifests is ImagesOfManifest for many manifests in one
	// query: by digest, the images (sorted) whose latest scan is of it;
	// a manifest without any is absent.
	ImagesOfManifests(ctx context.Context, digests []string) (map[string][]string, error)
}

// PackageRow is one package of a manifest as PutManifest stores it in
// the rows of PackageRows.
type PackageRow struct {
	Kind, Name, SourceName string
	Data                   []byte
	// Hash identifies Data (migration 0014): the first 16 bytes of its
	// SHA-256, so that PackagesNamed reads each distinct package once.
	Hash []byte
}

// PackageHash returns the Hash of a package row's Data.
func PackageHash(data []byte) []byte {
	sum := sha256.Sum256(data)
	return sum[:16]
}

// PackageRowsOf returns the rows of an index's packages, in order, and
// the JSON of its distribution: what both engines store.
func PackageRowsOf(idx *model.ImageIndex) ([]PackageRow, []byte, error) {
	rows := make([]PackageRow, len(idx.Packages))
	for i := range idx.Packages {
		p := &idx.Packages[i]
		b, err := json.Marshal(p)
		if err != nil {
			return nil, nil, fmt.Errorf("package %s: %w", p.Name, err)
		}
		rows[i] = PackageRow{Kind: p.Kind, Name: p.Name, SourceName: p.SourceName, Data: b, Hash: PackageHash(b)}
	}
	dist, err := json.Marshal(idx.Distribution)
	if err != nil {
		return nil, nil, fmt.Errorf("distribution: %w", err)
	}
	return rows, dist, nil
}
