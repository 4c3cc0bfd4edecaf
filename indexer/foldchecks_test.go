package indexer

import (
	"testing"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/model"
)

// TestFoldChecks: final-state findings go with their file, the others
// and secrets stay, marked deleted later.
func TestFoldChecks(t *testing.T) {
	layers := []model.LayerInfo{{Digest: "sha256:a"}, {Digest: "sha256:b"}, {Digest: "sha256:c"}}
	idxs := []*model.LayerIndex{
		{Checks: &checks.LayerResult{
			Findings: []checks.Finding{
				{ID: checks.FileSetuid, Path: "usr/local/bin/x"},
				{ID: checks.FileSetuid, Path: "opt/tool/y"},
				{ID: checks.FileShadowEmpty, Path: "etc/shadow"},
				{ID: checks.FileSSHDRootLogin, Path: "etc/ssh/sshd_config"},
				{ID: checks.FileDotenv, Path: "app/.env", Detail: "d"},
				{ID: checks.FilePackageCache},
			},
			Secrets: []checks.Secret{{Rule: "private-key", Path: "app/key.pem"}, {Rule: "github-pat", Path: "srv/s.py"}},
			Wrote:   []string{"etc/shadow", "etc/ssh/sshd_config"},
		}},
		{Whiteouts: []string{"usr/local/bin/x", "app/key.pem"}, Opaque: []string{"opt/tool"}, Checks: &checks.LayerResult{Wrote: []string{"etc/shadow"}}},
		{Whiteouts: []string{"app"}, Checks: &checks.LayerResult{Findings: []checks.Finding{{ID: checks.FileSSHDRootLogin, Path: "etc/ssh/sshd_config"}}}},
	}
	fs, ss := foldChecks(layers, idxs)
	got := map[string]string{}
	for _, f := range fs {
		got[f.ID+" "+f.Path] = f.Layer
	}
	want := map[string]string{
		checks.FileSSHDRootLogin + " etc/ssh/sshd_config": "sha256:c",
		checks.FileDotenv + " app/.env":                   "sha256:a",
		checks.FilePackageCache + " ":                     "sha256:a",
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: layer %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	for _, f := range fs {
		if f.ID == checks.FileDotenv && f.Detail == "d" {
			t.Errorf("a deleted .env is not marked: %q", f.Detail)
		}
	}
	if len(ss) != 2 || !ss[0].DeletedLater || ss[1].DeletedLater || ss[0].Layer != "sha256:a" {
		t.Errorf("secrets %+v", ss)
	}
	// Layers indexed without checks give nothing.
	if f, s := foldChecks(layers[:1], []*model.LayerIndex{{}}); f != nil || s != nil {
		t.Errorf("%v %v", f, s)
	}
}
