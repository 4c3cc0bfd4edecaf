package postgres

import (
	"context"
	"embed"
	"fmt"
	"github.com/lapps/lapps/store"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles are the schema migrations, numbered from 0001 without
// gaps: migrations/NNNN_what.sql. They run inside a transaction, so a
// statement PostgreSQL refuses there (CREATE INDEX CONCURRENTLY) cannot be
// one of them.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// SchemaVersion is the schema version this build of lapps writes: the
// number of its newest migration.
func SchemaVersion() int {
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		panic(err) // the embedded files are checked by the tests
	}
	return len(ms)
}

// applyMigrations applies the migrations the database lacks, all in one
// transaction under a database-wide advisory lock: replicas starting at
// once wait for the first, then find nothing left to do, and a failing
// migration leaves the schema as it was. A database whose schema is newer
// than ms is an error, and is not changed.
func applyMigrations(ctx context.Context, pool *pgxpool.Pool, ms []store.Migration) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("lock for migrations: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("database schema version %d is newer than this lapps knows (%d): upgrade lapps, or use another database", current, len(ms))
		}
		for _, m := range ms[current:] {
			// The simple protocol runs a file of several statements.
			if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, now()); err != nil {
				return fmt.Errorf("migration %s: record: %w", m.Name, err)
			}
		}
		return nil
	})
}
