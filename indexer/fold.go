package indexer

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// folded is the state of one path while layers are folded.
type folded struct {
	entry model.Entry
	// since maps a package's Key to the digest of the layer that
	// introduced it.
	since map[string]string
}

// Fold folds layer indexes, base layer first, into the index of an image:
// for each path the entry of the last layer that wrote it, unless a later
// layer deleted it with a whiteout or hid it behind an opaque directory. A
// package keeps the layer that introduced it: when a later layer rewrites a
// database, packages that were already there keep their earlier layer.
// layers and idxs are parallel slices. An image of more than
// DefaultLimits.Packages packages is a *limits.Error; (*Indexer).Fold
// applies the Indexer's limits instead.
func Fold(manifestDigest string, layers []model.LayerInfo, idxs []*model.LayerIndex) (*model.ImageIndex, error) {
	return fold(manifestDigest, layers, idxs, DefaultLimits)
}

// Fold is the package's Fold with the Indexer's limits: an image of more
// than Limits.Packages packages (reported and OS-owned) is a
// *limits.Error naming limits.packages.
func (ix *Indexer) Fold(manifestDigest string, layers []model.LayerInfo, idxs []*model.LayerIndex) (*model.ImageIndex, error) {
	return fold(manifestDigest, layers, idxs, ix.limits)
}

func fold(manifestDigest string, layers []model.LayerInfo, idxs []*model.LayerIndex, lim Limits) (*model.ImageIndex, error) {
	if len(layers) != len(idxs) {
		return nil, fmt.Errorf("fold %s: %d layers but %d layer indexes", manifestDigest, len(layers), len(idxs))
	}
	state := map[string]*folded{}
	out := &model.ImageIndex{ManifestDigest: manifestDigest, IndexerVersion: Version, Layers: layers}
	for i, li := range idxs {
		if li == nil {
			return nil, fmt.Errorf("fold %s: no index for layer %s", manifestDigest, layers[i].Digest)
		}
		layer := layers[i].Digest
		removeDeleted(state, li)
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
	installed := installedTrees(state)
	ownedLocks := map[string]bool{}
	for _, li := range idxs {
		for _, p := range li.OwnedLocks {
			ownedLocks[p] = true
		}
	}
	tooMany := func() error {
		return limits.New(fmt.Sprintf("packages of image %s", manifestDigest), lim.Packages, "packages", keyPackages)
	}
	var releases []model.Entry
	seen := map[string]bool{}
	for _, k := range keys {
		f := state[k]
		if f.entry.Distribution != nil {
			releases = append(releases, f.entry)
		}
		if IsLockFile(f.entry.Path) && (f.entry.OwnedBy != "" || ownedLocks[f.entry.Path]) {
			// A lock file an operating-system package shipped (a module's
			// own development lock in /usr/share/nodejs): nothing it lists
			// is installed.
			continue
		}
		if f.entry.OwnedBy != "" {
			for _, p := range f.entry.Packages {
				if int64(len(out.Packages)+len(out.OSOwned)) >= lim.Packages {
					return nil, tooMany()
				}
				p.Layer = f.since[p.Key()]
				p.OwnedBy = f.entry.OwnedBy
				out.OSOwned = append(out.OSOwned, p)
			}
			continue
		}
		if supersededLock(f.entry, installed, state) {
			continue
		}
		for _, p := range f.entry.Packages {
			pk := p.Key()
			if seen[pk] {
				continue
			}
			if int64(len(out.Packages)+len(out.OSOwned)) >= lim.Packages {
				return nil, tooMany()
			}
			seen[pk] = true
			p.Layer = f.since[pk]
			out.Packages = append(out.Packages, p)
		}
	}
	stated := statedLicenses(keys, state)
	for i := range out.Packages {
		if len(out.Packages[i].Licenses) == 0 {
			out.Packages[i].Licenses = stated[out.Packages[i].Kind+" "+out.Packages[i].Name]
		}
	}
	for i := range out.OSOwned {
		if len(out.OSOwned[i].Licenses) == 0 {
			out.OSOwned[i].Licenses = stated[out.OSOwned[i].Kind+" "+out.OSOwned[i].Name]
		}
	}
	out.Distribution = mergeReleases(releases)
	out.ConfigFindings, out.Secrets = foldChecks(layers, idxs)
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

// statedLicenses gathers the licenses that the files of the final file
// system state for packages of other files (model.Entry.Licenses), keyed "KIND
// NAME", in path order: the first file to state licenses for a package
// gives them.
func statedLicenses(keys []string, state map[string]*folded) map[string][]string {
	out := map[string][]string{}
	for _, k := range keys {
		for pkg, ls := range state[k].entry.Licenses {
			if _, ok := out[pkg]; !ok && len(ls) > 0 {
				out[pkg] = ls
			}
		}
	}
	return out
}

// lockFileNames are the base names of the lock files the catalogers
// read: they describe what an install would fetch, not what is installed.
var lockFileNames = map[string]bool{
	"package-lock.json": true, "npm-shrinkwrap.json": true, "yarn.lock": true, "pnpm-lock.yaml": true,
	"composer.lock": true, "Cargo.lock": true, "Gemfile.lock": true,
	"Pipfile.lock": true, "poetry.lock": true, "packages.lock.json": true,
}

// IsLockFile reports whether p (slash separated) names a lock file: a
// package-lock.json, npm-shrinkwrap.json, yarn.lock, pnpm-lock.yaml,
// composer.lock, Cargo.lock, Gemfile.lock, Pipfile.lock, poetry.lock or
// packages.lock.json. One that an operating-system package's file list
// names lists nothing installed, and the fold drops its packages.
func IsLockFile(p string) bool {
	return lockFileNames[path.Base(p)]
}

// lockFiles are the npm lock files, whose packages count only where no
// installed node_modules tree sits beside them.
var lockFiles = map[string]bool{"package-lock.json": true, "npm-shrinkwrap.json": true, "yarn.lock": true, "pnpm-lock.yaml": true}

// installedTrees returns the directories, with a trailing "/" ("" for
// the root), that hold a node_modules directory with entries of the npm
// cataloger in the final file system: for each such entry, the part of
// its path before its first node_modules element. One pass over the
// state, so that many lock files cost no more than one.
func installedTrees(state map[string]*folded) map[string]bool {
	out := map[string]bool{}
	for _, f := range state {
		if f.entry.Cataloger != "npm" {
			continue
		}
		if i := firstNodeModules(f.entry.Path); i >= 0 {
			out[f.entry.Path[:i]] = true
		}
	}
	return out
}

// firstNodeModules returns the index of the first "node_modules/"
// element of p, or -1.
func firstNodeModules(p string) int {
	const nm = "node_modules/"
	for off := 0; ; {
		i := strings.Index(p[off:], nm)
		if i < 0 {
			return -1
		}
		i += off
		if i == 0 || p[i-1] == '/' {
			return i
		}
		off = i + 1
	}
}

// supersededLock reports whether e is a lock file of the npm cataloger
// with an installed node_modules tree beside it in the final file system:
// the packages installed there are what runs, and are reported instead.
// installed is what installedTrees returns for state.
func supersededLock(e model.Entry, installed map[string]bool, state map[string]*folded) bool {
	if e.Cataloger != "npm" || !lockFiles[path.Base(e.Path)] {
		return false
	}
	dir := ""
	if d := path.Dir(e.Path); d != "." {
		dir = d + "/"
	}
	if firstNodeModules(dir) < 0 {
		return installed[dir]
	}
	// A lock file inside a node_modules tree (which the npm cataloger
	// does not read): the tree beside it is not the first node_modules
	// of the paths under it, so look for them one by one.
	prefix := dir + "node_modules/"
	for _, f := range state {
		if f.entry.Cataloger == "npm" && strings.HasPrefix(f.entry.Path, prefix) {
			return true
		}
	}
	return false
}

// removeDeleted deletes from state the paths a layer's whiteouts delete
// (the path and what lies under it) and those its opaque directories
// hide (what lies under them). It costs O((W + S) log W) for W whiteouts
// and S paths in the state, not W × S: the directories whose contents go
// are sorted, the ones under another dropped, and each path of the state
// looks for its one candidate ancestor by binary search.
func removeDeleted(state map[string]*folded, li *model.LayerIndex) {
	if len(li.Whiteouts) == 0 && len(li.Opaque) == 0 {
		return
	}
	self := make(map[string]bool, len(li.Whiteouts))
	dirs := make([]string, 0, len(li.Whiteouts)+len(li.Opaque))
	for _, p := range li.Whiteouts {
		self[p] = true
		dirs = append(dirs, p)
	}
	for _, d := range li.Opaque {
		if d == "" {
			clear(state) // the root is opaque: nothing below survives
			return
		}
		dirs = append(dirs, d)
	}
	slices.SortFunc(dirs, comparePaths)
	// Keep the outermost directories: in this order a directory's
	// descendants follow it directly.
	outer := dirs[:0]
	for _, d := range dirs {
		if len(outer) > 0 && (d == outer[len(outer)-1] || under(d, outer[len(outer)-1])) {
			continue
		}
		outer = append(outer, d)
	}
	for k, f := range state {
		p := f.entry.Path
		if self[p] {
			delete(state, k)
			continue
		}
		// The greatest directory not after p is its only possible
		// ancestor among the outermost ones.
		i, _ := slices.BinarySearchFunc(outer, p, comparePaths)
		if i < len(outer) && outer[i] == p {
			continue // p itself is an opaque directory; only its contents go
		}
		if i > 0 && under(p, outer[i-1]) {
			delete(state, k)
		}
	}
}

// comparePaths orders paths as if "/" sorted before every other byte, so
// that the paths under a directory directly follow it.
func comparePaths(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		if ca < cb {
			return -1
		}
		return 1
	}
	return len(a) - len(b)
}

// under reports whether p lies under the directory dir.
func under(p, dir string) bool {
	return len(p) > len(dir) && p[len(dir)] == '/' && strings.HasPrefix(p, dir)
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
func mergeReleases(entries []model.Entry) *vuln.Distribution {
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
