// Package postgres is lapps' shared store: store.Store on PostgreSQL,
// through github.com/jackc/pgx/v5 and its connection pool, so that several
// `lapps serve` replicas can work on one database.
//
// It keeps the semantics of the embedded SQLite engine (store/sqlite) to
// the letter; both pass the conformance suite in store/storetest. Where
// SQLite serialises every write through one connection, this engine takes
// PostgreSQL advisory locks where order matters: per image when numbering
// scans, per source when storing or pruning update operations, and once
// per database when migrating its schema (see locks.go).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lapps/lapps/store"
)

// Store is a store.Store on a PostgreSQL database. It is safe for
// concurrent use, and several processes may use one database at once.
type Store struct {
	pool *pgxpool.Pool
	// where names the database for errors and logs, without credentials.
	where string
	// records caches decoded records for Records, indexes decoded image
	// indexes for Manifest.
	records *store.RecordCache
	indexes *store.IndexCache

	// midway, when set, is called once by PutUpdate after its records are
	// written, before its transaction commits: for tests.
	midway atomic.Pointer[func()]
}

var _ store.Store = (*Store)(nil)

// IsDSN reports whether s is a PostgreSQL connection URL
// (postgres://… or postgresql://…), which Open accepts, as opposed to the
// path of an SQLite database.
func IsDSN(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// connectTimeout bounds the connection attempt of Open when the DSN does
// not set connect_timeout, so that an unreachable server is an error, not a
// hang.
const connectTimeout = 15 * time.Second

// Open connects to the PostgreSQL database of dsn, a connection URL such as
// postgres://user:password@host:5432/lapps?sslmode=verify-full (libpq's
// parameters apply, as do the PG* environment variables for what the URL
// leaves out; search_path=SCHEMA puts lapps' tables in that schema), and
// brings its schema up to date under a database-wide lock, so that
// replicas starting at once migrate once. It fails when the database was
// written by a newer lapps whose schema this one does not know.
func Open(ctx context.Context, dsn string) (*Store, error) {
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL database: %w", err)
	}
	return open(ctx, dsn, ms)
}

// open is Open with the migrations ms.
func open(ctx context.Context, dsn string, ms []store.Migration) (*Store, error) {
	if !IsDSN(dsn) {
		return nil, errors.New("open PostgreSQL database: the connection string is not a postgres:// or postgresql:// URL")
	}
	where := redact(dsn)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message leaves the password out.
		return nil, fmt.Errorf("open PostgreSQL database %s: %w", where, err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	// A connection idle behind a load balancer or a firewall for long is
	// often cut silently; recycle them well before.
	cfg.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL database %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open PostgreSQL database %s: %w", where, err)
	}
	if err := applyMigrations(ctx, pool, ms); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open PostgreSQL database %s: %w", where, err)
	}
	return &Store{pool: pool, where: where, records: store.NewRecordCache(50000), indexes: store.NewIndexCache(256)}, nil
}

// redact returns dsn without its password and parameters, for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// Close closes the connection pool, waiting for connections in use to be
// returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// String names the database, without credentials.
func (s *Store) String() string { return s.where }

// write runs fn in a read-committed transaction, committing when it
// returns nil and rolling back otherwise.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// now is the current time at the precision PostgreSQL keeps
// (microseconds), as the SQLite engine's.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// txt makes s storable as PostgreSQL text, which holds neither NUL nor
// invalid UTF-8 (SQLite's text holds both): those bytes become U+FFFD, as
// encoding/json turns invalid UTF-8 in the stored documents. Values are
// passed through txt both when stored and when looked up, so lookups agree
// with SQLite's except among such malformed names, which a lookup then
// takes for one another.
func txt(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// txts applies txt to each of ss, in a new slice when one changes.
func txts(ss []string) []string {
	var out []string
	for i, s := range ss {
		if t := txt(s); t != s {
			if out == nil {
				out = slices.Clone(ss)
			}
			out[i] = t
		}
	}
	if out == nil {
		return ss
	}
	return out
}

// collect reads and closes rows of one column; no rows is a nil slice, as
// the SQLite engine returns.
func collect[T any](rows pgx.Rows) ([]T, error) {
	out, err := pgx.CollectRows(rows, pgx.RowTo[T])
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

// nilIfEmpty returns nil for an empty b: SQLite reads an empty blob back
// as nil, and the engines answer alike.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
