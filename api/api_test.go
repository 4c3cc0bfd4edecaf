package api

import (
	"encoding/json"
	"testing"
	"time"
)

// TestWireJSON pins the JSON of the types clients decode: a field renamed
// or an omitempty lost here changes what every client of the API reads
// (server/openapi.json describes the same).
func TestWireJSON(t *testing.T) {
	at := time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"queued job", Job{ID: "j1", Kind: "scan", Image: "reg/a:1", State: JobQueued, CreatedAt: at, Progress: &JobProgress{}},
			`{"id":"j1","kind":"scan","image":"reg/a:1","state":"queued","created_at":"2026-12-06T01:02:03Z","progress":{"stage":"","layers":0,"layers_done":0,"layers_cached":0,"bytes_read":0,"bytes_total":0}}`},
		{"failed job", Job{ID: "j2", Kind: "scan", State: JobFailed, CreatedAt: at, StartedAt: at, FinishedAt: at, Attempts: 2, Replica: "r1", Error: &Error{Code: CodeImageNotFound, Message: "gone"}},
			`{"id":"j2","kind":"scan","state":"failed","created_at":"2026-12-06T01:02:03Z","started_at":"2026-12-06T01:02:03Z","finished_at":"2026-12-06T01:02:03Z","attempts":2,"replica":"r1","error":{"code":"image_not_found","message":"gone"}}`},
		{"error body", ErrorBody{Error: Error{Code: CodeForbidden, Message: "no"}}, `{"error":{"code":"forbidden","message":"no"}}`},
		{"scan body", ScanBody{Image: "reg/a:1"}, `{"image":"reg/a:1"}`},
		{"update body", UpdateBody{}, `{}`},
		{"app body", AppBody{Name: "shop"}, `{"name":"shop"}`},
		{"deploy body", DeployBody{Env: "prod", Images: []string{"a"}, Platform: "linux/amd64"}, `{"env":"prod","images":["a"],"platform":"linux/amd64"}`},
		{"app scan body", AppScanBody{}, `{}`},
		{"token body", TokenBody{Name: "ci", Scopes: []string{"scan"}}, `{"name":"ci","scopes":["scan"]}`},
		{"created token", CreatedToken{TokenInfo: TokenInfo{ID: 3, Name: "ci", Scopes: []string{"read"}, CreatedAt: at}, Secret: "lapps_x"},
			`{"id":3,"name":"ci","scopes":["read"],"created_at":"2026-12-06T01:02:03Z","secret":"lapps_x"}`},
	} {
		got, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}
