package notifier_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
)

// credentials are the secrets of the webhook URLs of
// TestDeliverRedactsCredentials; none may appear in a log line, a stored
// error or an error counted.
var credentials = []string{"alice", "pa55word", "k3yk3y", "t0kt0k", "s1gs1g"}

// TestDeliverRedactsCredentials delivers to webhook URLs holding
// credentials (user information, ?api_key=, ?token=) that fail: a closed
// port, and a receiver answering 500 with a body that echoes them, with
// and without a scheme. The stored last_error, the log (a plain handler,
// not redact.Handler) and the errors given to Metrics hold none of them.
func TestDeliverRedactsCredentials(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		http.Error(w, fmt.Sprintf("rejected %s:%s at http://%s%s (%s)", user, pass, r.Host, r.URL.RequestURI(), r.URL.RawQuery),
			http.StatusInternalServerError)
	}))
	defer echo.Close()
	const query = "/hook?api_key=k3yk3y&token=t0kt0k&sig=s1gs1g&page=2"
	for _, tc := range []struct {
		name, url, want string
	}{
		{"closed port", "http://alice:pa55word@" + closed + query, "refused"},
		{"receiver echoing 500", "http://alice:pa55word@" + strings.TrimPrefix(echo.URL, "http://") + query, "HTTP 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.EnqueueNotifications(ctx, "test", 1, []store.Notification{{
				ID: "A2EQK4WBSF2PYYRJSR76LCFOZU", Webhook: "hook", Kind: store.KindVulnerability, Payload: []byte(`{}`),
			}}); err != nil {
				t.Fatal(err)
			}
			d, err := notifier.NewDeliverer(st, []notifier.Webhook{{Name: "hook", URL: tc.url, Secret: "s3cret", Timeout: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			var m errMetrics
			d.Metrics = &m
			// Due now: the store dates the entry by the wall clock.
			d.Now = func() time.Time { return time.Now().Add(time.Second) }
			if delivered, failed, err := d.DeliverOnce(ctx); err != nil || delivered != 0 || failed != 1 {
				t.Fatalf("DeliverOnce = %d, %d, %v; want one failure", delivered, failed, err)
			}
			ns, err := st.Notifications(ctx)
			if err != nil || len(ns) != 1 {
				t.Fatalf("Notifications = %+v, %v", ns, err)
			}
			stored := ns[0].LastError
			t.Logf("last_error: %s", stored)
			t.Logf("log: %s", logs.String())
			if !strings.Contains(stored, tc.want) || !strings.Contains(stored, "REDACTED") || !strings.Contains(logs.String(), "REDACTED") {
				t.Errorf("last_error %q, log %q: want %q and REDACTED", stored, logs.String(), tc.want)
			}
			for _, c := range credentials {
				for what, s := range map[string]string{"last_error": stored, "log": logs.String(), "metrics error": m.errs()} {
					if strings.Contains(s, c) {
						t.Errorf("%s shows %q: %s", what, c, s)
					}
				}
			}
		})
	}
}

// errMetrics records the errors of failed deliveries.
type errMetrics struct {
	mu     sync.Mutex
	failed []error
}

func (m *errMetrics) Delivered(string, time.Duration) {}
func (m *errMetrics) Failed(_ string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed = append(m.failed, err)
}

func (m *errMetrics) errs() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.failed...).Error()
}
