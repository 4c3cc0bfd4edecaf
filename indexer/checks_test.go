package indexer_test

import (
	"archive/tar"
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
)

func checksLayer(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

// TestSecretFileBytes: the secret scan reads files up to
// Limits.SecretFileBytes and no larger, in the same pass as the
// catalogers; WithoutChecks leaves it out and says so in the version.
func TestSecretFileBytes(t *testing.T) {
	tok := "ghp_Zq8RkV2mLp0TxW4nYb7cHs1dJf6gKe3aUo9i"
	line := "token = \"" + tok + "\"\n"
	layer := checksLayer(t, map[string]string{
		"app/small.txt": line,
		"app/big.txt":   strings.Repeat("#\n", 600) + line, // 1200+ bytes
		"app/blob.bin":  "\x00\x01" + line,                 // binary: not scanned
	})
	ix := indexer.New(nil, indexer.WithLimits(indexer.Limits{SecretFileBytes: 1024}))
	li, err := ix.IndexLayer(context.Background(), "sha256:x", bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	if li.Checks == nil || len(li.Checks.Secrets) != 1 || li.Checks.Secrets[0].Path != "app/small.txt" || li.IndexerVersion != indexer.Version {
		t.Fatalf("checks %+v, version %s", li.Checks, li.IndexerVersion)
	}
	ix = indexer.New(nil, indexer.WithLimits(indexer.Limits{SecretFileBytes: 4096}))
	li, _ = ix.IndexLayer(context.Background(), "sha256:x", bytes.NewReader(layer))
	if len(li.Checks.Secrets) != 2 {
		t.Errorf("under the bound: %+v", li.Checks.Secrets)
	}
	ix = indexer.New(nil, indexer.WithoutChecks())
	li, _ = ix.IndexLayer(context.Background(), "sha256:x", bytes.NewReader(layer))
	if li.Checks != nil || li.IndexerVersion == indexer.Version || ix.Version() != li.IndexerVersion {
		t.Errorf("without checks: %+v, version %s", li.Checks, li.IndexerVersion)
	}
}
