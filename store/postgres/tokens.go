package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lapps/lapps/store"
)

// CreateToken stores a new token whose secret hashes to hash and returns
// it with its id and creation time.
func (s *Store) CreateToken(ctx context.Context, name string, hash []byte, scopes []string) (*store.Token, error) {
	tok, stored, err := store.NewToken(name, hash, scopes, now())
	if err != nil {
		return nil, err
	}
	// A hash already stored inserts no row and so takes no id: ids stay
	// consecutive, as the SQLite engine's. (Two callers racing with one
	// hash still meet the unique constraint, and one id is lost.)
	err = s.pool.QueryRow(ctx, `INSERT INTO tokens (name, hash, created_at, scopes)
		SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM tokens WHERE hash = $2) RETURNING id`,
		txt(name), hash, tok.CreatedAt, stored).Scan(&tok.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		err = errors.New("a token with this hash exists")
	}
	if err != nil {
		return nil, fmt.Errorf("create token %q: %w", name, err)
	}
	return tok, nil
}

const tokenCols = `SELECT id, name, created_at, last_used, revoked_at, scopes FROM tokens`

// TokenByHash returns the valid token whose secret hashes to hash;
// unknown and revoked tokens are store.ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*store.Token, error) {
	tok, err := scanToken(s.pool.QueryRow(ctx, tokenCols+` WHERE hash = $1 AND revoked_at IS NULL`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return tok, nil
}

// ListTokens returns every token, revoked ones included, by id.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, tokenCols+` ORDER BY id`)
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
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, now(), id)
	if err := affectedOne(tag, err); err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	return nil
}

// TouchToken records that token id was used at at; LastUsed only moves
// forward.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	// GREATEST ignores a NULL last_used.
	tag, err := s.pool.Exec(ctx, `UPDATE tokens SET last_used = GREATEST(last_used, $1) WHERE id = $2`, at, id)
	if err := affectedOne(tag, err); err != nil {
		return fmt.Errorf("touch token %d: %w", id, err)
	}
	return nil
}

// affectedOne turns the result of an UPDATE of one row by key into
// store.ErrNotFound when no row matched.
func affectedOne(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

func scanToken(row store.Row) (*store.Token, error) {
	var (
		tok               store.Token
		lastUsed, revoked *time.Time
		scopes            string
	)
	if err := row.Scan(&tok.ID, &tok.Name, &tok.CreatedAt, &lastUsed, &revoked, &scopes); err != nil {
		return nil, err
	}
	tok.Scopes = store.SplitTokenScopes(scopes)
	tok.CreatedAt = tok.CreatedAt.UTC()
	tok.LastUsed, tok.RevokedAt = utcOrZero(lastUsed), utcOrZero(revoked)
	return &tok, nil
}

// utcOrZero returns *t in UTC, or the zero time for NULL.
func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
