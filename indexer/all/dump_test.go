package all_test

import (
	"encoding/json"
	"os"
	"testing"
)

// TestDumpImage writes the folded index of a Debian test image (tag in
// LAPPS_DUMP_TAG) as JSON to LAPPS_DUMP_OUT, for measuring what the
// catalogers find; it runs only when both are set.
func TestDumpImage(t *testing.T) {
	tag, out := os.Getenv("LAPPS_DUMP_TAG"), os.Getenv("LAPPS_DUMP_OUT")
	if tag == "" || out == "" {
		t.Skip("LAPPS_DUMP_TAG and LAPPS_DUMP_OUT not set")
	}
	img, _ := indexImage(t, tag)
	b, err := json.MarshalIndent(img, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
