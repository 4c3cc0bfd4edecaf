package client

import (
	"context"
	"net/http"
	"strconv"

	"github.com/lapps/lapps/api"
)

// CreateToken creates a token on the server (POST /v1/tokens; the
// client's token needs the admin scope) and returns it with its secret,
// which the server shows this once. No scopes means read.
func (c *Client) CreateToken(ctx context.Context, name string, scopes []string) (*api.CreatedToken, error) {
	var out api.CreatedToken
	if err := c.postJSON(ctx, "/v1/tokens", api.TokenBody{Name: name, Scopes: scopes}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListTokens lists the server's tokens, revoked ones included, never
// their secrets (GET /v1/tokens; admin scope).
func (c *Client) ListTokens(ctx context.Context) ([]api.TokenInfo, error) {
	var out []api.TokenInfo
	err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, nil, "", &out)
	return out, err
}

// RevokeToken revokes token id on the server (DELETE /v1/tokens/{id};
// admin scope); an unknown id matches service.ErrNotFound.
func (c *Client) RevokeToken(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+strconv.FormatInt(id, 10), nil, nil, "", nil)
}
