// Package web is lapps' console: server-rendered pages (html/template,
// no JavaScript) for people, served by `lapps serve` at /. It shows the
// apps × environments matrix, images with their findings, packages and
// scans, vulnerabilities and where they affect, the data sources and the
// scan jobs, and lets those whose token has the scope scan an image or
// re-run a source.
//
// The same templates and style sheet (package web/render) write the
// single-file HTML reports of `-o html` (WriteImageReport,
// WriteAppReport), so that a report looks like the console's image page.
//
// People sign in with a lapps token (see session for the cookie); scripts
// may send `Authorization: Bearer TOKEN` on every page instead. Every
// form carries a CSRF token and is refused (403) without it.
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/lapps/lapps/web/render"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// Scopes of lapps tokens the console checks (as package server names
// them).
const (
	ScopeRead   = "read"
	ScopeScan   = "scan"
	ScopeDeploy = "deploy"
	ScopeAdmin  = "admin"
)

// Job is a scan job as the console shows it.
type Job struct {
	ID         string
	Image      string
	State      string // queued, running, succeeded, failed
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	Stage      string
	Error      string
	// ScanIndex is the scan a succeeded job recorded (0 otherwise).
	ScanIndex int
}

// Backend is what the console reads and does, through the same services
// and store the JSON API uses. Package server implements it.
type Backend interface {
	// CheckToken returns the scopes of a token secret; ok is false for
	// an unknown or revoked token.
	CheckToken(ctx context.Context, secret string) (scopes []string, ok bool, err error)
	// CheckTokenHash is CheckToken by the token's stored hash
	// (sha256 of the secret), for sessions.
	CheckTokenHash(ctx context.Context, hash []byte) (scopes []string, ok bool, err error)
	// LatestScans returns the latest scan of every image (Counts filled,
	// no report), sorted by image.
	LatestScans(ctx context.Context) ([]service.ScanSummary, error)
	ListScans(ctx context.Context, image string) ([]service.ScanSummary, error)
	Report(ctx context.Context, image string, index int) (*report.Report, error)
	ManifestReport(ctx context.Context, digest string) (*report.Report, error)
	// ListApps returns the apps; none when the server serves no apps.
	ListApps(ctx context.Context) ([]apps.App, error)
	AppHistory(ctx context.Context, app string) ([]apps.Deployment, error)
	ListAppScans(ctx context.Context, app string) ([]apps.AppScanSummary, error)
	AppReport(ctx context.Context, app string, index int) (*apps.AppReport, error)
	Sources(ctx context.Context) ([]service.SourceStatus, error)
	UpdateSources(ctx context.Context, names []string) ([]service.SourceResult, error)
	// Scan queues a scan of image and returns its job's id.
	Scan(ctx context.Context, image string) (string, error)
	Job(ctx context.Context, id string) (*Job, error)
	PendingJobs(ctx context.Context) (int, error)
	// RecordsByID returns the current records of those ids.
	RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error)
	// ManifestsWithPackages returns the manifests holding a package of
	// kind named (or with a source package named) one of names.
	ManifestsWithPackages(ctx context.Context, kind string, names []string) ([]string, error)
	// ImagesOfManifest returns the images whose latest scan is of digest.
	ImagesOfManifest(ctx context.Context, digest string) ([]string, error)
	// UpdateOperations lists the stored data updates of a source, newest
	// first.
	UpdateOperations(ctx context.Context, source string) ([]store.UpdateOperation, error)
}

// Options configure a Console.
type Options struct {
	// Key signs session cookies; replicas behind one address need the
	// same key. Empty: a random key, valid in this process only.
	Key []byte
	// SessionTTL is how long a sign-in lasts (default DefaultSessionTTL).
	SessionTTL time.Duration
	// Anonymous is set when the server requires no token: the sign-in
	// page then signs in without one, with every scope.
	Anonymous bool
	// Allows reports whether a token with scopes may do what needs
	// scope; default: admin may everything, any scope reads.
	Allows func(scopes []string, scope string) bool
	Logger *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// DefaultSessionTTL is how long a sign-in lasts by default.
const DefaultSessionTTL = 8 * time.Hour

// Console serves the console's pages.
type Console struct {
	b    Backend
	o    Options
	mux  *http.ServeMux
	tmpl *render.Templates
}

// New returns the console over b.
func New(b Backend, o Options) (*Console, error) {
	if len(o.Key) == 0 {
		o.Key = make([]byte, 32)
		if _, err := rand.Read(o.Key); err != nil {
			return nil, err
		}
		if !o.Anonymous && o.Logger != nil {
			o.Logger.Info("console: no server.console.session_key: sessions are signed with a key of this process, and valid on this replica only until it restarts")
		}
	} else if len(o.Key) < 16 {
		return nil, errors.New("console session key shorter than 16 bytes")
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Allows == nil {
		o.Allows = allows
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	t, err := render.ParseTemplates()
	if err != nil {
		return nil, err
	}
	c := &Console{b: b, o: o, mux: http.NewServeMux(), tmpl: t}
	static, _ := fs.Sub(render.StaticFS, "static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	c.mux.HandleFunc("GET /signin", c.signinPage)
	c.mux.HandleFunc("POST /signin", c.signin)
	c.mux.HandleFunc("POST /signout", c.signout)
	handle := func(pattern string, scope string, h func(w http.ResponseWriter, r *http.Request, v *viewer)) {
		c.mux.Handle(pattern, c.auth(scope, h))
	}
	handle("GET /{$}", ScopeRead, c.overview)
	handle("GET /apps/{app}", ScopeRead, c.appPage)
	handle("GET /image", ScopeRead, c.imagePage)
	handle("GET /images", ScopeRead, c.imagesPage)
	handle("GET /vulns/{id}", ScopeRead, c.vulnPage)
	handle("GET /sources", ScopeRead, c.sourcesPage)
	handle("GET /jobs/{id}", ScopeRead, c.jobPage)
	handle("POST /scan", ScopeScan, c.scan)
	handle("POST /sources/run", ScopeAdmin, c.runSource)
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.error(w, r, nil, http.StatusNotFound, "No such page.")
	})
	return c, nil
}

// ServeHTTP serves a page with the console's security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No script may run, no style from elsewhere, no framing.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if len(r.URL.RawQuery) > maxQuery {
		c.error(w, r, nil, http.StatusRequestURITooLong, "The query is too long.")
		return
	}
	c.mux.ServeHTTP(w, r)
}

// maxQuery bounds a page's query string.
const maxQuery = 4096

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// viewer is who looks at a page.
type viewer struct {
	scopes []string
	// csrf is the token forms carry; empty for a Bearer caller.
	csrf   string
	bearer bool
	allows func([]string, string) bool
}

// Can reports whether the viewer may do what needs scope.
func (v *viewer) Can(scope string) bool { return v != nil && v.allows(v.scopes, scope) }

// CSRF is the token of the viewer's forms.
func (v *viewer) CSRF() string { return v.csrf }

func allows(scopes []string, scope string) bool {
	for _, s := range scopes {
		if s == ScopeAdmin || s == scope {
			return true
		}
	}
	return scope == ScopeRead && len(scopes) > 0
}

// auth serves h to a signed-in viewer (session cookie or bearer token)
// with scope; others are sent to /signin (GET) or refused.
func (c *Console) auth(scope string, h func(http.ResponseWriter, *http.Request, *viewer)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, status, msg := c.viewer(r)
		if v == nil {
			if status == http.StatusUnauthorized && r.Method == http.MethodGet && r.Header.Get("Authorization") == "" {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.error(w, r, nil, status, msg)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				c.error(w, r, v, http.StatusBadRequest, "The form could not be read.")
				return
			}
			// A bearer caller needs no CSRF token: browsers never send
			// an Authorization header of their own accord.
			if !v.bearer && !sameToken(r.PostForm.Get("csrf"), v.csrf) {
				c.error(w, r, v, http.StatusForbidden, "The form's CSRF token is missing or wrong: reload the page and try again.")
				return
			}
		}
		if !v.Can(scope) {
			c.error(w, r, v, http.StatusForbidden, fmt.Sprintf("Your token lacks the %s scope this needs.", scope))
			return
		}
		h(w, r, v)
	})
}

// maxForm bounds a form's body.
const maxForm = 16 << 10

// viewer finds who makes the request; nil with a status and message when
// no one valid.
func (c *Console) viewer(r *http.Request) (*viewer, int, string) {
	ctx := r.Context()
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || tok == "" || len(tok) > 512 {
			return nil, http.StatusUnauthorized, "The Authorization header must be Bearer TOKEN."
		}
		scopes, valid, err := c.b.CheckToken(ctx, tok)
		if err != nil {
			c.o.Logger.Error("console: check token", "err", err)
			return nil, http.StatusInternalServerError, "The token could not be checked."
		}
		if !valid {
			return nil, http.StatusUnauthorized, "Invalid or revoked token."
		}
		return &viewer{scopes: scopes, bearer: true, allows: c.o.Allows}, 0, ""
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, http.StatusUnauthorized, "Sign in first."
	}
	ses, err := decodeSession(c.o.Key, ck.Value, c.o.Now())
	if err != nil {
		return nil, http.StatusUnauthorized, "Your session has ended: sign in again."
	}
	var scopes []string
	switch {
	case ses.tokenHash == nil && c.o.Anonymous:
		scopes = []string{ScopeAdmin}
	case ses.tokenHash == nil:
		return nil, http.StatusUnauthorized, "Sign in with a token."
	default:
		sc, valid, err := c.b.CheckTokenHash(ctx, ses.tokenHash)
		if err != nil {
			c.o.Logger.Error("console: check session token", "err", err)
			return nil, http.StatusInternalServerError, "The session could not be checked."
		}
		if !valid {
			return nil, http.StatusUnauthorized, "The token of your session was revoked: sign in again."
		}
		scopes = sc
	}
	return &viewer{scopes: scopes, csrf: ses.csrf(c.o.Key), allows: c.o.Allows}, 0, ""
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.renderSignin(w, r, http.StatusOK, "")
}

func (c *Console) renderSignin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	pre := randomToken()
	setCookie(w, r, preCookie, pre, 15*time.Minute)
	c.render(w, r, status, "signin", &render.Page{Title: "Sign in", Data: signinData{Next: safeNext(r.FormValue("next")), CSRF: pre, Error: msg, Anonymous: c.o.Anonymous}})
}

type signinData struct {
	Next, CSRF, Error string
	Anonymous         bool
}

// safeNext keeps a post-sign-in target on this site: a path, never
// another origin ("//host", "/\host") or a scheme.
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.error(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	pre, err := r.Cookie(preCookie)
	if err != nil || !sameToken(r.PostForm.Get("csrf"), pre.Value) {
		c.error(w, r, nil, http.StatusForbidden, "The form's CSRF token is missing or wrong: reload the sign-in page and try again.")
		return
	}
	ses := session{expires: c.o.Now().Add(c.o.SessionTTL)}
	_, _ = rand.Read(ses.nonce[:])
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	switch {
	case tok == "" && c.o.Anonymous:
	case tok == "" || len(tok) > 512:
		c.renderSignin(w, r, http.StatusUnauthorized, "Enter a lapps token (lapps token create NAME --scope read).")
		return
	default:
		_, valid, err := c.b.CheckToken(r.Context(), tok)
		if err != nil {
			c.o.Logger.Error("console: sign in", "err", err)
			c.error(w, r, nil, http.StatusInternalServerError, "The token could not be checked.")
			return
		}
		if !valid {
			c.renderSignin(w, r, http.StatusUnauthorized, "This token is unknown or revoked.")
			return
		}
		h := sha256.Sum256([]byte(tok))
		ses.tokenHash = h[:]
	}
	setCookie(w, r, preCookie, "", 0)
	setCookie(w, r, sessionCookie, ses.encode(c.o.Key), c.o.SessionTTL)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	_ = r.ParseForm()
	v, _, _ := c.viewer(r)
	if v != nil && !v.bearer && !sameToken(r.PostForm.Get("csrf"), v.csrf) {
		c.error(w, r, v, http.StatusForbidden, "The form's CSRF token is missing or wrong: reload the page and try again.")
		return
	}
	setCookie(w, r, sessionCookie, "", 0)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
