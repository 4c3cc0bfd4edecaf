package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"github.com/lapps/lapps/store"
)

// migrationFiles are the schema migrations, numbered from 0001 without
// gaps: migrations/NNNN_what.sql.
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

// migrate brings the schema of the database up to date, one transaction
// per migration. It fails, changing nothing, when the database has a
// schema newer than this binary knows.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		return err
	}
	return applyMigrations(ctx, db, ms)
}

// tooNew is the error for a database whose schema is version current,
// newer than the known migrations.
func tooNew(current, known int) error {
	return fmt.Errorf("database schema version %d is newer than this lapps knows (%d): upgrade lapps, or use another database", current, known)
}

// schemaVersion reads the schema version of the database outside any
// write transaction: a read, which WAL lets run beside another process's
// writer. A database without schema_migrations (a new one) is version 0.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return current, nil
}

// applyMigrations applies the migrations of ms the database lacks. A
// database already current is only read: opening it takes no write lock,
// so that a command opening the database while another process writes
// (a long import) does not wait for that writer, nor fail with
// SQLITE_BUSY. Only when a migration is due does it write, each migration
// in its own (immediate) transaction that checks the version again.
func applyMigrations(ctx context.Context, db *sql.DB, ms []store.Migration) error {
	current, err := schemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if current > len(ms) {
		return tooNew(current, len(ms))
	}
	if current == len(ms) {
		return nil
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range ms[current:] {
		// Each migration checks the version again inside its own (immediate)
		// transaction, so that two processes opening a new database at once
		// do not both apply it.
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: begin: %w", m.Name, err)
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			tx.Rollback()
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > len(ms) {
			tx.Rollback()
			return tooNew(current, len(ms))
		}
		if current >= m.Version {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, formatTime(now())); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: record: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: commit: %w", m.Name, err)
		}
	}
	return nil
}
