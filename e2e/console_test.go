package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/web/webtest"
)

// TestConsoleInChromium drives the web console of a real `lapps serve`
// in headless Chromium: sign in with a token, see the matrix with an
// application failing from a real scan of the Alpine test image, filter
// its findings, open a vulnerability and see the image it affects,
// trigger a scan and see it finish, sign out; without a session a page
// redirects to sign-in, and a form without its CSRF token is refused.
// Every page is checked with axe-core and saved as screenshots at 1280
// and 390 pixels ($LAPPS_ARTIFACTS, else a temporary directory).
func TestConsoleInChromium(t *testing.T) {
	br := webtest.Start(t)
	data, dir := t.TempDir(), t.TempDir()
	// The Alpine 3.11 secdb with a musl fix newer than the image's musl:
	// CVE-2099-0001, of no severity, which this policy counts as high
	// and fails in prod (staging only warns).
	writeSecdb(t, data, true)
	img := "oci:" + alpine(t) + ":alpine-3.11.13"
	cfg := filepath.Join(dir, "lapps.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`vulndb:
  sources:
    - {name: %s, type: alpine-secdb, path: %s, interval: 24h}
server:
  require_token: true
  local_images: [%s]
  console:
    session_key: e2e-console-session-key-0123456789
  apps:
    shop:
      environments:
        prod:
          policy: {fail_on: high, unknown_as: high}
        staging:
          policy: {warn_on: high, unknown_as: high}
`, source, data, testenv.Images(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "lapps.db")
	e := &env{t: t, db: db, config: cfg}
	tokOut, err := e.cli(t, nil, "--db", db, "token", "create", "console", "--scope", "admin")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, tokOut)
	}
	e.token = strings.TrimSpace(tokOut)
	e.start()
	waitFor(t, 60*time.Second, "the first ingest", func() (bool, string) {
		st, err := e.api.VulnDBStatus(e.ctx())
		if err != nil || len(st) == 0 {
			return false, fmt.Sprint(err)
		}
		return st[0].Records > 0, fmt.Sprintf("%d records", st[0].Records)
	})
	srv := []string{"LAPPS_SERVER=" + e.srv.url, "LAPPS_TOKEN=" + e.token}
	for _, args := range [][]string{
		{"app", "create", "shop", "--image", img},
		{"app", "deploy", "-a", "shop", "--env", "staging"},
		{"app", "security", "scan", "-a", "shop"},
		{"app", "deploy", "-a", "shop", "--env", "prod"}, // refused: fail
	} {
		out, err := e.cli(t, srv, args...)
		if err != nil && args[len(args)-1] != "prod" {
			t.Fatalf("lapps %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	base := e.srv.url

	// Without a session: to the sign-in page.
	var loc string
	br.Must("open the overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#token"), chromedp.Location(&loc))
	if !strings.Contains(loc, "/signin?next=") {
		t.Fatalf("without a session / went to %s, want /signin", loc)
	}
	br.Screenshot("signin")
	br.Axe("signin")

	// Sign in.
	br.Must("sign in", chromedp.SendKeys("#token", e.token), chromedp.Click(`button[type=submit]`), chromedp.WaitVisible("#matrix-h"))
	var matrix string
	br.Must("read the matrix", chromedp.Text("table.matrix", &matrix))
	if !strings.Contains(matrix, "shop") || !strings.Contains(strings.ToLower(matrix), "fail") || !strings.Contains(matrix, "refused") || !strings.Contains(matrix, inventedID) {
		t.Errorf("matrix %q: want shop failing in prod because of %s", matrix, inventedID)
	}
	br.Screenshot("overview")
	br.Axe("overview")

	// The app.
	br.Must("open the app", chromedp.Click(`table.matrix a`), chromedp.WaitVisible("#hist-h"))
	br.Screenshot("app")
	br.Axe("app")

	// The image, its findings filtered.
	imgURL := base + "/image?ref=" + url.QueryEscape(img)
	var caption string
	br.Must("open the image", chromedp.Navigate(imgURL), chromedp.WaitVisible("#f-pkg"))
	br.Screenshot("image")
	br.Axe("image")
	br.Must("fill the filters", chromedp.SendKeys("#f-pkg", "musl-utils"), chromedp.SetValue("#f-sev", "unknown"))
	// The filtered page replaces the page at a new address: wait for it to
	// load, or the old one's caption may be read before it goes.
	br.MustNavigate("filter findings", chromedp.Click(`form.filters button[type=submit]`))
	br.Must("read the filtered findings", chromedp.WaitVisible("#findings-h"),
		chromedp.Text("table.findings caption", &caption), chromedp.Location(&loc))
	if !strings.Contains(loc, "package=musl-utils") || !strings.Contains(loc, "severity=unknown") || !strings.Contains(caption, "Findings: 1 of 2") {
		t.Errorf("filtered location %s, caption %q: want musl-utils's one finding of two", loc, caption)
	}
	var rows string
	br.Must("read the rows", chromedp.Text("table.findings tbody", &rows))
	if !strings.Contains(rows, inventedID) || !strings.Contains(rows, "musl-utils") {
		t.Errorf("filtered findings (%s): %q", caption, rows)
	}
	br.Screenshot("image-filtered")

	// The vulnerability, and the images it affects.
	br.Must("open the vulnerability", chromedp.Click(`a[href="/vulns/`+inventedID+`"]`), chromedp.WaitVisible("#aff-h"))
	var affected string
	br.Must("read affected", chromedp.Text("main", &affected))
	if !strings.Contains(affected, img) || !strings.Contains(affected, fixedMusl) || !strings.Contains(affected, "shop") {
		t.Errorf("vulnerability page: want %s affected (fixed in %s, app shop):\n%.1500s", img, fixedMusl, affected)
	}
	br.Screenshot("vulnerability")
	br.Axe("vulnerability")

	// A scan from the image page, followed to its end.
	br.Must("scan", chromedp.Navigate(imgURL), chromedp.Click(`form.inline button[type=submit]`), chromedp.WaitVisible("#job-state"))
	br.Screenshot("job")
	var state string
	waitFor(t, 90*time.Second, "the scan job to finish", func() (bool, string) {
		if err := br.Run(chromedp.Text("#job-state", &state)); err != nil {
			return false, err.Error()
		}
		return state == "succeeded" || state == "failed", state
	})
	if state != "succeeded" {
		t.Fatalf("scan job %s", state)
	}
	br.Must("open the new scan", chromedp.Click("#job-result"), chromedp.WaitVisible("#scans-h"))
	var scans string
	br.Must("read scans", chromedp.Text("#scans", &scans))
	if !strings.Contains(scans, "#3") {
		t.Errorf("image scans after the scan: %q", scans)
	}
	br.Screenshot("image-after-scan")
	var diff string
	br.Must("compare the scans", chromedp.Click(`a[href*="diff=1"]`), chromedp.WaitVisible("#diff-h"), chromedp.Text("#diff-h", &diff))
	// #1 was the deployment's scan, #2 the app scan's, #3 this one.
	if !strings.Contains(diff, "Scan #1 → #3: 0 new, 0 fixed, 2 still open") {
		t.Errorf("diff of the two scans: %q", diff)
	}
	br.Screenshot("image-diff")
	br.Axe("image diff")

	// Sources and jobs.
	br.Must("open sources", chromedp.Navigate(base+"/sources"), chromedp.WaitVisible("#src-h"))
	br.Screenshot("sources")
	br.Axe("sources")

	if errs := br.Errors(); len(errs) > 0 {
		t.Errorf("browser console errors: %q", errs)
	}

	// A form without its CSRF token is refused (the browser logs the
	// 403).
	var body string
	br.Must("post without csrf", chromedp.Evaluate(`document.querySelector('form.inline input[name=csrf]').remove()`, nil),
		chromedp.SendKeys("#scan-image", img), chromedp.Click(`form.inline button[type=submit]`), chromedp.WaitVisible("p.error"),
		chromedp.Text("main", &body))
	if !strings.Contains(body, "403") || !strings.Contains(body, "CSRF") {
		t.Errorf("a form without CSRF: %q", body)
	}
	br.Screenshot("csrf-refused")

	// Sign out; the overview needs a session again.
	br.Must("sign out", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#matrix-h"), chromedp.Click(`form.signout button`), chromedp.WaitVisible("#token"),
		chromedp.Navigate(base+"/"), chromedp.WaitVisible("#token"), chromedp.Location(&loc))
	if !strings.Contains(loc, "/signin") {
		t.Errorf("after sign-out / is %s", loc)
	}
	for _, e := range br.Errors() {
		if !strings.Contains(e, "403") {
			t.Errorf("browser console error: %s", e)
		}
	}

	// Every page answers a bearer token too.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", base+"/vulns/"+inventedID, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), img) {
		t.Errorf("bearer GET /vulns/%s: %d", inventedID, resp.StatusCode)
	}
	t.Logf("screenshots in %s", br.Artifacts)
}
