package image

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// parsePlatform parses "os/arch[/variant]".
func parsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return v1.Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/amd64", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// normVariant treats the default variants as absent: arm64 is v8 unless
// stated otherwise, and amd64's v1 is plain amd64.
func normVariant(p v1.Platform) string {
	switch {
	case p.Architecture == "arm64" && p.Variant == "v8", p.Architecture == "amd64" && p.Variant == "v1":
		return ""
	}
	return p.Variant
}

// platformString renders a platform as os/arch[/variant].
func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if v := normVariant(p); v != "" {
		s += "/" + v
	}
	return s
}

// matches reports whether the platform have satisfies want; a want without
// a variant accepts any variant.
func matches(have, want v1.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	wv := normVariant(want)
	return wv == "" || wv == normVariant(have)
}

// isImageDescriptor tells image manifests from attestations and other
// artifacts an index may hold (BuildKit's "unknown/unknown").
func isImageDescriptor(d v1.Descriptor) bool {
	if !d.MediaType.IsImage() && !d.MediaType.IsIndex() {
		return false
	}
	if d.Platform != nil && (d.Platform.OS == "unknown" || d.Platform.Architecture == "unknown") {
		return false
	}
	if d.Annotations["vnd.docker.reference.type"] != "" {
		return false
	}
	return true
}

// choosePlatform picks the manifest for o's platform out of an index's
// manifests. With the default platform and a single platform present, it
// takes that one.
func choosePlatform(image string, manifests []v1.Descriptor, o *options) (v1.Descriptor, error) {
	want, err := parsePlatform(o.platform)
	if err != nil {
		return v1.Descriptor{}, err
	}
	var candidates []v1.Descriptor
	var available []string
	for _, d := range manifests {
		if !isImageDescriptor(d) {
			continue
		}
		candidates = append(candidates, d)
		if d.Platform != nil {
			if matches(*d.Platform, want) {
				return d, nil
			}
			available = append(available, platformString(*d.Platform))
		} else {
			available = append(available, "unknown")
		}
	}
	if len(candidates) == 1 && !o.platformExplicit {
		return candidates[0], nil
	}
	slices.Sort(available)
	available = slices.Compact(available)
	return v1.Descriptor{}, &PlatformError{Image: image, Want: platformString(want), Available: available}
}

// checkConfigPlatform checks the configuration of an image that was not
// chosen from an index (a plain manifest, a docker-archive image) against
// an explicitly requested platform: an image of another platform is a
// *PlatformError, as a multi-platform image lacking it is. A
// configuration that names no OS or architecture is taken as it is; a
// requested variant is checked only where the configuration states one.
func checkConfigPlatform(image string, cfg *v1.ConfigFile, o *options) error {
	if !o.platformExplicit || cfg.OS == "" || cfg.Architecture == "" {
		return nil
	}
	want, err := parsePlatform(o.platform)
	if err != nil {
		return err
	}
	have := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	if have.Variant == "" {
		want.Variant = ""
	}
	if matches(have, want) {
		return nil
	}
	want, _ = parsePlatform(o.platform)
	return &PlatformError{Image: image, Want: platformString(want), Available: []string{platformString(have)}}
}
