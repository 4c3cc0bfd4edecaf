package image

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/redact"
)

// openRegistry opens an image from a registry with go-containerregistry.
// Retries are ours (retryTransport, which honours Retry-After); the
// library's own are switched off so that they do not multiply.
//
// What the registry sends is bounded before it is parsed: every response
// but a layer blob's is read through Limits.MetadataBytes
// (metadataTransport), nothing is decompressed on the way (responses are
// asked for and read as identity-encoded: a gzip Content-Encoding is
// never undone, so a 1 GiB configuration cannot arrive as 1 MB), and the
// configuration blob is fetched here, refused before it is fetched when
// the manifest gives it more bytes than the bound, and verified against
// its digest.
func openRegistry(ctx context.Context, ref string, o *options) (Image, error) {
	var nameOpts []name.Option
	if o.insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalidReference, ref, err)
	}
	imgName := r.Name()

	base := o.transport
	if base == nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		t.DisableCompression = true
		if o.guard != nil {
			t.DialContext = o.guard.dialContext(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
			t.Proxy = o.guard.proxy(t.Proxy)
		}
		if o.insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for it
		}
		base = t
	}
	puller, err := remote.NewPuller(
		remote.WithTransport(&metadataTransport{inner: newRetryTransport(base, o.retry), limits: o.limits}),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryStatusCodes(),
		remote.WithAuthFromKeychain(keychain(o.creds)),
		remote.WithUserAgent("lapps"),
		remote.WithContext(ctx),
	)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", imgName, err)
	}
	desc, err := puller.Get(ctx, r)
	if err != nil {
		return nil, registryError(imgName, err)
	}
	fromIndex := false
	if desc.MediaType.IsIndex() {
		im, err := parseIndex(desc.Manifest)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: image index: %w", ErrCorrupt, imgName, err)
		}
		chosen, err := choosePlatform(imgName, im.Manifests, o)
		if err != nil {
			return nil, err
		}
		if chosen.MediaType.IsIndex() {
			return nil, fmt.Errorf("%s: nested image indexes are not supported", imgName)
		}
		if desc, err = puller.Get(ctx, r.Context().Digest(chosen.Digest.String())); err != nil {
			return nil, registryError(imgName, err)
		}
		fromIndex = true
	}
	switch desc.MediaType {
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		return nil, fmt.Errorf("%s: Docker schema 1 manifests are not supported (deprecated since 2017; re-push the image)", imgName)
	}
	if !desc.MediaType.IsImage() {
		mt := string(desc.MediaType)
		if len(mt) > 100 {
			mt = mt[:100] + "…"
		}
		return nil, fmt.Errorf("%s: %q is not a container image manifest", imgName, redact.Text(mt))
	}
	m, err := parseManifest(desc.Manifest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: manifest %s: %w", ErrCorrupt, imgName, desc.Digest, err)
	}
	if err := o.limits.checkLayers(imgName, len(m.Layers)); err != nil {
		return nil, err
	}
	repo := r.Context()
	cb, err := fetchConfig(ctx, puller, repo, m, imgName, o.limits)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(cb)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: image configuration %s: %w", ErrCorrupt, imgName, m.Config.Digest, err)
	}
	if !fromIndex {
		if err := checkConfigPlatform(imgName, cfg, o); err != nil {
			return nil, err
		}
	}
	out := newOpenedImage(imgName, o)
	out.manifestDigest = desc.Digest.String()
	out.layers, err = imageLayers(imgName, m, cfg, o, out, func(d v1.Descriptor) blobOpener {
		return func(ctx context.Context) (io.ReadCloser, error) {
			ctx = context.WithValue(ctx, selfBoundedKey{}, true)
			l, err := puller.Layer(ctx, repo.Digest(d.Digest.String()))
			if err != nil {
				return nil, registryError(imgName, err)
			}
			rc, err := l.Compressed()
			if err != nil {
				return nil, registryError(imgName, err)
			}
			return rc, nil
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// fetchConfig returns the image configuration the manifest names: its
// embedded data, or the blob, read through Limits.MetadataBytes and
// verified against its digest. A configuration the manifest gives more
// bytes than the bound is refused without being fetched.
func fetchConfig(ctx context.Context, puller *remote.Puller, repo name.Repository, m *v1.Manifest, imgName string, l Limits) ([]byte, error) {
	what := imgName + " image configuration"
	if m.Config.Size > l.MetadataBytes {
		return nil, l.metadataError(what + " " + m.Config.Digest.String())
	}
	if m.Config.Data != nil {
		b, err := readVerified(bytes.NewReader(m.Config.Data), m.Config.Digest, what, l)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	// Bounded here, by readVerified, whose error names the configuration.
	ctx = context.WithValue(ctx, selfBoundedKey{}, true)
	blob, err := puller.Layer(ctx, repo.Digest(m.Config.Digest.String()))
	if err != nil {
		return nil, registryError(imgName, err)
	}
	rc, err := blob.Compressed()
	if err != nil {
		return nil, registryError(imgName, err)
	}
	defer rc.Close()
	b, err := readVerified(rc, m.Config.Digest, what, l)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, limits.ErrExceeded), errors.Is(err, ErrCorrupt):
		return nil, err
	case strings.Contains(err.Error(), "error verifying"):
		// go-containerregistry's own digest check (internal/verify), which
		// has no error type.
		return nil, fmt.Errorf("%w: %s: the registry served another blob than the digest the manifest gives: %s", ErrCorrupt, what, safeMessage(err))
	}
	return nil, registryError(imgName, err)
}

// selfBoundedKey marks the context of a blob request whose response the
// caller bounds itself: a layer's by the layer limits as it is
// decompressed, the configuration's by MetadataBytes as it is read.
type selfBoundedKey struct{}

// metadataTransport asks for and reads every response identity-encoded
// (an explicit Accept-Encoding keeps net/http, whatever the transport
// beneath, from undoing a gzip Content-Encoding behind the caller's back),
// and bounds the body of every response but a layer blob's (manifests,
// indexes, configurations, the registry's ping and token answers, error
// bodies) to Limits.MetadataBytes.
type metadataTransport struct {
	inner  http.RoundTripper
	limits Limits
}

// RoundTrip implements http.RoundTripper.
func (t *metadataTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := t.inner.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	if bounded, _ := req.Context().Value(selfBoundedKey{}).(bool); !bounded {
		what := "registry response to " + req.Method + " " + redact.URL(req.URL.String())
		resp.Body = &boundedBody{Reader: limits.Reader(resp.Body, t.limits.MetadataBytes, t.limits.metadataError(what)), Closer: resp.Body}
	}
	return resp, nil
}

// boundedBody is a response body read through a bound.
type boundedBody struct {
	io.Reader
	io.Closer
}

// keychain resolves credentials from lapps' configuration first, then from
// the Docker config and credential helpers.
func keychain(creds map[string]Credential) authn.Keychain {
	if len(creds) == 0 {
		return authn.DefaultKeychain
	}
	return authn.NewMultiKeychain(configKeychain(creds), authn.DefaultKeychain)
}

type configKeychain map[string]Credential

// Resolve implements authn.Keychain.
func (c configKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	host := r.RegistryStr()
	cred, ok := c[host]
	if !ok && host == name.DefaultRegistry {
		for _, alias := range []string{"docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"} {
			if cred, ok = c[alias]; ok {
				break
			}
		}
	}
	if !ok {
		for k, v := range c {
			if strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://"), "/") == host {
				cred, ok = v, true
				break
			}
		}
	}
	if !ok {
		return authn.Anonymous, nil
	}
	if cred.Token != "" {
		return authn.FromConfig(authn.AuthConfig{RegistryToken: cred.Token}), nil
	}
	if cred.Username == "" && cred.Password == "" {
		return nil, errors.New("credential for " + host + " has neither a user name nor a token")
	}
	return authn.FromConfig(authn.AuthConfig{Username: cred.Username, Password: cred.Password}), nil
}
