package api

import "time"

// ScanBody is the body of POST /v1/scans.
type ScanBody struct {
	Image    string `json:"image"`
	Platform string `json:"platform,omitempty"`
	// Insecure is refused (400): the server's configuration decides per
	// registry (registries: HOST: insecure: true), never a caller. It is
	// kept to say so clearly.
	Insecure bool `json:"insecure,omitempty"`
}

// UpdateBody is the body of POST /v1/sources/update.
type UpdateBody struct {
	Sources []string `json:"sources,omitempty"`
}

// AppBody is the body of POST /v1/apps.
type AppBody struct {
	Name   string   `json:"name"`
	Images []string `json:"images,omitempty"`
}

// DeployBody is the body of POST /v1/apps/{app}/deployments.
type DeployBody struct {
	Env      string   `json:"env,omitempty"`
	Images   []string `json:"images,omitempty"`
	Platform string   `json:"platform,omitempty"`
	// InsecureRegistries is refused (400): the server's configuration
	// decides per registry. It is kept to say so clearly.
	InsecureRegistries []string `json:"insecure_registries,omitempty"`
}

// AppScanBody is the body of POST /v1/apps/{app}/scans.
type AppScanBody struct {
	Platform string `json:"platform,omitempty"`
	// InsecureRegistries is refused (400), as DeployBody's.
	InsecureRegistries []string `json:"insecure_registries,omitempty"`
}

// TokenBody is the body of POST /v1/tokens.
type TokenBody struct {
	Name string `json:"name"`
	// Scopes default to read.
	Scopes []string `json:"scopes,omitempty"`
}

// TokenInfo is a token as the API shows it: never its secret.
type TokenInfo struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// CreatedToken is the answer of POST /v1/tokens: the token and its
// secret, shown this once.
type CreatedToken struct {
	TokenInfo
	Secret string `json:"secret"`
}
