package indexer

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/lapps/lapps/vuln"
)

// folded is the state of one path while layers are folded.
type folded struct {
	entry Entry
	// since maps a package's Key to the digest of the layer that
	// introduced it.
	since map[string]string
}

// Fold folds layer indexes, base layer first, into the index of an image:
// for each path the entry of the last layer that wrote it, unless a later
// layer deleted it with a whiteout or hid it behind an opaque directory. A
// package keeps the layer that introduced it: when a later layer rewrites a
// database, packages that were already there keep their earlier layer.
// layers and idxs are parallel slices.
func Fold(manifestDigest string, layers []LayerInfo, idxs []*LayerIndex) (*ImageIndex, error) {
	if len(layers) != len(idxs) {
		return nil, fmt.Errorf("fold %s: %d layers but %d layer indexes", manifestDigest, len(layers), len(idxs))
	}
	state := map[string]*folded{}
	out := &ImageIndex{ManifestDigest: manifestDigest, IndexerVersion: Version, Layers: layers}
	for i, li := range idxs {
		layer := layers[i].Digest
		for _, dir := range li.Opaque {
			removeUnder(state, dir, false)
		}
		for _, p := range li.Whiteouts {
			removeUnder(state, p, true)
		}
		for _, e := range li.Entries {
			key := e.Cataloger + "\x00" + e.Path
			prev := state[key]
			f := &folded{entry: e, since: make(map[string]string, len(e.Packages))}
			for _, p := range e.Packages {
				k := p.Key()
				if prev != nil && prev.since[k] != "" {
					f.since[k] = prev.since[k]
				} else {
					f.since[k] = layer
				}
			}
			state[key] = f
		}
		for _, w := range li.Warnings {
			out.Warnings = append(out.Warnings, fmt.Sprintf("layer %s: %s", layer, w))
		}
	}

	keys := make([]string, 0, len(state))
	for k := range state {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var releases []Entry
	seen := map[string]bool{}
	for _, k := range keys {
		f := state[k]
		if f.entry.Distribution != nil {
			releases = append(releases, f.entry)
		}
		if f.entry.OwnedBy != "" {
			for _, p := range f.entry.Packages {
				p.Layer = f.since[p.Key()]
				p.OwnedBy = f.entry.OwnedBy
				out.OSOwned = append(out.OSOwned, p)
			}
			continue
		}
		if supersededLock(f.entry, state) {
			continue
		}
		for _, p := range f.entry.Packages {
			pk := p.Key()
			if seen[pk] {
				continue
			}
			seen[pk] = true
			p.Layer = f.since[pk]
			out.Packages = append(out.Packages, p)
		}
	}
	out.Distribution = mergeReleases(releases)
	for i := range out.Packages {
		out.Packages[i].PURL = vuln.PURL(out.Packages[i], out.Distribution)
	}
	for i := range out.OSOwned {
		out.OSOwned[i].PURL = vuln.PURL(out.OSOwned[i], out.Distribution)
	}
	sort.SliceStable(out.Packages, func(a, b int) bool {
		pa, pb := out.Packages[a], out.Packages[b]
		if pa.Kind != pb.Kind {
			return pa.Kind < pb.Kind
		}
		if pa.Name != pb.Name {
			return pa.Name < pb.Name
		}
		if pa.Version != pb.Version {
			return pa.Version < pb.Version
		}
		return pa.DBPath < pb.DBPath
	})
	return out, nil
}

// lockFiles are the npm lock files, whose packages count only where no
// installed node_modules tree sits beside them.
var lockFiles = map[string]bool{"package-lock.json": true, "npm-shrinkwrap.json": true, "yarn.lock": true, "pnpm-lock.yaml": true}

// supersededLock reports whether e is a lock file of the npm cataloger
// with an installed node_modules tree beside it in the final file system:
// the packages installed there are what runs, and are reported instead.
func supersededLock(e Entry, state map[string]*folded) bool {
	if e.Cataloger != "npm" || !lockFiles[path.Base(e.Path)] {
		return false
	}
	prefix := "node_modules/"
	if dir := path.Dir(e.Path); dir != "." {
		prefix = dir + "/" + prefix
	}
	for _, f := range state {
		if f.entry.Cataloger == "npm" && strings.HasPrefix(f.entry.Path, prefix) {
			return true
		}
	}
	return false
}

// removeUnder deletes the state of the paths under dir, and dir itself
// when self is set.
func removeUnder(state map[string]*folded, dir string, self bool) {
	prefix := dir + "/"
	for k, f := range state {
		p := f.entry.Path
		if (self && p == dir) || strings.HasPrefix(p, prefix) || dir == "" {
			delete(state, k)
		}
	}
}

// releaseRank orders release files: os-release first, vendor files after.
func releaseRank(p string) int {
	switch p {
	case "etc/os-release":
		return 0
	case "usr/lib/os-release":
		return 1
	}
	return 2
}

// mergeReleases combines the release files of the final file system:
// etc/os-release wins over usr/lib/os-release, which wins over the vendor
// files (alpine-release, debian_version, redhat-release…). Vendor files
// fill what os-release leaves empty, and give the precise Version
// ("12.8", "3.20.3") where os-release has only the major one.
func mergeReleases(entries []Entry) *vuln.Distribution {
	if len(entries) == 0 {
		return nil
	}
	sort.SliceStable(entries, func(i, j int) bool {
		ri, rj := releaseRank(entries[i].Path), releaseRank(entries[j].Path)
		if ri != rj {
			return ri < rj
		}
		return entries[i].Path < entries[j].Path
	})
	d := *entries[0].Distribution
	if d.Version == "" {
		d.Version = d.VersionID
	}
	for _, e := range entries[1:] {
		v := e.Distribution
		if v.ID != "" && d.ID != "" && !strings.EqualFold(v.ID, d.ID) {
			continue // a vendor file of another distribution (e.g. lsb-release of a derivative)
		}
		if releaseRank(e.Path) == 2 && morePrecise(v.Version, firstNonEmpty(d.Version, d.VersionID)) {
			d.Version = v.Version
		}
		fill(&d.ID, v.ID)
		fill(&d.VersionID, v.VersionID)
		fill(&d.VersionCodename, v.VersionCodename)
		fill(&d.PrettyName, v.PrettyName)
		fill(&d.Name, v.Name)
		fill(&d.IDLike, v.IDLike)
		fill(&d.Version, v.Version)
		fill(&d.CPE, v.CPE)
	}
	if d.Version == "" {
		d.Version = d.VersionID
	}
	return &d
}

// morePrecise reports whether version v refines base: "12.8" refines
// "12", "3.20.3" refines "3.20"; "22.04" does not refine "22.04.3".
func morePrecise(v, base string) bool {
	if v == "" {
		return false
	}
	if base == "" {
		return true
	}
	return strings.HasPrefix(v, base+".") || (strings.HasPrefix(v, base) && len(v) > len(base) && !strings.HasPrefix(base, v))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}
