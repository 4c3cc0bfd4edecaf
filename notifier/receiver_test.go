package notifier

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestReceiverHandler(t *testing.T) {
	const id = "A2EQK4WBSF2PYYRJSR76LCFOZU"
	ts := time.Unix(1767225600, 0)
	body := `{"delivery_id":"A2EQK4WBSF2PYYRJSR76LCFOZU","notifications":[]}`
	rv := Receiver{Secrets: []string{"new", "old"}, Now: func() time.Time { return ts.Add(time.Minute) }}
	for _, tc := range []struct {
		name    string
		rv      Receiver
		h       http.Header
		body    io.Reader
		length  int64 // -1: unknown (chunked)
		want    int
		reaches bool
	}{
		{"signed with the new secret", rv, signed(t, id, ts, []byte(body), "new"), strings.NewReader(body), int64(len(body)), 204, true},
		{"signed with the old secret", rv, signed(t, id, ts, []byte(body), "old"), strings.NewReader(body), int64(len(body)), 204, true},
		{"chunked", rv, signed(t, id, ts, []byte(body), "new"), strings.NewReader(body), -1, 204, true},
		{"other secret", rv, signed(t, id, ts, []byte(body), "other"), strings.NewReader(body), int64(len(body)), 401, false},
		{"other body", rv, signed(t, id, ts, []byte(body), "new"), strings.NewReader(body + " "), int64(len(body) + 1), 401, false},
		{"replayed after 6 min", Receiver{Secrets: []string{"new"}, Now: func() time.Time { return ts.Add(6 * time.Minute) }},
			signed(t, id, ts, []byte(body), "new"), strings.NewReader(body), int64(len(body)), 401, false},
		{"tolerance 30 s", Receiver{Secrets: []string{"new"}, Tolerance: 30 * time.Second, Now: rv.Now},
			signed(t, id, ts, []byte(body), "new"), strings.NewReader(body), int64(len(body)), 401, false},
		{"no headers", rv, http.Header{}, strings.NewReader(body), int64(len(body)), 400, false},
		{"body over MaxBody, length given", Receiver{Secrets: []string{"new"}, MaxBody: 10, Now: rv.Now},
			signed(t, id, ts, []byte(body), "new"), strings.NewReader(body), int64(len(body)), 413, false},
		{"body over MaxBody, chunked", Receiver{Secrets: []string{"new"}, MaxBody: 10, Now: rv.Now},
			signed(t, id, ts, []byte(body), "new"), strings.NewReader(body), -1, 413, false},
		{"body at MaxBody", Receiver{Secrets: []string{"new"}, MaxBody: int64(len(body)), Now: rv.Now},
			signed(t, id, ts, []byte(body), "new"), strings.NewReader(body), -1, 204, true},
		{"body unreadable", rv, signed(t, id, ts, []byte(body), "new"), iotest.ErrReader(io.ErrUnexpectedEOF), -1, 400, false},
		{"no secret configured", Receiver{Now: rv.Now}, signed(t, id, ts, []byte(body), "new"), strings.NewReader(body), int64(len(body)), 500, false},
	} {
		reached := false
		h := tc.rv.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached = true
			got, err := io.ReadAll(r.Body)
			if err != nil || string(got) != body || r.ContentLength != int64(len(body)) {
				t.Errorf("%s: next got body %q (length %d), %v", tc.name, got, r.ContentLength, err)
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		req := httptest.NewRequest(http.MethodPost, "/hook", tc.body)
		req.Header = tc.h
		req.ContentLength = tc.length
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want || reached != tc.reaches {
			t.Errorf("%s: %d %q, next called %v; want %d, %v", tc.name, rec.Code, rec.Body, reached, tc.want, tc.reaches)
		}
	}
}
