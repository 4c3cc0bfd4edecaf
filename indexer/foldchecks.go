package indexer

import (
	"path"
	"strings"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/model"
)

// foldChecks gathers the checks' results of the layers, base first, into
// the image's findings and secrets, each with the digest of its layer.
// A final-state finding (checks.FinalState: a setuid bit, a shadow
// entry) is dropped when a later layer deletes its file, writes the file
// again (LayerResult.Wrote) or reports the same finding on it. Other file
// findings and every secret stay, marked as deleted later where a later
// layer deletes the file: the layer holding it is still in the image.
func foldChecks(layers []model.LayerInfo, idxs []*model.LayerIndex) ([]checks.Finding, []checks.Secret) {
	type later struct {
		whiteouts map[string]bool
		opaque    []string
		wrote     map[string]bool
		found     map[string]bool // ID + "\x00" + path
	}
	ls := make([]later, len(idxs))
	have := false
	for i, li := range idxs {
		l := later{whiteouts: map[string]bool{}, wrote: map[string]bool{}, found: map[string]bool{}}
		for _, w := range li.Whiteouts {
			l.whiteouts[w] = true
		}
		l.opaque = li.Opaque
		if c := li.Checks; c != nil {
			have = true
			for _, w := range c.Wrote {
				l.wrote[w] = true
			}
			for _, f := range c.Findings {
				if f.Path != "" {
					l.found[f.ID+"\x00"+f.Path] = true
				}
			}
		}
		ls[i] = l
	}
	if !have {
		return nil, nil
	}
	deletedAfter := func(i int, p string) bool {
		for j := i + 1; j < len(ls); j++ {
			if ls[j].whiteouts[p] {
				return true
			}
			for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
				if ls[j].whiteouts[d] {
					return true
				}
			}
			for _, o := range ls[j].opaque {
				if o == "" || strings.HasPrefix(p, o+"/") {
					return true
				}
			}
		}
		return false
	}
	supersededAfter := func(i int, f checks.Finding) bool {
		for j := i + 1; j < len(ls); j++ {
			if ls[j].wrote[f.Path] || ls[j].found[f.ID+"\x00"+f.Path] {
				return true
			}
		}
		return false
	}
	var findings []checks.Finding
	var secrets []checks.Secret
	for i, li := range idxs {
		c := li.Checks
		if c == nil {
			continue
		}
		layer := layers[i].Digest
		for _, f := range c.Findings {
			f.Layer = layer
			if f.Path != "" {
				deleted := deletedAfter(i, f.Path)
				if checks.FinalState(f.ID) {
					if deleted || supersededAfter(i, f) {
						continue
					}
				} else if deleted {
					f.Detail += " (deleted by a later layer, still shipped in this one)"
				}
			}
			findings = append(findings, f)
		}
		for _, s := range c.Secrets {
			s.Layer = layer
			s.DeletedLater = deletedAfter(i, s.Path)
			secrets = append(secrets, s)
		}
	}
	return findings, secrets
}
