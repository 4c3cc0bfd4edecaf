package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lapps/lapps/store"
)

// CreateToken stores a new token whose secret hashes to hash and returns
// it with its id and creation time.
func (s *Store) CreateToken(ctx context.Context, name string, hash []byte, scopes []string) (*store.Token, error) {
	tok, stored, err := store.NewToken(name, hash, scopes, now())
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO tokens (name, hash, created_at, scopes) VALUES (?, ?, ?, ?) RETURNING id`,
			name, hash, formatTime(tok.CreatedAt), stored).Scan(&tok.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("create token %q: %w", name, err)
	}
	return tok, nil
}

const tokenCols = `SELECT id, name, created_at, last_used, revoked_at, scopes FROM tokens`

// TokenByHash returns the valid token whose secret hashes to hash;
// unknown and revoked tokens are store.ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*store.Token, error) {
	tok, err := scanToken(s.r.QueryRowContext(ctx, tokenCols+` WHERE hash = ? AND revoked_at IS NULL`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return tok, nil
}

// ListTokens returns every token, revoked ones included, by id.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.r.QueryContext(ctx, tokenCols+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, scanToken)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes token id, keeping the first revocation time.
func (s *Store) RevokeToken(ctx context.Context, id int64) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, formatTime(now()), id)
		return affectedOne(res, err)
	})
	if err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	return nil
}

// TouchToken records that token id was used at at; LastUsed only moves
// forward.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	t := formatTime(at)
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used = CASE
			WHEN last_used IS NULL OR last_used < ? THEN ? ELSE last_used END WHERE id = ?`, t, t, id)
		return affectedOne(res, err)
	})
	if err != nil {
		return fmt.Errorf("touch token %d: %w", id, err)
	}
	return nil
}

// affectedOne turns the result of an UPDATE of one row by key into
// store.ErrNotFound when no row matched.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func scanToken(row store.Row) (*store.Token, error) {
	var (
		tok               store.Token
		created           string
		lastUsed, revoked sql.NullString
		scopes            string
	)
	if err := row.Scan(&tok.ID, &tok.Name, &created, &lastUsed, &revoked, &scopes); err != nil {
		return nil, err
	}
	tok.Scopes = store.SplitTokenScopes(scopes)
	var err error
	if tok.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if tok.LastUsed, err = parseNullTime(lastUsed); err != nil {
		return nil, err
	}
	if tok.RevokedAt, err = parseNullTime(revoked); err != nil {
		return nil, err
	}
	return &tok, nil
}

// parseNullTime parses a stored time that may be NULL (the zero time).
func parseNullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}
