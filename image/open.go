package image

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Credential is a registry credential from lapps' configuration: a user
// name and password, or a bearer token (sent as is, as registries' personal
// access tokens are).
type Credential struct {
	Username string `yaml:"username" json:"username,omitempty"`
	Password string `yaml:"password" json:"password,omitempty"`
	Token    string `yaml:"token" json:"token,omitempty"`
}

// ProgressFunc is told, as the compressed bytes of a layer are read, how
// many have been read so far and the blob's size (-1 when unknown). Layers
// read in parallel call it from their own goroutines.
type ProgressFunc func(layerDigest string, read, total int64)

// Retry bounds the retries of registry requests.
type Retry struct {
	// Attempts is the most times one request is sent (1: no retry).
	Attempts int
	// Backoff is the first wait after a network error or a 5xx; it doubles
	// after each attempt.
	Backoff time.Duration
	// MaxWait caps one wait, including a Retry-After a registry asks for
	// (a longer Retry-After fails the request instead of hanging).
	MaxWait time.Duration
}

// DefaultRetry is used unless WithRetry says otherwise: 5 attempts, waits
// of 0.5, 1, 2, 4 s, Retry-After honoured up to a minute.
var DefaultRetry = Retry{Attempts: 5, Backoff: 500 * time.Millisecond, MaxWait: time.Minute}

type options struct {
	platform         string
	platformExplicit bool
	insecure         bool
	creds            map[string]Credential
	progress         ProgressFunc
	transport        http.RoundTripper
	retry            Retry
	// localRoots restricts local transports (WithLocalRoots); nil: none.
	localRoots []string
	// guard checks registry connections (WithRegistryAllow); nil: none.
	guard *netGuard
	// limits bound what Open and layer reads consume (WithLimits).
	limits Limits
}

// Option configures Open.
type Option func(*options)

// WithPlatform chooses the image of a multi-platform index:
// "os/arch[/variant]". The default is the host's (linux for a macOS host,
// whose containers run in a Linux VM); with the default, an index holding a
// single platform yields that one, while an explicitly requested platform
// that is missing is an error.
func WithPlatform(p string) Option {
	return func(o *options) {
		if p != "" {
			o.platform, o.platformExplicit = p, true
		}
	}
}

// WithInsecure allows plain HTTP and skips TLS verification for registries
// that are not on loopback (loopback registries use plain HTTP anyway).
func WithInsecure(insecure bool) Option { return func(o *options) { o.insecure = insecure } }

// WithCredentials gives credentials per registry host ("ghcr.io",
// "host:5000"; "docker.io" also matches Docker Hub's index.docker.io). They
// take precedence over ~/.docker/config.json and credential helpers, which
// are used otherwise.
func WithCredentials(c map[string]Credential) Option { return func(o *options) { o.creds = c } }

// WithProgress reports the progress of layer reads.
func WithProgress(f ProgressFunc) Option { return func(o *options) { o.progress = f } }

// WithTransport replaces the HTTP transport registry requests go through
// (retries and authentication are layered on top of it).
func WithTransport(t http.RoundTripper) Option { return func(o *options) { o.transport = t } }

// WithRetry bounds retries of registry requests (see DefaultRetry).
func WithRetry(r Retry) Option { return func(o *options) { o.retry = r } }

// defaultPlatform is the host's platform, with darwin mapped to linux:
// Docker Desktop and podman run Linux containers there.
func defaultPlatform() string {
	goos := runtime.GOOS
	if goos == "darwin" {
		goos = "linux"
	}
	return goos + "/" + runtime.GOARCH
}

// Transport prefixes, as skopeo spells them.
const (
	prefixDocker        = "docker://"
	prefixOCI           = "oci:"
	prefixOCIArchive    = "oci-archive:"
	prefixDockerArchive = "docker-archive:"
	prefixDir           = "dir:"
)

// Open opens the image ref: a registry reference ("debian:12",
// "docker.io/library/debian:12", "host:5000/repo@sha256:…", optionally
// prefixed "docker://"), or one of skopeo's transports: "oci:DIR[:TAG]",
// "oci-archive:FILE[:TAG]", "docker-archive:FILE[:REF|:@N]" and
// "dir:ROOTFS" for an unpacked root file system. It reads the manifest and
// the configuration, not the layers.
//
// A reference without a prefix that names an existing local file or
// directory is refused (ErrInvalidReference, naming the transport to
// use), unless WithLocalRoots is given: a server never looks at its own
// file system for a registry reference.
//
// Errors wrap ErrNotFound, ErrUnauthorized, ErrInvalidReference,
// ErrCorrupt or ErrForbidden where one applies, or are a *limits.Error
// when a bound of WithLimits is crossed.
func Open(ctx context.Context, ref string, opts ...Option) (Image, error) {
	o := options{platform: defaultPlatform(), retry: DefaultRetry, limits: DefaultLimits}
	for _, opt := range opts {
		opt(&o)
	}
	if o.retry.Attempts < 1 {
		o.retry.Attempts = 1
	}
	if _, err := parsePlatform(o.platform); err != nil {
		return nil, err
	}
	if strings.TrimSpace(ref) == "" {
		return nil, fmt.Errorf("%w: empty reference", ErrInvalidReference)
	}
	if IsSBOM(ref) {
		return nil, fmt.Errorf("%w: %s is an SBOM, not an image: it is scanned by the service (lapps sbom scan)", ErrInvalidReference, ref)
	}
	if t, rest, ok := localTransport(ref); ok {
		if err := CheckLocal(ref, o.localRoots); err != nil {
			return nil, err
		}
		lfs, err := newLocalFS(o.localRoots)
		if err != nil {
			return nil, err
		}
		defer lfs.close()
		switch t {
		case prefixOCIArchive:
			return openOCIArchive(ctx, rest, &o, lfs)
		case prefixOCI:
			return openOCIDir(ctx, rest, &o, lfs)
		case prefixDockerArchive:
			return openDockerArchive(ctx, rest, &o, lfs)
		}
		return openDir(ctx, rest, &o, lfs)
	}
	if rest, ok := strings.CutPrefix(ref, prefixDocker); ok {
		return openRegistry(ctx, rest, &o)
	}
	if o.localRoots == nil {
		if err := bareLocalPath(ref); err != nil {
			return nil, err
		}
	}
	return openRegistry(ctx, ref, &o)
}

// splitPath splits "PATH[:SUFFIX]" of a file transport. Paths may contain
// colons: the whole string is a path when it exists; otherwise the shortest
// existing prefix ending before a colon is the path (skopeo splits at the
// first colon). When nothing exists the split is at the first colon, so
// the error names the path the user most likely meant.
//
// "PATH@sha256:…" selects by digest: the suffix is then "@sha256:…".
func (l *localFS) splitPath(s string) (path, suffix string) {
	exists := func(p string) bool { _, err := l.stat(p); return err == nil }
	if exists(s) {
		return s, ""
	}
	if i := strings.LastIndex(s, "@sha256:"); i > 0 {
		p := strings.TrimSuffix(s[:i], ":")
		if exists(p) {
			return p, s[i:]
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		if exists(s[:i]) {
			return s[:i], s[i+1:]
		}
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// absPath makes a transport path absolute for Name and error messages.
func absPath(transport, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%w: %s needs a path", ErrInvalidReference, transport)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%w: %s%s: %w", ErrInvalidReference, transport, p, err)
	}
	return abs, nil
}

// statError turns a failed os.Open/Stat into ErrNotFound where it is one.
func statError(name string, err error) error {
	if os.IsNotExist(err) {
		return fmt.Errorf("%w: %s: %w", ErrNotFound, name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}
