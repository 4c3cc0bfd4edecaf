package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/lapps/lapps/store"
)

// TokenPrefix starts every lapps token, so that secret scanners can find
// leaked ones.
const TokenPrefix = "lapps_"

// NewTokenSecret returns a new random token and the hash it is stored
// under.
func NewTokenSecret() (secret string, hash []byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashToken(secret), nil
}

// HashToken is the hash a token is stored and looked up under: tokens are
// never stored in the clear.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// StoreTokens checks bearer tokens against the tokens in a store.
type StoreTokens struct {
	Store interface {
		TokenByHash(ctx context.Context, hash []byte) (*store.Token, error)
		TouchToken(ctx context.Context, id int64, at time.Time) error
	}
}

// CheckToken implements TokenChecker.
func (s StoreTokens) CheckToken(ctx context.Context, secret string) (bool, error) {
	t, err := s.Store.TokenByHash(ctx, HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !t.RevokedAt.IsZero() {
		return false, nil
	}
	// Last use is informative: a failure to record it does not refuse.
	if time.Since(t.LastUsed) > time.Minute {
		_ = s.Store.TouchToken(ctx, t.ID, time.Now().UTC())
	}
	return true, nil
}
