package osrelease

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"

	"github.com/lapps/lapps/vuln"
)

// ContentManifestDir holds the content manifests of Red Hat images (UBI
// and RHEL-based images built by Red Hat's pipeline): one JSON file per
// image layer, whose content_sets name the repositories the layer's
// packages came from ("rhel-9-for-x86_64-baseos-rpms").
const ContentManifestDir = "root/buildinfo/content_manifests"

// MaxContentManifestSize bounds a content manifest (real ones list the
// layer's packages in image_contents: tens of kilobytes).
const MaxContentManifestSize = 4 << 20

func isContentManifest(p string) bool {
	dir, file := path.Split(p)
	return dir == ContentManifestDir+"/" && strings.HasSuffix(file, ".json") && len(file) > len(".json")
}

// rhelRepoRE finds the RHEL major release in a content set name:
// rhel-9-for-x86_64-baseos-rpms, rhel-8-for-aarch64-appstream-eus-rpms,
// rhel-7-server-rpms, ubi-9-baseos-rpms (older UBI images).
var rhelRepoRE = regexp.MustCompile(`^(?:rhel|ubi)-(\d+)-`)

// parseContentManifest reads a content manifest: a RHEL distribution of
// the release its content sets name (the largest, when they disagree),
// or nil when they name none. A manifest named ubi* (ubi9-minimal-
// container-9.4-1194.json) is a Universal Base Image: its PrettyName says
// so where os-release, which wins, gives none.
func parseContentManifest(p string, r io.Reader) (*vuln.Distribution, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxContentManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxContentManifestSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxContentManifestSize)
	}
	var m struct {
		ContentSets []string `json:"content_sets"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("content manifest: %w", err)
	}
	major := 0
	for _, cs := range m.ContentSets {
		if g := rhelRepoRE.FindStringSubmatch(cs); g != nil {
			var n int
			if _, err := fmt.Sscan(g[1], &n); err == nil && n > major && n < 1000 {
				major = n
			}
		}
	}
	if major == 0 {
		return nil, nil
	}
	d := &vuln.Distribution{ID: "rhel", VersionID: fmt.Sprint(major), Name: "Red Hat Enterprise Linux"}
	if strings.HasPrefix(path.Base(p), "ubi") {
		d.PrettyName = fmt.Sprintf("Red Hat Universal Base Image %d", major)
	}
	return d, nil
}
