// Package template writes image reports through a Go text/template: the
// format "template" (`-o template --template FILE`, or a shipped template
// by name: `--template @markdown`, `--template @gitlab`).
//
// The template sees the report exactly as `-o json` writes it: the JSON
// decoded into maps, slices, strings, float64 numbers and booleans, so its
// field names are the JSON's (`.image`, `range .vulnerabilities`,
// `.fixed_version`) and docs/report.md documents them all. An app report
// is given as its JSON (`.app`, `range .sections`, `.report`).
//
// The helpers are few and pure (no file, environment or network access):
// see Funcs. The output is bounded by MaxOutput, the template file by
// MaxTemplate.
package template

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/template"
	"time"

	"github.com/lapps/lapps/report"
)

// MediaType is the media type of template output: its content is the
// template's, so plain text.
const MediaType = "text/plain; charset=utf-8"

// Bounds.
const (
	// MaxTemplate bounds a template file's size.
	MaxTemplate = 1 << 20
	// MaxOutput bounds what a template may write.
	MaxOutput = 256 << 20
)

// ErrNoTemplate is the error of the registered format's writer, which has
// no template to run: callers run New(spec).Execute instead.
var ErrNoTemplate = errors.New("-o template needs --template FILE (or @markdown, @gitlab)")

//go:embed templates/*.tmpl
var shipped embed.FS

// Shipped names the shipped templates, for `--template @NAME`.
var Shipped = []string{"markdown", "gitlab"}

func init() {
	report.Register(report.Format{Name: "template", MediaType: MediaType, Write: func(io.Writer, *report.Report) error { return ErrNoTemplate }})
}

// Template is a parsed report template.
type Template struct {
	name string
	t    *template.Template
}

// Load parses the template spec names: "@NAME" for a shipped template, or
// a file's path (at most MaxTemplate bytes).
func Load(spec string) (*Template, error) {
	if n, ok := strings.CutPrefix(spec, "@"); ok {
		b, err := shipped.ReadFile("templates/" + n + ".tmpl")
		if err != nil {
			return nil, fmt.Errorf("--template %s: no such shipped template (one of @%s)", spec, strings.Join(Shipped, ", @"))
		}
		return Parse(spec, string(b))
	}
	f, err := os.Open(spec)
	if err != nil {
		return nil, fmt.Errorf("--template: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTemplate+1))
	if err != nil {
		return nil, fmt.Errorf("--template %s: %w", spec, err)
	}
	if len(b) > MaxTemplate {
		return nil, fmt.Errorf("--template %s: larger than %d bytes", spec, MaxTemplate)
	}
	return Parse(spec, string(b))
}

// Parse parses a template's text; its errors name the line (and column
// where text/template knows it): "template: FILE:3: unexpected …".
func Parse(name, text string) (*Template, error) {
	t, err := template.New(name).Option("missingkey=default").Funcs(Funcs()).Parse(text)
	if err != nil {
		return nil, err
	}
	return &Template{name: name, t: t}, nil
}

// Execute runs the template over v's JSON form (a *report.Report, an app
// report) and writes at most MaxOutput bytes to w.
func (t *Template) Execute(w io.Writer, v any) error {
	return t.ExecuteLimit(w, v, MaxOutput)
}

// ExecuteLimit is Execute with an output bound of max bytes.
func (t *Template) ExecuteLimit(w io.Writer, v any, max int64) (err error) {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("template: encoding the report: %w", err)
	}
	var data any
	if err := json.Unmarshal(b, &data); err != nil {
		return fmt.Errorf("template: decoding the report: %w", err)
	}
	lw := &limitWriter{w: w, left: max}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("template %s: %v", t.name, p)
		}
	}()
	if err := t.t.Execute(lw, data); err != nil {
		if lw.over {
			return fmt.Errorf("template %s: output larger than %d bytes", t.name, max)
		}
		return err
	}
	return nil
}

var errTooLarge = errors.New("output too large")

type limitWriter struct {
	w    io.Writer
	left int64
	over bool
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		l.over = true
		return 0, errTooLarge
	}
	l.left -= int64(len(p))
	return l.w.Write(p)
}

// Funcs are the helpers templates may call, all pure:
//
//	toJson v          v as JSON (a string becomes a quoted, escaped JSON string)
//	upper, lower s    case (the string helpers take a missing key as "")
//	title s           first letter upper case ("critical" → "Critical")
//	join sep list     the list's elements joined
//	replace old new s every old in s replaced by new
//	trim s            s without surrounding white space
//	trimSuffix suf s  s without the suffix suf
//	contains sub s, hasPrefix pre s
//	default d v       v, or d when v is empty (nil, "", 0, false, empty list)
//	truncate n s      s clipped to n runes, "…" marking the cut
//	mdEscape s        s safe in a Markdown table cell
//	sha256 s          s's SHA-256, hex
//	date layout s     an RFC 3339 time (as the JSON holds times) in Go's layout, UTC
//	len               text/template's own; also add a b, first n list
func Funcs() template.FuncMap {
	return template.FuncMap{
		"toJson": func(v any) (string, error) {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return "", err
			}
			return strings.TrimSuffix(b.String(), "\n"), nil
		},
		"upper": func(v any) string { return strings.ToUpper(str(v)) },
		"lower": func(v any) string { return strings.ToLower(str(v)) },
		"title": func(v any) string {
			s := str(v)
			if s == "" {
				return s
			}
			return strings.ToUpper(s[:1]) + s[1:]
		},
		"join": func(sep string, v any) string {
			var parts []string
			if l, ok := v.([]any); ok {
				for _, x := range l {
					parts = append(parts, fmt.Sprint(x))
				}
			}
			return strings.Join(parts, sep)
		},
		"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"trim":       func(v any) string { return strings.TrimSpace(str(v)) },
		"trimSuffix": func(suf, s string) string { return strings.TrimSuffix(s, suf) },
		"contains":   func(sub, s string) bool { return strings.Contains(s, sub) },
		"hasPrefix":  func(pre, s string) bool { return strings.HasPrefix(s, pre) },
		"default": func(d, v any) any {
			if empty(v) {
				return d
			}
			return v
		},
		"truncate": func(n int, v any) string {
			s := str(v)
			r := []rune(s)
			if n < 1 || len(r) <= n {
				return s
			}
			return string(r[:n-1]) + "…"
		},
		"mdEscape": func(v any) string { return mdEscaper.Replace(str(v)) },
		"sha256": func(s string) string {
			h := sha256.Sum256([]byte(s))
			return hex.EncodeToString(h[:])
		},
		"date": func(layout, s string) (string, error) {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return "", err
			}
			return t.UTC().Format(layout), nil
		},
		"add": func(a, b int) int { return a + b },
		"first": func(n int, v any) []any {
			l, _ := v.([]any)
			if n < len(l) && n >= 0 {
				return l[:n]
			}
			return l
		},
	}
}

var mdEscaper = strings.NewReplacer("|", "\\|", "\n", " ", "\r", "", "<", "&lt;", ">", "&gt;")

// str is v as text: "" for nil (a key the JSON does not hold).
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case int:
		return x == 0
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}
