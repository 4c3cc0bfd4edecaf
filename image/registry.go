package image

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// openRegistry opens an image from a registry with go-containerregistry.
// Retries are ours (retryTransport, which honours Retry-After); the
// library's own are switched off so that they do not multiply.
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
		if o.guard != nil {
			t.DialContext = o.guard.dialContext(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
		}
		if o.insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for it
		}
		base = t
	}
	puller, err := remote.NewPuller(
		remote.WithTransport(newRetryTransport(base, o.retry)),
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
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, registryError(imgName, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, registryError(imgName, err)
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
	}
	switch desc.MediaType {
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		return nil, fmt.Errorf("%s: Docker schema 1 manifests are not supported (deprecated since 2017; re-push the image)", imgName)
	}
	if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("%s: %s is not a container image manifest", imgName, desc.MediaType)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, registryError(imgName, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, registryError(imgName, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, registryError(imgName, err)
	}
	out := &openedImage{name: imgName, manifestDigest: desc.Digest.String()}
	out.closed = new(atomic.Bool)
	repo := r.Context()
	out.layers, err = imageLayers(imgName, m, cfg, o, out.closed, func(d v1.Descriptor) blobOpener {
		return func(ctx context.Context) (io.ReadCloser, error) {
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
