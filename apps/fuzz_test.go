package apps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/service"
)

// FuzzImportApp feeds manifests to ImportApp: it creates an app or
// returns a bad request, and never panics.
func FuzzImportApp(f *testing.F) {
	for _, p := range []string{filepath.Join("testdata", "workload.yaml"), filepath.Join("..", "workload", "testdata", "app.yaml"), filepath.Join("..", "workload", "testdata", "list.json")} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: 'alpine:3.20'}\n"))
	l := newTestLocal(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, manifest []byte) {
		a, err := l.ImportApp(ctx, "", manifest)
		if err != nil {
			if !errors.Is(err, service.ErrBadRequest) && !errors.Is(err, image.ErrInvalidReference) {
				t.Fatalf("ImportApp: %v, want a bad request", err)
			}
			return
		}
		if a.Name == "" || len(a.Workloads) == 0 {
			t.Fatalf("ImportApp = %+v", a)
		}
	})
}
