package npm

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lapps/lapps/vuln"
)

// packageLock is the part of package-lock.json (and npm-shrinkwrap.json)
// that says what is installed. Version 1 (npm 5, 6) nests "dependencies";
// version 3 (npm 9+) has only the flat "packages" keyed by install path;
// version 2 has both, and "packages" is the precise one.
type packageLock struct {
	LockfileVersion int                    `json:"lockfileVersion"`
	Packages        map[string]lockPackage `json:"packages"`
	Dependencies    map[string]lockV1Entry `json:"dependencies"`
}

type lockPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Dev     bool   `json:"dev"`
	Link    bool   `json:"link"`
}

type lockV1Entry struct {
	Version      string                 `json:"version"`
	Dev          bool                   `json:"dev"`
	Dependencies map[string]lockV1Entry `json:"dependencies"`
}

// ParsePackageLock returns the packages a package-lock.json installs,
// without development dependencies ("dev": true, which a production
// install leaves out), workspace packages and links. Packages are named
// by what they are, not by an alias they are installed under.
func ParsePackageLock(b []byte) ([]vuln.Package, error) {
	var lock packageLock
	if err := json.Unmarshal(stripBOM(b), &lock); err != nil {
		return nil, fmt.Errorf("package-lock: %w", err)
	}
	var s set
	if lock.Packages != nil {
		for key, p := range lock.Packages {
			i := strings.LastIndex(key, "node_modules/")
			if i < 0 || p.Dev || p.Link {
				continue // the root project, a workspace's sources, a link to one
			}
			name := key[i+len("node_modules/"):]
			if p.Name != "" {
				name = p.Name // installed under an alias
			}
			s.add(name, p.Version)
		}
		return s.sorted(), nil
	}
	if lock.Dependencies == nil && lock.LockfileVersion == 0 {
		return nil, fmt.Errorf("package-lock: neither packages nor dependencies: not a lock file")
	}
	var walk func(map[string]lockV1Entry)
	walk = func(deps map[string]lockV1Entry) {
		for name, d := range deps {
			if d.Dev {
				continue
			}
			version := d.Version
			if real, ok := strings.CutPrefix(version, "npm:"); ok {
				// "alias": {"version": "npm:real-name@1.2.3"}
				if at := strings.LastIndex(real, "@"); at > 0 {
					name, version = real[:at], real[at+1:]
				}
			}
			if registryVersion(version) {
				s.add(name, version)
			}
			walk(d.Dependencies)
		}
	}
	walk(lock.Dependencies)
	return s.sorted(), nil
}
