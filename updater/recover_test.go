package updater_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// panicky is a parser with a bug: it panics on a feed holding a file
// named "panic", and gives one record otherwise.
type panicky struct{}

func (panicky) Parse(_ context.Context, feed fs.FS) ([]vuln.Record, error) {
	if _, err := fs.Stat(feed, "panic"); err == nil {
		var m map[string]int
		m["boom"]++ // assignment to entry in nil map
	}
	return []vuln.Record{{ID: "TEST-1", Ecosystem: "npm", Package: "a", Status: vuln.StatusUnfixed}}, nil
}

func init() { updater.Register("test-panicky", panicky{}) }

// TestParserPanicIsAFailedRun: a parser's panic, through Run, Import and
// RunAll, is a failed run recorded with its error; the source's earlier
// data stays, the process lives, and the stack is logged at debug level.
func TestParserPanicIsAFailedRun(t *testing.T) {
	ctx := context.Background()
	good := t.TempDir()
	if err := os.WriteFile(filepath.Join(good, "ok"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "panic"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	type step func(st *fakeStore, dir string, log updater.Option) error
	for name, run := range map[string]step{
		"Run": func(st *fakeStore, dir string, log updater.Option) error {
			_, err := updater.Run(ctx, st, updater.Source{Name: "src", Type: "test-panicky", Path: dir}, log)
			return err
		},
		"Import": func(st *fakeStore, dir string, log updater.Option) error {
			_, err := updater.Import(ctx, st, "test-panicky", dir, "src", log)
			return err
		},
		"RunAll": func(st *fakeStore, dir string, log updater.Option) error {
			res := updater.RunAll(ctx, st, []updater.Source{
				{Name: "src", Type: "test-panicky", Path: dir},
				{Name: "other", Type: "test-panicky", Path: good},
			}, log)
			if res[1].Err != nil {
				t.Errorf("the source beside the panicking one failed: %v", res[1].Err)
			}
			return res[0].Err
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := newFakeStore()
			if err := run(st, good, quiet); err != nil {
				t.Fatal(err)
			}
			before := sourceRecords(st, "src")
			var logs testenv.SyncBuffer
			err := run(st, bad, updater.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			if !errors.Is(err, updater.ErrPanic) || !strings.Contains(err.Error(), "assignment to entry in nil map") {
				t.Fatalf("error %v, want ErrPanic with the panic's message", err)
			}
			if r := st.lastRun(t, "src"); !strings.Contains(r.Err, "panic") || r.Operation != 0 {
				t.Errorf("run recorded as %+v", r)
			}
			if after := sourceRecords(st, "src"); len(before) != 1 || !reflect.DeepEqual(after, before) {
				t.Errorf("records %v after the panic, want %v", after, before)
			}
			if !strings.Contains(logs.String(), "level=DEBUG msg=\"source run panicked\"") || !strings.Contains(logs.String(), "recover_test.go") {
				t.Errorf("no stack at debug level in the logs:\n%s", logs.String())
			}
		})
	}
}

// TestRunRedactsCredentials: a feed URL with credentials (user
// information, ?token=, ?key=) appears in no error, recorded run, stored
// validator or log line.
func TestRunRedactsCredentials(t *testing.T) {
	srv := newFeedServer(t)
	srv.set("/data/feed.json", osvRecord("GHSA-0001"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	secrets := []string{"s3cret", "t0ken", "k3y", "p4ss"}
	withCreds := func(base, p string) string {
		return strings.Replace(base, "http://", "http://user:s3cret@", 1) + p + "?token=t0ken&key=k3y&password=p4ss&page=2"
	}
	for _, tc := range []struct {
		name, url string
		fails     bool
	}{
		{"404", withCreds(srv.URL, "/missing.json"), true},
		{"connection refused", withCreds("http://"+closed, "/feed.json"), true},
		{"success", withCreds(srv.URL, "/data/feed.json"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newFakeStore()
			var logs testenv.SyncBuffer
			log := updater.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			res := updater.RunAll(context.Background(), st, []updater.Source{{Name: "creds", Type: "osv", URLs: []string{tc.url}}},
				log, fast, updater.WithAttempts(2))[0]
			if (res.Err != nil) != tc.fails {
				t.Fatalf("error %v", res.Err)
			}
			run := st.lastRun(t, "creds")
			shown := []string{logs.String(), run.Err}
			if res.Err != nil {
				shown = append(shown, res.Err.Error())
			}
			for k, v := range run.Validators {
				shown = append(shown, k, v)
			}
			if !tc.fails && len(run.Validators) == 0 {
				t.Error("no validators stored")
			}
			for _, s := range shown {
				for _, secret := range secrets {
					if strings.Contains(s, secret) {
						t.Errorf("%q shows %s", s, secret)
					}
				}
			}
			if tc.fails && !strings.Contains(run.Err, "REDACTED") {
				t.Errorf("run error %q: no redacted URL", run.Err)
			}
		})
	}
}

// TestRunCountsSkipped: malformed ranges are skipped, counted in the
// run's result by reason and logged once for the source.
func TestRunCountsSkipped(t *testing.T) {
	dir := t.TempDir()
	docs := map[string]string{
		"GHSA-0001.json": string(osvRecord("GHSA-0001")),
		"GHSA-0002.json": `{"id":"GHSA-0002","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":""}]}]}]}`,
		"GHSA-0003.json": `{"id":"GHSA-0003","affected":[{"package":{"ecosystem":"npm","name":"b"},"versions":[""]}]}`,
		"GHSA-0004.json": `{"id":"GHSA-0004","affected":[{"package":{"ecosystem":"npm","name":"c"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"last_affected":""}]}]}]}`,
	}
	for name, doc := range docs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs testenv.SyncBuffer
	st := newFakeStore()
	res := updater.RunAll(context.Background(), st, []updater.Source{{Name: "osv", Type: "osv", Path: dir}},
		updater.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))[0]
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	want := map[string]int{
		"osv: range with an empty event":                              2,
		"osv: empty entry of versions":                                1,
		"osv: affected package left without a valid range or version": 3,
	}
	if res.Skipped != 6 || !reflect.DeepEqual(res.SkippedBy, want) {
		t.Errorf("skipped %d %v, want 6 %v", res.Skipped, res.SkippedBy, want)
	}
	if recs := sourceRecords(st, "osv"); len(recs) != 1 || recs[0].ID != "GHSA-0001" {
		t.Errorf("records %+v", recs)
	}
	if n := strings.Count(logs.String(), "malformed entries of the feed skipped"); n != 1 {
		t.Errorf("%d log lines about skipped entries, want 1:\n%s", n, logs.String())
	}
}
