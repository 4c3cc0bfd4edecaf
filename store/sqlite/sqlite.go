// Package sqlite is lapps' embedded store: store.Store on a single SQLite
// database file, through the pure-Go modernc.org/sqlite driver (no cgo).
//
// The database runs in WAL mode. Writes go through a pool of exactly one
// connection whose transactions begin IMMEDIATE, so concurrent writers queue
// in Go instead of failing with SQLITE_BUSY, and a read never upgrades to a
// write lock half-way; reads use a separate pool of read-only connections
// that WAL lets run beside the writer. Opening a database whose schema is
// current only reads it.
//
// No write holds SQLite's write lock for long, so that other processes on
// the same file (a CLI beside `lapps serve`) wait for it briefly and never
// for busyTimeout: large updates and their pruning are written in batches
// of short transactions, hidden from readers until published (updates.go).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	// The pure-Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/lapps/lapps/store"
)

// busyTimeout is how long a connection waits for a lock held by another
// process before giving up with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Store is a store.Store on a SQLite database. It is safe for concurrent use.
type Store struct {
	path string
	// w is the write pool: one connection, transactions BEGIN IMMEDIATE.
	w *sql.DB
	// r is the read pool: read-only connections.
	r *sql.DB
	// records caches decoded records for Records, indexes decoded image
	// indexes for Manifest.
	records *store.RecordCache
	indexes *store.IndexCache

	// stmts are the read pool's prepared statements (readStmt), by
	// query.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	// txRecords, txBytes and txLinks bound the work of one write
	// transaction of PutUpdate and of the deletion of an operation (see
	// updates.go); tests lower them.
	txRecords, txBytes, txLinks int
	// midway, when set, is called once by PutUpdate after a batch of
	// records, before the operation is published: for tests.
	midway atomic.Pointer[func()]

	// ckptMu guards batched, the number of batched operations running,
	// during which the write connection does not checkpoint (checkpoint.go).
	ckptMu  sync.Mutex
	batched int
}

var _ store.Store = (*Store)(nil)

// DefaultPath returns where the embedded database lives by default:
// $XDG_DATA_HOME/lapps/lapps.db, or ~/.local/share/lapps/lapps.db when
// XDG_DATA_HOME is unset or not absolute (as the XDG specification says).
func DefaultPath() (string, error) {
	if dir := os.Getenv("XDG_DATA_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "lapps", "lapps.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("default database path: %w", err)
	}
	return filepath.Join(home, ".local", "share", "lapps", "lapps.db"), nil
}

// Open opens the database at path, creating it and its parent directory
// (mode 0700) when missing, and brings its schema up to date. It fails
// when the database was written by a newer lapps whose schema this one
// does not know.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("open database %s: is a directory", path)
	}

	w, err := openPool(ctx, abs, false)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}

	r, err := openPool(ctx, abs, true)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &Store{path: abs, w: w, r: r, records: store.NewRecordCache(50000), indexes: store.NewIndexCache(256),
		txRecords: txRecords, txBytes: txBytes, txLinks: txLinks}, nil
}

// openPool opens a connection pool on the database file and checks that a
// connection can be made.
func openPool(ctx context.Context, abs string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Statement journals and temporary indexes in memory: a multi-row
	// INSERT otherwise writes its statement journal to a temporary file.
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// A page cache of 16 MiB for the one writer (the default is 2
		// MiB): an update writes batches of at most txBytes a
		// transaction, which fit it. 64 MiB, what it was, made an import
		// of the Ubuntu tracker peak at 190 MiB of resident memory
		// rather than 90 (issue 17).
		q.Add("_pragma", "cache_size(-16384)")
		// After a checkpoint, truncate a WAL that a large update grew.
		q.Add("_pragma", "journal_size_limit(67108864)")
		q.Set("_txlock", "immediate")
	}
	// A file: URI with the path escaped, so that a path holding '?' or '#'
	// cannot be taken for the parameters.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	var errs []error
	for _, q := range s.stmts {
		errs = append(errs, q.Close())
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	return errors.Join(append(errs, s.r.Close(), s.w.Close())...)
}

// write runs fn in a write transaction, committing when it returns nil and
// rolling back otherwise.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// timeLayout is the fixed-width form in which times are stored, so that
// they compare correctly as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime formats t for storage, in UTC.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime parses a stored time.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// now is the current time at the precision stored engines keep
// (microseconds, as PostgreSQL's timestamps).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
