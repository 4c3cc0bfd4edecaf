package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/store"
)

// TokenPrefix starts every lapps token, so that secret scanners can find
// leaked ones.
const TokenPrefix = "lapps_"

// Token scopes: what a token may do. Every GET needs read, which any
// scope implies; admin implies every scope.
const (
	// ScopeRead reads scans, reports, jobs, sources and apps.
	ScopeRead = "read"
	// ScopeScan queues scans: POST /v1/scans, registry events, app
	// scans, and admission reviews sent with a lapps token.
	ScopeScan = "scan"
	// ScopeDeploy creates and imports apps and decides deployments.
	ScopeDeploy = "deploy"
	// ScopeAdmin updates and imports vulnerability data, manages tokens
	// and removes apps.
	ScopeAdmin = "admin"
)

// Scopes are the token scopes, weakest first.
var Scopes = []string{ScopeRead, ScopeScan, ScopeDeploy, ScopeAdmin}

// ParseScopes reads a comma-separated list of scopes ("read,scan"),
// refusing unknown and empty ones; repeats are dropped.
func ParseScopes(s string) ([]string, error) {
	var out []string
	for _, sc := range strings.Split(s, ",") {
		sc = strings.TrimSpace(sc)
		if !slices.Contains(Scopes, sc) {
			return nil, fmt.Errorf("token scope %q: want one of %s", sc, strings.Join(Scopes, ", "))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// allows reports whether a token with scopes may use a route that needs
// scope: admin may do everything, any scope may read.
func allows(scopes []string, scope string) bool {
	if scope == "" || slices.Contains(scopes, ScopeAdmin) || slices.Contains(scopes, scope) {
		return true
	}
	return scope == ScopeRead && len(scopes) > 0
}

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
func (s StoreTokens) CheckToken(ctx context.Context, secret string) ([]string, bool, error) {
	t, err := s.Store.TokenByHash(ctx, HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !t.RevokedAt.IsZero() {
		return nil, false, nil
	}
	// Last use is informative: a failure to record it does not refuse.
	if time.Since(t.LastUsed) > time.Minute {
		_ = s.Store.TouchToken(ctx, t.ID, time.Now().UTC())
	}
	return t.Scopes, true, nil
}

// WithTokenAdmin serves token management over the API (GET and POST
// /v1/tokens, DELETE /v1/tokens/{id}; admin scope) on st; without it
// those routes answer 404.
func WithTokenAdmin(st store.Tokens) Option { return func(s *Server) { s.tokenAdmin = st } }

func tokenInfo(t *store.Token) api.TokenInfo {
	return api.TokenInfo{ID: t.ID, Name: t.Name, Scopes: t.Scopes, CreatedAt: t.CreatedAt, LastUsed: t.LastUsed, RevokedAt: t.RevokedAt}
}

// CheckTokenName validates the name of a new token: what `lapps token
// list` shows.
func CheckTokenName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 200 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return errors.New("token name: want a non-empty name of at most 200 bytes without control characters")
	}
	return nil
}

func (s *Server) tokenStore(w http.ResponseWriter) store.Tokens {
	if s.tokenAdmin == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "token management is not enabled on this server")
	}
	return s.tokenAdmin
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	st := s.tokenStore(w)
	if st == nil {
		return
	}
	ts, err := st.ListTokens(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	out := make([]api.TokenInfo, 0, len(ts))
	for i := range ts {
		out = append(out, tokenInfo(&ts[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	st := s.tokenStore(w)
	if st == nil {
		return
	}
	var body api.TokenBody
	if err := decode(r, &body); err != nil {
		writeErr(w, err)
		return
	}
	if err := CheckTokenName(body.Name); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	scopes := []string{ScopeRead}
	if len(body.Scopes) > 0 {
		scopes = nil
		for _, sc := range body.Scopes {
			if !slices.Contains(Scopes, sc) {
				writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("token scope %q: want one of %s", sc, strings.Join(Scopes, ", ")))
				return
			}
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	secret, hash, err := NewTokenSecret()
	if err != nil {
		writeErr(w, err)
		return
	}
	t, err := st.CreateToken(r.Context(), body.Name, hash, scopes)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.log.Info("token created", "id", t.ID, "name", t.Name, "scopes", strings.Join(t.Scopes, ","))
	writeJSON(w, http.StatusCreated, api.CreatedToken{TokenInfo: tokenInfo(t), Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	st := s.tokenStore(w)
	if st == nil {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the token id must be a number from GET /v1/tokens")
		return
	}
	if err := st.RevokeToken(r.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no token %d", id))
			return
		}
		writeErr(w, err)
		return
	}
	s.log.Info("token revoked", "id", id)
	w.WriteHeader(http.StatusNoContent)
}
