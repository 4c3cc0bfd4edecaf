// Package layer runs the file checks and the secret scan over the entries
// of one layer, as the indexer's walker streams them: the walker calls
// Entry for every entry and Content for the regular files Entry asked
// for, in the same single read of the layer that feeds the catalogers.
//
// "Added by the image's own layers", for setuid and setgid files, means:
// not listed by a package manager's database (dpkg info/*.list, apk's
// installed database, rpm's file lists) in the same layer. A setuid
// binary that Debian's login or mount package installs is the
// distribution's, known and tracked by its advisories; one that a
// Dockerfile copies or chmods in is reported, whatever the layer.
package layer

import (
	"archive/tar"
	"io/fs"
	"sort"
	"strings"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/checks/files"
	"github.com/lapps/lapps/checks/secrets"
)

// DefaultTextBytes is the largest file whose content is checked, by
// default (configuration key limits.secret_file_bytes).
const DefaultTextBytes = 1 << 20

// Pass is the checks' state for one layer. It is not safe for concurrent
// use.
type Pass struct {
	maxText int64
	m       *secrets.Matcher
	res     checks.LayerResult
	// modes are setuid and setgid findings, kept until the layer's
	// package ownership is known (Finish).
	modes  []checks.Finding
	caches map[string]*cache
}

type cache struct {
	bytes int64
	files int
}

// New returns the pass of one layer, checking the content of regular
// files of at most maxText bytes (DefaultTextBytes when 0 or less).
func New(maxText int64) (*Pass, error) {
	s, err := secrets.Default()
	if err != nil {
		return nil, err
	}
	if maxText <= 0 {
		maxText = DefaultTextBytes
	}
	return &Pass{maxText: maxText, m: s.NewMatcher(), res: checks.LayerResult{Version: checks.Version}, caches: map[string]*cache{}}, nil
}

// Entry sees one entry of the layer (any type but whiteouts), at its
// cleaned path, and reports whether Content wants the file's content.
func (p *Pass) Entry(name string, hdr *tar.Header) bool {
	isReg := hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA //nolint:staticcheck // old archives
	isDir := hdr.Typeflag == tar.TypeDir
	if !isReg && !isDir {
		return false
	}
	mode := hdr.FileInfo().Mode()
	for _, f := range files.Mode(name, mode&^fs.ModeType, isDir, isReg) {
		if f.ID == checks.FileSetuid || f.ID == checks.FileSetgid {
			if len(p.modes) < checks.MaxPerLayer {
				p.modes = append(p.modes, f)
			} else {
				p.res.Dropped++
			}
			continue
		}
		p.add(f)
	}
	if !isReg {
		return false
	}
	if kind := files.Cache(name); kind != "" {
		c := p.caches[kind]
		if c == nil {
			c = &cache{}
			p.caches[kind] = c
		}
		c.bytes += max(0, hdr.Size)
		c.files++
		return false // a cache's content is not the image's
	}
	if f := files.Path(name); f != nil {
		p.add(*f)
	}
	if (files.IsShadow(name) || files.IsSSHDConfig(name)) && len(p.res.Wrote) < checks.MaxPerLayer {
		p.res.Wrote = append(p.res.Wrote, name)
	}
	return hdr.Size > 0 && hdr.Size <= p.maxText
}

// Content checks the content of a file Entry asked for.
func (p *Pass) Content(name string, content []byte) {
	switch {
	case files.IsShadow(name):
		for _, f := range files.Shadow(name, content) {
			p.add(f)
		}
	case files.IsSSHDConfig(name):
		for _, f := range files.SSHDConfig(name, content) {
			p.add(f)
		}
	}
	if !secrets.IsText(content) {
		return
	}
	p.m.Scan(content, func(m secrets.Match) bool {
		if len(p.res.Secrets) >= checks.MaxPerLayer {
			p.res.Dropped++
			return false
		}
		p.res.Secrets = append(p.res.Secrets, checks.Secret{Rule: m.Rule.ID, Title: m.Rule.Description, Severity: m.Rule.Sev(),
			Path: name, Line: m.Line, Preview: checks.Redact(m.Value)})
		return true
	})
}

func (p *Pass) add(f checks.Finding) {
	if len(p.res.Findings) >= checks.MaxPerLayer {
		p.res.Dropped++
		return
	}
	p.res.Findings = append(p.res.Findings, f)
}

// Finish returns the layer's result. owned reports whether a package
// manager's file list in the layer names a path (without a leading
// slash): setuid and setgid files it names are the distribution's and
// not reported.
func (p *Pass) Finish(owned func(path string) bool) *checks.LayerResult {
	for _, f := range p.modes {
		if owned != nil && (owned(f.Path) || owned(usrMerge(f.Path))) {
			continue
		}
		p.add(f)
	}
	kinds := make([]string, 0, len(p.caches))
	for k := range p.caches {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		if c := p.caches[k]; c.bytes >= files.CacheThreshold {
			p.add(files.CacheFinding(k, c.bytes, c.files))
		}
	}
	sort.SliceStable(p.res.Secrets, func(i, j int) bool {
		a, b := p.res.Secrets[i], p.res.Secrets[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Line < b.Line
	})
	return &p.res
}

// usrMerge returns the other name of a path under a merged /usr: package
// lists of Debian and Fedora name /bin/su where the layer has
// usr/bin/su, and the reverse.
func usrMerge(p string) string {
	for _, d := range []string{"bin/", "sbin/", "lib/", "lib64/"} {
		if strings.HasPrefix(p, "usr/"+d) {
			return strings.TrimPrefix(p, "usr/")
		}
		if strings.HasPrefix(p, d) {
			return "usr/" + p
		}
	}
	return p
}
