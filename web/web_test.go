package web

import (
	"bytes"
	"github.com/lapps/lapps/web/render"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

func newConsole(t testing.TB, f *fake, anonymous bool) (*Console, *time.Time) {
	t.Helper()
	now := t0
	c, err := New(f, Options{Key: []byte("0123456789abcdef0123456789abcdef"), Anonymous: anonymous, SessionTTL: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return c, &now
}

// browser keeps cookies like a browser does, without following
// redirects.
type browser struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]*http.Cookie
}

func (b *browser) do(method, target string, form url.Values, header http.Header) *httptest.ResponseRecorder {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		r.Header[k] = v
	}
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	b.h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return w
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%.2000s", body)
	}
	return m[1]
}

// signIn signs in with token and returns the browser.
func signIn(t *testing.T, c *Console, token string) *browser {
	t.Helper()
	b := &browser{t: t, h: c, cookies: map[string]*http.Cookie{}}
	page := b.do("GET", "/signin?next=/sources", nil, nil)
	if page.Code != 200 {
		t.Fatalf("GET /signin: %d", page.Code)
	}
	w := b.do("POST", "/signin", url.Values{"csrf": {csrfOf(t, page.Body.String())}, "token": {token}, "next": {"/sources"}}, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/sources" {
		t.Fatalf("sign in: %d %s\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	ck := b.cookies[sessionCookie]
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v, want HttpOnly and SameSite=Strict", ck)
	}
	return b
}

func TestSignInFlow(t *testing.T) {
	f := newFake(3, 20)
	c, now := newConsole(t, f, false)
	anon := &browser{t: t, h: c, cookies: map[string]*http.Cookie{}}
	// Without a session: to sign-in, keeping where to come back.
	w := anon.do("GET", "/image?ref=x", nil, nil)
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/signin?next=%2Fimage%3Fref%3Dx") {
		t.Fatalf("no session: %d %q", w.Code, w.Header().Get("Location"))
	}
	// A wrong token.
	page := anon.do("GET", "/signin", nil, nil)
	w = anon.do("POST", "/signin", url.Values{"csrf": {csrfOf(t, page.Body.String())}, "token": {"lapps_nope"}}, nil)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "unknown or revoked") {
		t.Fatalf("wrong token: %d", w.Code)
	}
	// Sign-in without the form's CSRF token.
	w = anon.do("POST", "/signin", url.Values{"token": {"lapps_read"}}, nil)
	if w.Code != http.StatusForbidden {
		t.Fatalf("sign-in without CSRF: %d", w.Code)
	}

	b := signIn(t, c, "lapps_read")
	w = b.do("GET", "/", nil, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Applications × environments") {
		t.Fatalf("overview: %d\n%.500s", w.Code, w.Body)
	}
	// Read scope: no scan form, and a scan is refused.
	if strings.Contains(w.Body.String(), `action="/scan"`) {
		t.Error("a read token sees the scan form")
	}
	tok := csrfOf(t, w.Body.String())
	if w := b.do("POST", "/scan", url.Values{"csrf": {tok}, "image": {"x"}}, nil); w.Code != http.StatusForbidden {
		t.Errorf("scan with a read token: %d", w.Code)
	}
	// Revoking the token ends the session.
	f.revoked["lapps_read"] = true
	if w := b.do("GET", "/sources", nil, nil); w.Code != http.StatusSeeOther {
		t.Errorf("revoked token's session: %d", w.Code)
	}
	f.revoked["lapps_read"] = false
	// Sessions expire.
	*now = now.Add(2 * time.Hour)
	if w := b.do("GET", "/sources", nil, nil); w.Code != http.StatusSeeOther {
		t.Errorf("expired session: %d", w.Code)
	}
	*now = t0
	// Sign out: the cookie goes, pages redirect again; without the CSRF
	// token sign-out is refused.
	b = signIn(t, c, "lapps_scan")
	if w := b.do("POST", "/signout", url.Values{}, nil); w.Code != http.StatusForbidden {
		t.Errorf("sign-out without CSRF: %d", w.Code)
	}
	page = b.do("GET", "/", nil, nil)
	if w := b.do("POST", "/signout", url.Values{"csrf": {csrfOf(t, page.Body.String())}}, nil); w.Code != http.StatusSeeOther {
		t.Errorf("sign-out: %d", w.Code)
	}
	if b.cookies[sessionCookie] != nil {
		t.Error("the session cookie is still set after sign-out")
	}
	if w := b.do("GET", "/", nil, nil); w.Code != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", w.Code)
	}
}

func TestSessionCookieTampered(t *testing.T) {
	key := []byte("0123456789abcdef")
	s := session{expires: t0.Add(time.Hour), tokenHash: bytes.Repeat([]byte{7}, 32)}
	v := s.encode(key)
	if _, err := decodeSession(key, v, t0); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"other key":  s.encode([]byte("fedcba9876543210")),
		"flipped":    strings.Replace(v, v[5:6], string(rune(v[5]^1)), 1),
		"no mac":     strings.Split(v, ".")[0],
		"empty":      "",
		"huge":       strings.Repeat("a", maxCookie+1) + "." + "b",
		"not base64": "!!!.###",
	} {
		if _, err := decodeSession(key, bad, t0); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := decodeSession(key, v, t0.Add(time.Hour)); err == nil {
		t.Error("expired session accepted")
	}
}

func TestCSRFAndActions(t *testing.T) {
	f := newFake(2, 10)
	c, _ := newConsole(t, f, false)
	b := signIn(t, c, "lapps_admin")
	page := b.do("GET", "/sources", nil, nil).Body.String()
	tok := csrfOf(t, page)
	for _, tc := range []struct {
		name string
		form url.Values
		want int
	}{
		{"scan without csrf", url.Values{"image": {"a:1"}}, http.StatusForbidden},
		{"scan with a wrong csrf", url.Values{"image": {"a:1"}, "csrf": {tok + "x"}}, http.StatusForbidden},
		{"scan without an image", url.Values{"csrf": {tok}}, http.StatusBadRequest},
		{"scan with a long image", url.Values{"csrf": {tok}, "image": {strings.Repeat("a", render.MaxRef+1)}}, http.StatusBadRequest},
		{"scan with a control character", url.Values{"csrf": {tok}, "image": {"a\x00:1"}}, http.StatusBadRequest},
		{"scan", url.Values{"csrf": {tok}, "image": {"a:1"}}, http.StatusSeeOther},
	} {
		if w := b.do("POST", "/scan", tc.form, nil); w.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
		}
	}
	if len(f.scanned) != 1 || f.scanned[0] != "a:1" {
		t.Errorf("scans queued: %q", f.scanned)
	}
	if w := b.do("GET", "/jobs/job1", nil, nil); w.Code != 200 || !strings.Contains(w.Body.String(), `http-equiv="refresh"`) {
		t.Errorf("queued job page: %d, want a refreshing page", w.Code)
	}
	if w := b.do("POST", "/sources/run", url.Values{"source": {"debian"}}, nil); w.Code != http.StatusForbidden {
		t.Errorf("re-run without csrf: %d", w.Code)
	}
	if w := b.do("POST", "/sources/run", url.Values{"source": {"debian"}, "csrf": {tok}}, nil); w.Code != 200 || !strings.Contains(w.Body.String(), "3 records") {
		t.Errorf("re-run: %d", w.Code)
	}
	// A form body past the bound.
	if w := b.do("POST", "/scan", url.Values{"csrf": {tok}, "image": {strings.Repeat("a", maxForm)}}, nil); w.Code != http.StatusBadRequest {
		t.Errorf("huge form: %d", w.Code)
	}
	// A bearer caller needs no CSRF token (a browser never sends the
	// header on its own).
	hdr := http.Header{"Authorization": {"Bearer lapps_scan"}}
	bearer := &browser{t: t, h: c, cookies: map[string]*http.Cookie{}}
	if w := bearer.do("POST", "/scan", url.Values{"image": {"b:2"}}, hdr); w.Code != http.StatusSeeOther {
		t.Errorf("bearer scan: %d", w.Code)
	}
	if w := bearer.do("GET", "/", nil, http.Header{"Authorization": {"Bearer nope"}}); w.Code != http.StatusUnauthorized {
		t.Errorf("bad bearer: %d", w.Code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	c, _ := newConsole(t, newFake(1, 4), false)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest("GET", "/signin", nil))
	h := w.Header()
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
		if h.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, h.Get(k), want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, part := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, part) {
			t.Errorf("CSP %q lacks %q", csp, part)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(w.Body.String(), "<script") {
		t.Error("inline script allowed or present")
	}
	w = httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest("GET", "/static/style.css", nil))
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
}

func TestPages(t *testing.T) {
	f := newFake(4, 40)
	// Data that tries to inject markup.
	evil := "registry.example/<script>alert(1)</script>:1"
	f.reports[evil] = []*report.Report{genReport(evil, 1, 4, "<script>alert(2)</script>")}
	c, _ := newConsole(t, f, false)
	hdr := http.Header{"Authorization": {"Bearer lapps_read"}}
	b := &browser{t: t, h: c, cookies: map[string]*http.Cookie{}}
	img := url.QueryEscape("registry.example/team/app1:1.1")
	for _, tc := range []struct {
		path string
		want int
		has  []string
		not  []string
	}{
		{"/", 200, []string{"shop", "v-fail", "refused", "CVE-2024-0005 (critical)", "no successful run", "newest record older than 30 days", "Findings per environment"}, []string{"<script>alert"}},
		{"/images", 200, []string{"&lt;script&gt;alert(1)&lt;/script&gt;"}, []string{"<script>"}},
		{"/images?q=app2", 200, []string{"app2"}, []string{"app1:"}},
		{"/image?ref=" + img, 200, []string{"Findings: 40 of 40", "Findings over time", "pkg3", "#1 → #2", `href="/image?ref=registry.example%2fteam%2fapp1%3a1.1&amp;scan=2&amp;diff=1"`}, nil},
		{"/image?ref=" + img + "&severity=critical", 200, []string{"Findings: 6 of 40"}, nil},
		{"/image?ref=" + img + "&kev=1", 200, []string{"Findings: 1 of 40", "KEV"}, nil},
		{"/image?ref=" + img + "&fixable=yes&package=pkg3", 200, []string{"Findings: 1 of 40"}, nil},
		{"/image?ref=" + img + "&id=cve-2024-001", 200, []string{"Findings: 10 of 40"}, nil},
		{"/image?ref=" + img + "&ecosystem=npm", 200, []string{"Findings: 0 of 40", "No finding matches"}, nil},
		{"/image?ref=" + img + "&sort=id&dir=desc", 200, []string{`aria-sort="descending"`}, nil},
		{"/image?ref=" + img + "&scan=2&diff=1", 200, []string{"Scan #1 → #2: 20 new, 0 fixed, 20 still open"}, nil},
		{"/image?ref=" + img + "&scan=1", 200, []string{"Findings: 20 of 20"}, nil},
		{"/image?ref=" + img + "&severity=urgent", 400, []string{"severity parameter"}, nil},
		{"/image?ref=" + img + "&fixable=maybe", 400, nil, nil},
		{"/image?ref=" + img + "&kev=yes", 400, nil, nil},
		{"/image?ref=" + img + "&sort=title", 400, nil, nil},
		{"/image?ref=" + img + "&dir=up", 400, nil, nil},
		{"/image?ref=" + img + "&scan=-1", 400, nil, nil},
		{"/image?ref=" + img + "&scan=x", 400, nil, nil},
		{"/image?ref=" + img + "&scan=9", 404, nil, nil},
		{"/image?ref=" + img + "&package=" + strings.Repeat("a", render.MaxText+1), 400, nil, nil},
		{"/image?ref=" + img + "&package=%00", 400, nil, nil},
		{"/image?ref=" + img + "&package=%ff", 400, nil, nil},
		{"/image?ref=" + img + "&x=" + strings.Repeat("a", maxQuery), http.StatusRequestURITooLong, nil, nil},
		{"/image", 400, nil, nil},
		{"/image?ref=" + strings.Repeat("a", render.MaxRef+1), 400, nil, nil},
		{"/image?ref=nope", 404, nil, nil},
		{"/image?ref=" + url.QueryEscape(evil), 200, []string{"&lt;script&gt;"}, []string{"<script>alert"}},
		{"/apps/shop", 200, []string{"staging", "refused", "CVE-2024-0005", "Findings over time (app scans)", "app0:1.0 #2", "Why the latest app scan is warn"}, nil},
		{"/apps/nope", 404, nil, nil},
		{"/vulns/CVE-2024-0003", 200, []string{"DSA-1-1", "1.0-2", "registry.example/team/app1:1.1", "&lt;script&gt;", "shop"}, []string{"<script>alert"}},
		{"/vulns/CVE-1999-0001", 404, nil, nil},
		{"/vulns/" + strings.Repeat("A", 101), 400, nil, nil},
		{"/sources", 200, []string{"503 Service Unavailable", "last run failed", "#7", "990"}, nil},
		{"/jobs/nope", 404, nil, nil},
		{"/nope", 404, nil, nil},
	} {
		w := b.do("GET", tc.path, nil, hdr)
		body := w.Body.String()
		if w.Code != tc.want {
			t.Errorf("GET %.120s: %d, want %d\n%.300s", tc.path, w.Code, tc.want, body)
			continue
		}
		for _, s := range tc.has {
			if !strings.Contains(body, s) {
				t.Errorf("GET %.120s: no %q", tc.path, s)
			}
		}
		for _, s := range tc.not {
			if strings.Contains(body, s) {
				t.Errorf("GET %.120s: has %q", tc.path, s)
			}
		}
	}
}

func TestAnonymous(t *testing.T) {
	c, _ := newConsole(t, newFake(1, 2), true)
	b := signIn(t, c, "")
	if w := b.do("GET", "/", nil, nil); w.Code != 200 || !strings.Contains(w.Body.String(), `action="/scan"`) {
		t.Errorf("anonymous console: %d", w.Code)
	}
	// Without anonymity an empty token does not sign in.
	c, _ = newConsole(t, newFake(1, 2), false)
	b = &browser{t: t, h: c, cookies: map[string]*http.Cookie{}}
	page := b.do("GET", "/signin", nil, nil)
	if w := b.do("POST", "/signin", url.Values{"csrf": {csrfOf(t, page.Body.String())}}, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("empty token: %d", w.Code)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "/",
		"/image?ref=a":         "/image?ref=a",
		"//evil.example/":      "/",
		`/\evil.example`:       "/",
		"https://evil.example": "/",
		"/a\r\nSet-Cookie: x":  "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDiff(t *testing.T) {
	base := genReport("i", 1, 6, "")
	head := genReport("i", 2, 6, "")
	head.Vulnerabilities = head.Vulnerabilities[1:]                                                                       // one fixed
	head.Vulnerabilities = append(head.Vulnerabilities, vuln.Finding{ID: "CVE-2099-1", Package: "x", PackageKind: "deb"}) // one new
	d := render.DiffFindings(base, head)
	if d.New != 1 || d.Fixed != 1 || d.Open != 5 || d.Rows[0].State != "new" || d.Rows[1].State != "fixed" {
		t.Errorf("diff: new %d fixed %d open %d", d.New, d.Fixed, d.Open)
	}
}

func TestWriteReports(t *testing.T) {
	r := genReport("registry.example/<b>x</b>:1", 3, 30, "a </style><script>x</script>")
	var buf bytes.Buffer
	if err := WriteImageReport(&buf, r); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if !strings.Contains(s, "<style>") || strings.Contains(s, `<link rel="stylesheet"`) || strings.Contains(s, "<script") || strings.Contains(s, "<form") {
		t.Errorf("the report is not self-contained, or has scripts or forms")
	}
	if !strings.Contains(s, "Findings: 30 of 30") || !strings.Contains(s, "&lt;b&gt;x&lt;/b&gt;") {
		t.Error("report content missing or not escaped")
	}
	buf.Reset()
	ar := &apps.AppReport{AppScanSummary: apps.AppScanSummary{App: "shop", Index: 2, Verdict: "fail"}, Reasons: []string{"too many"},
		Sections: []apps.AppSection{{Image: r.Image, ScanIndex: 3, Report: r}, {Image: "gone:1", ScanIndex: 1, Error: "scan pruned"}}}
	if err := WriteAppReport(&buf, ar); err != nil {
		t.Fatal(err)
	}
	s = buf.String()
	for _, want := range []string{"Application shop, scan #2", "too many", "scan pruned", "Findings: 30 of 30", "<style>"} {
		if !strings.Contains(s, want) {
			t.Errorf("app report lacks %q", want)
		}
	}
}
